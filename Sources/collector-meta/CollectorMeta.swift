import ArgumentParser
import Collectors
import Logging

/// Collects Meta Ads Insights into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorMeta: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-meta", abstract: "Collects Meta Ads Insights into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .meta(logger: logger) }
    @OptionGroup var options: CollectorOptions
}
