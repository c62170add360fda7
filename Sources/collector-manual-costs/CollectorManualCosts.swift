import ArgumentParser
import Collectors
import Logging

/// Collects manual costs (a CSV sheet) into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorManualCosts: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-manual-costs", abstract: "Collects manual costs (a CSV sheet) into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .manualCosts(logger: logger) }
    @OptionGroup var options: CollectorOptions
}
