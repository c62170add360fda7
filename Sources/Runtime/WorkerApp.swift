import AMQP
import Domain
import Logging
import Postgres
import ServiceLifecycle
import Settings

/// Assembles a worker process from configuration: the PostgreSQL pool, the publisher (dead
/// letters and outbox), the worker, the outbox relay and the health/metrics endpoint, in one
/// `ServiceGroup` that shuts down gracefully on SIGTERM/SIGINT.
///
/// Executables call `build` from a 15-line `@main`; tests call it with in-memory settings.
public struct WorkerApp: Sendable {
    public var settings: Settings
    public var worker: WorkerConfiguration
    public var handler: any BatchHandler
    /// Seconds SIGTERM gives the in-flight batch before the process is cancelled.
    public var shutdownTimeoutSeconds: Int
    /// Exchanges and queues that this process publishes to besides its own queue.
    public var publishTopology: AMQPTopology
    /// Long-running services of the process besides the consumer (deal-sync's pollers), given
    /// the shared pool; they stop before the consumer's clients close.
    public var companions: @Sendable (PGPool) -> [any Service]

    public init(
        settings: Settings, worker: WorkerConfiguration, handler: any BatchHandler, shutdownTimeoutSeconds: Int = 25,
        publishTopology: AMQPTopology = AMQPTopology(), companions: @escaping @Sendable (PGPool) -> [any Service] = { _ in [] }
    ) {
        self.companions = companions
        self.settings = settings
        self.worker = worker
        self.handler = handler
        self.shutdownTimeoutSeconds = shutdownTimeoutSeconds
        self.publishTopology = publishTopology
    }

    /// Builds the services.
    /// - Throws: `AMQPError(.usage)` for a bad `AMQP_URL`.
    public func build(logger: Logger) throws -> ServiceGroup {
        let amqp = try AMQPConfiguration(url: settings.amqpURL)
        let pool = PGPool(PGConfiguration(url: settings.databaseURL, applicationName: worker.name, poolSize: max(4, worker.concurrency + 2)), logger: logger)
        let readiness = Readiness()
        // A bounded wait for the broker: a publish that cannot be confirmed within 30 s fails, so
        // the relay releases its rows and the worker requeues a delivery it could not dead-letter.
        let publisher = AMQPPublisher(
            configuration: amqp, topology: worker.topology.merging(publishTopology), name: "publisher.\(worker.name)",
            settings: .init(giveUpAfterSeconds: 30), logger: logger)
        let consumers = (0..<worker.concurrency).map { loop in
            Worker(configuration: worker, handler: handler, pool: pool, amqp: amqp, publisher: publisher, readiness: readiness,
                   loop: worker.concurrency > 1 ? loop + 1 : nil, logger: logger)
        }
        let relay = OutboxRelay(pool: pool, publisher: publisher, logger: logger)
        let health = HealthServer.make(
            port: settings.httpPort, readiness: readiness, registry: Observability.registry, logger: logger)
        logger.info("starting", metadata: [
            "db.url": "\(Redaction.url(settings.databaseURL))", "amqp.url": "\(amqp.redactedURL)",
            "amqp.queue": "\(worker.queue)",
        ])
        var configuration = ServiceGroupConfiguration(
            // ServiceGroup shuts services down in reverse order, each after the previous one
            // finished: the consumer first (it completes its batch), then the relay, the health
            // endpoint, and last the shared clients.
            services: [
                .init(service: Closer(pool: pool, publisher: publisher)),
                .init(service: health),
                .init(service: relay),
                .init(service: StatisticsKeeper(pool: pool, tables: worker.analyzedTables, logger: logger)),
            ] + companions(pool).map { .init(service: $0) } + consumers.map {
                .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(shutdownTimeoutSeconds)
        return ServiceGroup(configuration: configuration)
    }
}

/// Closes the shared clients last, when the group shuts down.
struct Closer: Service {
    let pool: PGPool
    let publisher: AMQPPublisher

    func run() async throws {
        try? await gracefulShutdown()
        await publisher.close()
        await pool.close()
    }
}
