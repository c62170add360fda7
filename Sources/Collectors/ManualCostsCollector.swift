import Collection
import Logging
import ManualCosts
import Settings

extension CollectorApp {
    /// `collector-manual-costs`. Source options: `file` (the CSV path, required), `vat_included`
    /// (default for lines without a VAT column; `false`), `window_days` (366), plus the common
    /// ones. `account` defaults to `manual`.
    public static func manualCosts(logger: Logger) -> CollectorApp {
        CollectorApp(kind: "manual_costs", defaultUTMSource: "manual") { source, _, _ in
            guard let file = source.options["file"] else { throw SettingsError("source \(source.id): options.file is required") }
            let window = Int(source.options["window_days"] ?? "") ?? 366
            return ManualCostsSource(path: file, vatIncludedByDefault: source.options["vat_included"] == "true",
                                     refetchWindowDays: window, maxChunkDays: max(window, 366))
        }
    }
}
