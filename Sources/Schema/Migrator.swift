import Logging
import Postgres

/// Applies `Migration.all` in version order, each in its own transaction, recorded in
/// `runtime.schema_migrations`.
///
/// Safe when several replicas start at once: the whole run holds a PostgreSQL advisory lock, so
/// a second migrator waits, then finds everything applied. Needs nothing but a database.
public struct Migrator: Sendable {
    /// The advisory lock key all migrators share.
    public static let lockKey: Int64 = 0x736B_766F_7A6E_0001

    public let migrations: [Migration]
    private let logger: Logger

    public init(migrations: [Migration] = Migration.all, logger: Logger) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// An applied migration as recorded.
    public struct Applied: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let checksum: String
    }

    /// Applies what is missing; returns the migrations applied by this call.
    /// - Throws: `MigrationError` when an applied migration's file changed or the database has a
    ///   version this binary does not know; `PGError` from a failing migration (rolled back,
    ///   nothing of it recorded).
    @discardableResult
    public func migrate(on connection: PGConnection) async throws -> [Migration] {
        try await connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        do {
            let applied = try await migrateLocked(connection)
            try await connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey])
            throw error
        }
    }

    /// What is recorded as applied, in version order (empty on a fresh database).
    public func applied(on connection: PGConnection) async throws -> [Applied] {
        let exists = try await connection.query("SELECT to_regclass('runtime.schema_migrations') IS NOT NULL")
        guard try exists[0].decode(Bool.self, 0) else { return [] }
        return try await connection.query(
            "SELECT version, name, checksum FROM runtime.schema_migrations ORDER BY version"
        ).map { Applied(version: try $0.decode(Int.self, 0), name: try $0.decode(String.self, 1),
                        checksum: try $0.decode(String.self, 2)) }
    }

    private func migrateLocked(_ connection: PGConnection) async throws -> [Migration] {
        try await connection.simpleQuery("""
            CREATE SCHEMA IF NOT EXISTS runtime;
            CREATE TABLE IF NOT EXISTS runtime.schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """)
        let done = try await applied(on: connection)
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for record in done {
            guard let migration = known[record.version] else {
                throw MigrationError("the database has migration \(record.version) (\(record.name)), which this binary does not know: run a newer version")
            }
            guard migration.checksum == record.checksum else {
                throw MigrationError("migration \(record.version) (\(record.name)) was changed after it was applied (checksum \(record.checksum) in the database, \(migration.checksum) in this binary)")
            }
        }
        let doneVersions = Set(done.map(\.version))
        var appliedNow: [Migration] = []
        for migration in migrations where !doneVersions.contains(migration.version) {
            logger.info("applying migration", metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
            try await connection.withTransaction { tx in
                try await tx.simpleQuery(migration.sql)
                try await tx.query("INSERT INTO runtime.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                                   [migration.version, migration.name, migration.checksum])
            }
            appliedNow.append(migration)
        }
        return appliedNow
    }
}

/// A migration problem that needs an operator.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
