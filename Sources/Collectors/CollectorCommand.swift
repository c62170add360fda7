import ArgumentParser
import Logging
import Runtime
import Settings

/// The `@main` of every collector executable: parse the options, load the configuration, set
/// up logs and metrics, run the network's `CollectorApp`, exit 1 when any chunk failed.
public protocol CollectorCommand: AsyncParsableCommand {
    /// Builds the network's app.
    static func app(logger: Logger) -> CollectorApp
    var options: CollectorOptions { get }
}

extension CollectorCommand {
    public func run() async throws {
        let settings = try Settings.load(path: options.config)
        Observability.bootstrap(settings)
        let name = Self.configuration.commandName ?? "collector"
        let logger = Logger(label: name)
        let reports = try await Self.app(logger: logger).run(options, settings: settings, logger: logger)
        if reports.contains(where: { !$0.succeeded }) { throw ExitCode.failure }
    }
}
