import CLibPQ
import Foundation

/// Owns one completed `PGresult`.
///
/// `@unchecked Sendable` is safe: libpq treats a completed result as read-only, its accessors
/// (`PQgetvalue`, `PQnfields`, ...) do not mutate it, and `PQclear` runs only in `deinit`, when no
/// other reference exists.
final class PGResultBox: @unchecked Sendable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { PQclear(raw) }
}

/// The rows a statement returned, read lazily from libpq's result without copying.
public struct PGRows: Sendable, RandomAccessCollection {
    let box: PGResultBox?
    /// Column names, in order.
    public let columns: [String]
    /// Rows affected by an INSERT/UPDATE/DELETE/COPY (`PQcmdTuples`), 0 otherwise.
    public let affectedRows: Int
    /// The command tag (`INSERT 0 5`, `COMMIT`, `ROLLBACK`, ...).
    public let commandTag: String
    let statement: String

    init(box: PGResultBox?, statement: String) {
        self.box = box
        self.statement = statement
        guard let raw = box?.raw else {
            columns = []
            affectedRows = 0
            commandTag = ""
            return
        }
        commandTag = String(cString: PQcmdStatus(raw))
        columns = (0..<PQnfields(raw)).map { String(cString: PQfname(raw, $0)) }
        affectedRows = Int(String(cString: PQcmdTuples(raw))) ?? 0
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { box.map { Int(PQntuples($0.raw)) } ?? 0 }
    public subscript(position: Int) -> PGRow { PGRow(rows: self, index: position) }

    func columnIndex(_ name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PGError(.decoding, "no column named \(name) (columns: \(columns.joined(separator: ", ")))",
                          statement: statement)
        }
        return index
    }
}

/// One row of a result.
public struct PGRow: Sendable {
    let rows: PGRows
    let index: Int

    /// The raw text of a column, nil for SQL NULL.
    public func text(_ column: Int) -> String? {
        guard let raw = rows.box?.raw else { return nil }
        let row = Int32(index)
        let col = Int32(column)
        if PQgetisnull(raw, row, col) == 1 { return nil }
        return String(cString: PQgetvalue(raw, row, col))
    }

    /// Decodes column `column` (by position); throws for NULL or an invalid value.
    public func decode<T: PGDecodable>(_ type: T.Type = T.self, _ column: Int) throws -> T {
        guard let text = text(column) else {
            throw PGError(.decoding, "column \(rows.columns[column]) is NULL, expected \(T.self)",
                          statement: rows.statement)
        }
        guard let value = T(pgText: text) else {
            throw PGError(.decoding, "column \(rows.columns[column]): cannot read \(T.self) from '\(text.prefix(80))'",
                          statement: rows.statement)
        }
        return value
    }

    /// Decodes a nullable column (by position).
    public func decode<T: PGDecodable>(_ type: T?.Type, _ column: Int) throws -> T? {
        guard text(column) != nil else { return nil }
        return try decode(T.self, column)
    }

    /// Decodes column `name`; throws for NULL or an invalid value.
    public func decode<T: PGDecodable>(_ type: T.Type = T.self, _ name: String) throws -> T {
        try decode(T.self, try rows.columnIndex(name))
    }

    /// Decodes a nullable column by name.
    public func decode<T: PGDecodable>(_ type: T?.Type, _ name: String) throws -> T? {
        try decode(T?.self, try rows.columnIndex(name))
    }
}
