import ArgumentParser
import Collectors
import Logging

/// Collects Google Ads statistics into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorGoogleAds: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-google-ads", abstract: "Collects Google Ads statistics into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .googleAds(logger: logger) }
    @OptionGroup var options: CollectorOptions
}
