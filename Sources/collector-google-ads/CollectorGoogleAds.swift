import ArgumentParser
import Collectors
import Logging
import Runtime
import Settings

/// Collects Google Ads spend for one project (a scheduler runs it; exits non-zero on failure).
@main struct CollectorGoogleAds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collector-google-ads",
                                                    abstract: "Collect Google Ads statistics into spend.facts.")
    @OptionGroup var options: CollectorOptions

    func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let logger = Logger(label: "collector-google-ads")
        let reports = try await CollectorApp.googleAds(logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
