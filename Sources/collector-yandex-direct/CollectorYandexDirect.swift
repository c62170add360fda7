import ArgumentParser
import Collectors
import Logging

/// Collects Yandex Direct statistics into spend.facts (a scheduler runs it; exits 1 when any chunk failed).
@main struct CollectorYandexDirect: CollectorCommand {
    static let configuration = CommandConfiguration(commandName: "collector-yandex-direct", abstract: "Collects Yandex Direct statistics into spend.facts.")
    static func app(logger: Logger) -> CollectorApp { .yandexDirect(logger: logger) }
    @OptionGroup var options: CollectorOptions
}
