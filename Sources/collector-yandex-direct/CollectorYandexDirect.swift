import ArgumentParser
import Collectors
import Logging
import Runtime
import Settings

/// Collects Yandex Direct spend for one project (a scheduler runs it; exits non-zero on failure).
@main struct CollectorYandexDirect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collector-yandex-direct",
                                                    abstract: "Collect Yandex Direct statistics into spend.facts.")
    @OptionGroup var options: CollectorOptions

    func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let logger = Logger(label: "collector-yandex-direct")
        let reports = try await CollectorApp.yandexDirect(logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
