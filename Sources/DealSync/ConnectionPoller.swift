import Domain
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle

/// Keeps one CRM connection in sync for as long as deal-sync runs: the catalog and an incremental
/// poll every `pollSeconds` (the first one is the full sync), a reconciliation every
/// `reconcileMinutes`. Of N replicas, the one holding the connection's advisory lock polls; the
/// others wait to take over (webhooks are consumed by all of them).
public struct ConnectionPoller: Service {
    let connection: CRMConnection
    let databaseURL: String
    let logger: Logger
    let unknownStages: Gauge
    let failures: Counter

    public init(connection: CRMConnection, databaseURL: String, logger: Logger) {
        self.connection = connection
        self.databaseURL = databaseURL
        var logger = logger
        logger[metadataKey: "crm.connection"] = "\(connection.project)/\(connection.id)"
        self.logger = logger
        let dimensions = [("project", connection.project), ("connection", connection.id)]
        unknownStages = Gauge(label: "dealsync_unknown_stage_deals", dimensions: dimensions)
        failures = Counter(label: "dealsync_poll_failures_total", dimensions: dimensions)
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            var attempt = 0
            while !Task.isCancelled {
                do {
                    try await holdLockAndPoll()
                    attempt = 0
                } catch is CancellationError {
                    return
                } catch {
                    attempt += 1
                    failures.increment()
                    logger.error("deal sync failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                    try await Backoff(initial: 1, maximum: 60).sleep(attempt: attempt)
                }
            }
        }
    }

    /// Takes the connection's advisory lock on a session of its own (waiting while another
    /// replica has it), then polls until cancelled.
    private func holdLockAndPoll() async throws {
        let session = try await PGConnection.connect(PGConfiguration(url: databaseURL, applicationName: "deal-sync-lock"), logger: logger)
        do {
            let key = "deal-sync:\(connection.project):\(connection.id)"
            while try await !session.query("SELECT pg_try_advisory_lock(hashtext($1))", [key])[0].decode(Bool.self, 0) {
                try await Task.sleep(for: .seconds(max(1, min(connection.pollSeconds, 30))))
            }
            logger.info("polling this connection")
            try await pollLoop(session: session)
        } catch {
            await session.close()
            throw error
        }
        await session.close()
    }

    private func pollLoop(session: PGConnection) async throws {
        let engine = connection.engine
        var reconciled = try await engine.pool.withConnection { try await engine.store.state(on: $0) }.reconciledAt
        // The catalog is read at start, every `catalogMinutes`, and by the engine whenever a deal
        // sits in a stage it does not list — not on every poll (amoCRM asks integrations not to
        // re-read unchanged data).
        var catalog = try await engine.syncCatalog()
        var catalogRead = Date()
        while !Task.isCancelled {
            if Date().timeIntervalSince(catalogRead) >= connection.catalogMinutes * 60 {
                catalog = try await engine.syncCatalog()
                catalogRead = Date()
            }
            let outcome = try await engine.poll(catalog: catalog)
            if let fresh = outcome.catalog {
                catalog = fresh
                catalogRead = Date()
            }
            if outcome.written > 0 || !outcome.problems.isEmpty {
                logger.info("deals synced", metadata: ["written": "\(outcome.written)", "problems": "\(outcome.problems.count)"])
            }
            if reconciled == nil {
                // The first (full) sync read every deal: nothing stored before it can be missing yet.
                try await engine.pool.withTransaction { try await engine.store.advance(reconciled: true, on: $0) }
                reconciled = Date()
            } else if let last = reconciled, Date().timeIntervalSince(last) >= connection.reconcileMinutes * 60 {
                let result = try await engine.reconcile(catalog: catalog)
                if let fresh = result.catalog { catalog = fresh }
                reconciled = Date()
                logger.info("reconciled", metadata: ["deals": "\(result.written)", "deleted": "\(result.deleted)"])
            }
            unknownStages.record(try await engine.pool.query(
                "SELECT count(*) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND status = 'unknown' AND NOT is_deleted",
                [connection.project, connection.id])[0].decode(Int.self, 0))
            // The lock session must stay alive; a dead one means another replica may poll now.
            _ = try await session.query("SELECT 1")
            try await Task.sleep(for: .milliseconds(Int64(connection.pollSeconds * 1000)))
        }
    }
}
