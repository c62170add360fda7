import ArgumentParser
import Collectors
import Logging

/// Collects myTarget statistics into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorMyTarget: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-mytarget", abstract: "Collects myTarget statistics into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .vkAds(flavor: .myTarget, logger: logger) }
    @OptionGroup var options: CollectorOptions
}
