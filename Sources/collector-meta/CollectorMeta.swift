import ArgumentParser
import Collectors
import Logging
import Runtime
import Settings

/// Collects Meta spend for one project (a scheduler runs it; exits non-zero on failure).
@main struct CollectorMeta: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collector-meta",
                                                    abstract: "Collect Meta Ads Insights into spend.facts.")
    @OptionGroup var options: CollectorOptions

    func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let logger = Logger(label: "collector-meta")
        let reports = try await CollectorApp.meta(logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
