import AMQP
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle
import Settings

/// The deal-sync process: a poller per CRM connection and the consumer of `crm.webhook`
/// messages, in one service group that shuts down gracefully.
public enum DealSyncApp {
    /// Builds the services from configuration.
    /// - Throws: `SettingsError` for a CRM connection that cannot be built.
    public static func build(settings: Settings, logger: Logger, worker: WorkerConfiguration? = nil) throws -> ServiceGroup {
        let pool = PGPool(PGConfiguration(url: settings.databaseURL, applicationName: "deal-sync", poolSize: 4), logger: logger)
        let connections = try CRMConnection.all(in: settings, pool: pool, logger: logger)
        if connections.isEmpty { logger.warning("no amocrm or bitrix24 source is configured; only webhooks would be consumed") }
        let consumer = worker ?? WorkerConfiguration(
            name: "deal-sync", queue: ClusterTopology.dealSyncQueue, topology: ClusterTopology.all, prefetch: 100, batchSize: 50,
            // A webhook is one deal someone is looking at: apply it at once rather than gather a batch.
            batchLinger: 0.002,
            // A first full sync writes 100,000 deals in minutes: keep the planner's statistics
            // of what it writes current for the identity resolver and the aggregator reading them.
            analyzedTables: ["crm.deals", "crm.contacts", "crm.payments", "crm.stage_changes", "crm.deal_products"])
        let app = WorkerApp(settings: settings, worker: consumer, handler: WebhookHandler(connections: connections),
                            publishTopology: ClusterTopology.all) { _ in
            [PoolCloser(pool: pool)] + connections.map { ConnectionPoller(connection: $0, databaseURL: settings.databaseURL, logger: logger) }
        }
        return try app.build(logger: logger)
    }
}

/// Closes deal-sync's own pool when the group shuts down (after the pollers stopped).
struct PoolCloser: Service {
    let pool: PGPool
    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }
}
