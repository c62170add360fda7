import ArgumentParser
import Foundation
import Logging
import Runtime
import Settings
import Tracker

/// tracker: the HTTP endpoint websites, call tracking and CRMs post to (contracts.md §1).
@main
struct TrackerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tracker", abstract: "Accept visits, leads, bulk events and CRM webhooks over HTTP.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
    @Option(help: "Listening address.") var host = "0.0.0.0"
    @Option(help: "API port (default: $TRACKER_PORT or 8080).") var port: Int?

    func run() async throws {
        let settings = try Settings.load(path: config)
        Observability.bootstrap(settings)
        let port = port ?? Int(ProcessInfo.processInfo.environment["TRACKER_PORT"] ?? "") ?? 8080
        let logger = Logger(label: "tracker")
        try await TrackerApp.build(settings: settings, host: host, port: port, logger: logger) { bound in
            logger.info("tracker listening", metadata: ["port": "\(bound)"])
        }.run()
    }
}
