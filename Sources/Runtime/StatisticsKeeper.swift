import Logging
import Postgres
import ServiceLifecycle

/// Keeps the planner's statistics of fast-growing tables current.
///
/// A worker's lookups by key (`request_id = ANY($2)`, a visit's client id) are index probes only
/// while the planner knows how big the table is. Autovacuum analyzes a table after 10% of it
/// changed, but looks at most once a minute (`autovacuum_naptime`), so a new install's first
/// backfill — a million visits into empty tables within a minute — is planned as if the tables
/// held a few hundred rows: whole-table scans per lookup, and every batch slower than the last.
/// This service checks the tables every `interval` seconds and runs `ANALYZE` on one that has
/// changed by more than `changedShare` of its rows (and at least `minimumChanged` rows) since
/// it was last analyzed. Any number of replicas may run it: a transaction-level advisory lock
/// per table lets one of them analyze while the others skip.
public struct StatisticsKeeper: Service {
    public let tables: [String]
    public var interval: Double
    public var changedShare: Double
    public var minimumChanged: Int
    private let pool: PGPool
    private let logger: Logger

    /// - Parameter tables: `schema.table` names.
    public init(pool: PGPool, tables: [String], interval: Double = 5, changedShare: Double = 1.0, minimumChanged: Int = 1000, logger: Logger) {
        self.pool = pool
        self.tables = tables
        self.interval = interval
        self.changedShare = changedShare
        self.minimumChanged = minimumChanged
        self.logger = logger
    }

    public func run() async throws {
        // A service that returns ends its ServiceGroup: with nothing to watch, wait for shutdown.
        guard !tables.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        let stop = StopSignal()
        await withGracefulShutdownHandler {
            while !stop.isSet && !Task.isCancelled {
                await stop.sleep(seconds: interval)
                if stop.isSet { break }
                do {
                    try await checkOnce()
                } catch {
                    logger.warning("cannot check table statistics", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            stop.set()
        }
    }

    /// Analyzes every table over the threshold now; returns the tables analyzed.
    @discardableResult
    public func checkOnce() async throws -> [String] {
        let rows = try await pool.query("""
            SELECT s.schemaname || '.' || s.relname, s.n_mod_since_analyze, greatest(c.reltuples, 0)::int8
            FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
            WHERE s.schemaname || '.' || s.relname = ANY($1)
            """, [tables])
        var analyzed: [String] = []
        for row in rows {
            let (table, changed, known) = (try row.decode(String.self, 0), try row.decode(Int.self, 1), try row.decode(Int.self, 2))
            guard changed >= minimumChanged, Double(changed) > changedShare * Double(known) else { continue }
            let done = try await pool.withTransaction { connection in
                let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 19))", ["analyze:" + table])
                guard try locked[0].decode(Bool.self, 0) else { return false }
                try await connection.simpleQuery("ANALYZE \(try PGIdentifier.quote(table))")
                return true
            }
            if done {
                analyzed.append(table)
                logger.debug("analyzed", metadata: ["table": "\(table)", "changed": "\(changed)", "rows.known": "\(known)"])
            }
        }
        return analyzed
    }
}
