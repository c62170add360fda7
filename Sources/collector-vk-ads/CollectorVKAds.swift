import ArgumentParser
import Collectors
import VKAds
import Logging
import Runtime
import Settings

/// Collects VK Ads spend for one project (a scheduler runs it; exits non-zero on failure).
@main struct CollectorVKAds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "collector-vk-ads",
                                                    abstract: "Collect VK Ads statistics into spend.facts.")
    @OptionGroup var options: CollectorOptions

    func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let logger = Logger(label: "collector-vk-ads")
        let reports = try await CollectorApp.vkAds(flavor: .vkAds, logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
