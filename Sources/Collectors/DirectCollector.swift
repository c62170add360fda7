import Collection
import Settings
import YandexDirect
import Logging

extension CollectorApp {
    /// `collector-yandex-direct`. Source options: `client_login` (agency accounts),
    /// `include_vat` (`false` by default: ask Direct for VAT-free costs), `window_days` (7),
    /// `chunk_days` (31), `links` (`off` skips reading ads and ad groups), plus the common ones (see `accounts(of:project:)`). Credential: `token`.
    public static func yandexDirect(logger: Logger) -> CollectorApp {
        CollectorApp(kind: "yandex_direct", defaultUTMSource: AdNetworks.defaultUTMSource(kind: "yandex_direct", otherwise: "yandex")) { source, _, _ in
            guard let token = source.credentials["token"] else {
                throw SettingsError("source \(source.id): credentials.token is required")
            }
            let client = DirectReportsClient(configuration: .init(
                baseURL: source.baseURL ?? "https://api.direct.yandex.com", token: try token.resolve(),
                clientLogin: source.options["client_login"], includeVAT: source.options["include_vat"] == "true",
                defaultRetryIn: Double(source.options["default_retry_in"] ?? "") ?? 10,
                backoff: Double(source.options["backoff_seconds"] ?? "") ?? 1), logger: logger)
            return DirectSpendSource(
                client: client, refetchWindowDays: Int(source.options["window_days"] ?? "") ?? 7,
                maxChunkDays: Int(source.options["chunk_days"] ?? "") ?? 31, linkLookup: source.options["links"] != "off")
        }
    }
}
