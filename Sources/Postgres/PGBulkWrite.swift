import Foundation
import Synchronization

/// A bulk write: rows are COPYed into a temporary staging table, then moved into the target
/// table with one set-based statement. Every bulk write in the project goes through this.
///
/// Modes:
/// - `upsert`: `INSERT … ON CONFLICT (key) DO UPDATE` — re-sending rows replaces them.
/// - `insertNew`: `INSERT … ON CONFLICT (key) DO NOTHING` — re-sending rows changes nothing.
///   Rows usually are new, so it first COPYs straight into the target under a savepoint (no
///   staging table, no second pass over the rows); only when that meets an existing key
///   (SQLSTATE 23505) does it roll back to the savepoint and take the staging path — so the
///   `rows` closure may run twice and must write the same rows each time. The fallback inserts
///   in key order; a writer that may race another over the same keys sends its rows in that
///   order too (bytewise for `COLLATE "C"` keys), so concurrent writers wait for each other
///   instead of deadlocking.
/// - `replace`: deletes the target rows inside a key range, then inserts the staged rows —
///   re-fetching a range (say, a collector's project × source × account × days) replaces it
///   exactly, and revised figures replace old ones. Staged rows outside the range are refused, so
///   a replace can never leave two copies of one row.
///
/// Must run inside a transaction (`PGPool.withTransaction`): the staging table is dropped at
/// commit, and the delete + insert of `replace` must commit together.
public struct PGBulkWrite: Sendable {
    public enum Mode: Sendable {
        case upsert(key: [String], update: [String])
        /// Upsert that leaves a stored row alone when its `version` column is newer than the
        /// staged one (an older snapshot arriving late never overwrites a newer one).
        case upsertUnlessNewer(key: [String], update: [String], version: String)
        case insertNew(key: [String])
        case replace(range: PGRange)
    }

    /// The target table, `schema.table`.
    public var table: String
    /// The columns the rows carry, in order.
    public var columns: [String]
    public var mode: Mode
    /// How the rows travel (binary: each field in its column's binary form, see `PGCopyFormat`).
    public var format: PGCopyFormat

    public init(table: String, columns: [String], mode: Mode, format: PGCopyFormat = .text) {
        self.table = table
        self.columns = columns
        self.mode = mode
        self.format = format
    }
}

/// A key range of a table: a boolean SQL condition over its columns with `$n` parameters, e.g.
/// `project_id = $1 AND source = $2 AND day BETWEEN $3 AND $4`.
public struct PGRange: Sendable {
    public var condition: String
    public var parameters: [(any PGEncodable)?]

    public init(_ condition: String, _ parameters: [(any PGEncodable)?]) {
        self.condition = condition
        self.parameters = parameters
    }
}

/// What a bulk write did.
public struct PGBulkWriteResult: Sendable, Equatable {
    /// Rows staged (sent by COPY).
    public var staged: Int
    /// Rows deleted from the range (`replace` only).
    public var deleted: Int
    /// Rows inserted or updated in the target.
    public var written: Int

    public init(staged: Int, deleted: Int, written: Int) {
        self.staged = staged
        self.deleted = deleted
        self.written = written
    }
}

private let stagingCounter = Atomic<Int>(0)

extension PGConnection {
    /// Performs a bulk write; see `PGBulkWrite`. Call inside a transaction.
    ///
    /// - Parameters:
    ///   - spec: target table, columns and mode.
    ///   - rows: writes the rows, one `endRow()` each, fields in `spec.columns` order.
    /// - Throws: `PGError(.usage)` outside a transaction or when `replace` gets rows outside its
    ///   range; any server error (constraint, type) with its SQLSTATE.
    @discardableResult
    public func bulkWrite(_ spec: PGBulkWrite, rows: @escaping @Sendable (PGCopyWriter) throws -> Void)
        async throws -> PGBulkWriteResult
    {
        guard try await transactionStatus() == .inTransaction else {
            throw PGError(.usage, "bulkWrite into \(spec.table) must run inside a transaction")
        }
        let target = try PGIdentifier.quote(spec.table)
        let columns = try PGIdentifier.list(spec.columns)
        if case .insertNew = spec.mode {
            try await simpleQuery("SAVEPOINT bulk_insert_new")
            do {
                let copied = try await copyIn("COPY \(target) (\(columns)) FROM STDIN", format: spec.format, write: rows)
                try await simpleQuery("RELEASE SAVEPOINT bulk_insert_new")
                return PGBulkWriteResult(staged: copied, deleted: 0, written: copied)
            } catch let error as PGError where error.sqlState == "23505" {
                // Some rows exist already: undo the direct copy, then insert only the new ones.
                try await simpleQuery("ROLLBACK TO SAVEPOINT bulk_insert_new")
                try await simpleQuery("RELEASE SAVEPOINT bulk_insert_new")
            }
        }
        let staging = "pg_temp.\"bulk_stage_\(stagingCounter.add(1, ordering: .relaxed).newValue)\""
        try await simpleQuery(
            "CREATE TEMPORARY TABLE \(staging) ON COMMIT DROP AS SELECT \(columns) FROM \(target) WITH NO DATA")
        let staged = try await copyIn("COPY \(staging) (\(columns)) FROM STDIN", format: spec.format, write: rows)

        var deleted = 0
        let insert = "INSERT INTO \(target) (\(columns)) SELECT \(columns) FROM \(staging)"
        let sql: String
        switch spec.mode {
        // Rows go in in key order: two transactions writing overlapping keys then take their
        // row locks in the same order and one waits for the other — in any other order each can
        // hold a key the other needs (a deadlock, seen with two identity-resolver replicas).
        case .upsert(let key, let update):
            let keyList = try PGIdentifier.list(key)
            if update.isEmpty {
                sql = insert + " ORDER BY \(keyList) ON CONFLICT (\(keyList)) DO NOTHING"
            } else {
                let assignments = try update.map { "\(try PGIdentifier.quote($0)) = EXCLUDED.\(try PGIdentifier.quote($0))" }
                sql = insert + " ORDER BY \(keyList) ON CONFLICT (\(keyList)) DO UPDATE SET " + assignments.joined(separator: ", ")
            }
        case .upsertUnlessNewer(let key, let update, let version):
            let assignments = try update.map { "\(try PGIdentifier.quote($0)) = EXCLUDED.\(try PGIdentifier.quote($0))" }
            let column = try PGIdentifier.quote(version)
            let keyList = try PGIdentifier.list(key)
            sql = insert + " ORDER BY \(keyList) ON CONFLICT (\(keyList)) DO UPDATE SET " + assignments.joined(separator: ", ")
                + " WHERE \(target).\(column) <= EXCLUDED.\(column)"
        case .insertNew(let key):
            let keyList = try PGIdentifier.list(key)
            sql = insert + " ORDER BY \(keyList) ON CONFLICT (\(keyList)) DO NOTHING"
        case .replace(let range):
            let outside = try await query(
                "SELECT count(*) FROM \(staging) WHERE NOT (\(range.condition)) OR (\(range.condition)) IS NULL",
                range.parameters)
            let strays = try outside[0].decode(Int.self, 0)
            if strays > 0 {
                throw PGError(.usage, "\(strays) of \(staged) rows for \(spec.table) lie outside the replaced range (\(range.condition))")
            }
            deleted = try await execute("DELETE FROM \(target) WHERE \(range.condition)", range.parameters)
            sql = insert
        }
        let written = try await execute(sql)
        try await simpleQuery("DROP TABLE \(staging)")
        return PGBulkWriteResult(staged: staged, deleted: deleted, written: written)
    }
}
