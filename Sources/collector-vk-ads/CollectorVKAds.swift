import ArgumentParser
import Collectors
import Logging

/// Collects VK Ads statistics into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorVKAds: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-vk-ads", abstract: "Collects VK Ads statistics into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .vkAds(flavor: .vkAds, logger: logger) }
    @OptionGroup var options: CollectorOptions
}
