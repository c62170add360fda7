import ArgumentParser
import Collectors
import Logging
import Runtime
import Settings

/// Collects manual costs for one project (a scheduler runs it; exits non-zero on failure).
@main struct CollectorManualCosts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collector-manual-costs",
                                                    abstract: "Collect manual costs (a CSV sheet) into spend.facts.")
    @OptionGroup var options: CollectorOptions

    func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let logger = Logger(label: "collector-manual-costs")
        let reports = try await CollectorApp.manualCosts(logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
