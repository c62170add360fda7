import ArgumentParser
import DealSync
import Logging
import Runtime
import Settings

/// deal-sync: keeps every configured amoCRM / Bitrix24 connection's deals in PostgreSQL (see
/// docs/deal-sync.md). Runs until SIGTERM.
@main
struct DealSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deal-sync", abstract: "Sync CRM deals, stages, contacts, managers and payments; apply CRM webhooks.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

    func run() async throws {
        let settings = try Settings.load(path: config)
        Observability.bootstrap(settings)
        try await DealSyncApp.build(settings: settings, logger: Logger(label: "deal-sync")).run()
    }
}
