import CLibPQ
import Domain
import Foundation

/// The wire format of a COPY.
public enum PGCopyFormat: Sendable {
    /// Tab-separated text: any column type takes its text form.
    case text
    /// PostgreSQL's binary tuples: no escaping and no parsing of numbers and times on either
    /// side, but each field must be written in its column's own binary form — `field(String?)`
    /// for text columns only, `field(Int64)` for `int8`, `field(Bool)` for `boolean`,
    /// `field(microseconds:)` for `timestamptz`.
    case binary
}

/// Writes rows in COPY's text or binary format into a buffer that is sent to the server in
/// 1 MiB chunks.
///
/// Used inside `PGConnection.copyIn`; one row is a sequence of `field` calls closed by `endRow()`.
/// Text: escapes backslash, tab, newline and carriage return; `nil` is `\N` (NULL).
public final class PGCopyWriter {
    // Written only from the one thread running the COPY: no dynamic exclusivity checks on
    // every appended byte.
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    /// Binary: where the current row's field count goes.
    private var rowStart = 0
    private let flushThreshold: Int
    private let sink: ([UInt8]) throws -> Void
    public let format: PGCopyFormat
    /// Rows completed so far.
    public private(set) var rows = 0

    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    init(format: PGCopyFormat = .text, flushThreshold: Int = 1 << 20, sink: @escaping ([UInt8]) throws -> Void) {
        self.format = format
        self.flushThreshold = flushThreshold
        self.sink = sink
        buffer.reserveCapacity(flushThreshold + 4096)
        if format == .binary {
            // Signature, flags (no OIDs), header extension length.
            buffer.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
            append32(0)
            append32(0)
        }
    }

    private func append32(_ value: Int32) {
        let bits = UInt32(bitPattern: value)
        buffer.append(UInt8(truncatingIfNeeded: bits >> 24))
        buffer.append(UInt8(truncatingIfNeeded: bits >> 16))
        buffer.append(UInt8(truncatingIfNeeded: bits >> 8))
        buffer.append(UInt8(truncatingIfNeeded: bits))
    }

    private func append64(_ value: Int64) {
        let bits = UInt64(bitPattern: value)
        for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    private func separator() {
        if format == .binary {
            if fieldsInRow == 0 {
                rowStart = buffer.count
                buffer.append(0)
                buffer.append(0)
            }
        } else if fieldsInRow > 0 {
            buffer.append(9)
        }
        fieldsInRow += 1
    }

    private func null() {
        if format == .binary {
            append32(-1)
        } else {
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(UInt8(ascii: "N"))
        }
    }

    /// Appends a text field (nil = NULL).
    public func field(_ value: String?) {
        separator()
        guard var value else { return null() }
        value.withUTF8 { bytes in
            if format == .binary {
                append32(Int32(bytes.count))
                buffer.append(contentsOf: bytes)
                return
            }
            // Runs without special bytes are copied whole; only \\, tab, LF and CR are escaped.
            var start = 0
            for index in 0..<bytes.count {
                let escaped: UInt8
                switch bytes[index] {
                case UInt8(ascii: "\\"): escaped = 92
                case 9: escaped = UInt8(ascii: "t")
                case 10: escaped = UInt8(ascii: "n")
                case 13: escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                buffer.append(92)
                buffer.append(escaped)
                start = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// Appends an integer field without going through a String (binary: an `int8` column).
    public func field(_ value: Int64) {
        separator()
        if format == .binary {
            append32(8)
            append64(value)
            return
        }
        appendDigits(value)
    }

    private func appendDigits(_ value: Int64) {
        if value == 0 { buffer.append(48); return }
        var magnitude = value.magnitude
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while magnitude > 0 {
                raw[count] = UInt8(48 + magnitude % 10)
                magnitude /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
        }
    }

    /// Appends a `boolean` field.
    public func field(_ value: Bool) {
        separator()
        if format == .binary {
            append32(1)
            buffer.append(value ? 1 : 0)
        } else {
            buffer.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        }
    }

    /// Appends a `timestamptz` field: microseconds since 1970-01-01 UTC (nil = NULL). Text
    /// writes `YYYY-MM-DD HH:MM:SS.ffffff+00`, exact to the microsecond.
    public func field(microseconds value: Int64?) {
        separator()
        guard let value else { return null() }
        if format == .binary {
            append32(8)
            append64(value - Self.postgresEpochMicros)
            return
        }
        let microsPerDay: Int64 = 86_400_000_000
        let days = value >= 0 ? value / microsPerDay : -((-(value + 1)) / microsPerDay) - 1
        let micros = value - days * microsPerDay
        let (year, month, day) = Timestamp.civil(fromDays: days)
        func two(_ number: Int64) {
            buffer.append(UInt8(48 + number / 10))
            buffer.append(UInt8(48 + number % 10))
        }
        if year < 1000 || year > 9999 {
            appendDigits(year)
        } else {
            two(year / 100)
            two(year % 100)
        }
        buffer.append(UInt8(ascii: "-")); two(month)
        buffer.append(UInt8(ascii: "-")); two(day)
        buffer.append(UInt8(ascii: " ")); two(micros / 3_600_000_000)
        buffer.append(UInt8(ascii: ":")); two(micros / 60_000_000 % 60)
        buffer.append(UInt8(ascii: ":")); two(micros / 1_000_000 % 60)
        buffer.append(UInt8(ascii: "."))
        let fraction = micros % 1_000_000
        two(fraction / 10_000); two(fraction / 100 % 100); two(fraction % 100)
        buffer.append(contentsOf: [UInt8(ascii: "+"), UInt8(ascii: "0"), UInt8(ascii: "0")])
    }

    /// Appends an integer field.
    public func field(_ value: Int) { field(Int64(value)) }
    /// Appends a nullable integer field.
    public func field(_ value: Int64?) { if let value { field(value) } else { field(nil as String?) } }
    /// Appends any encodable value (nil = NULL) in its text form (binary: text columns only).
    public func field(_ value: (any PGEncodable)?) { field(value?.pgText) }

    /// Ends the current row; sends the buffer when it has grown past the threshold.
    public func endRow() throws {
        precondition(fieldsInRow > 0, "a COPY row needs at least one field")
        if format == .binary {
            buffer[rowStart] = UInt8(truncatingIfNeeded: fieldsInRow >> 8)
            buffer[rowStart + 1] = UInt8(truncatingIfNeeded: fieldsInRow)
        } else {
            buffer.append(10)
        }
        fieldsInRow = 0
        rows += 1
        if buffer.count >= flushThreshold { try flush() }
    }

    /// Binary: the trailer. Then sends what is buffered.
    func finish() throws {
        if format == .binary {
            buffer.append(0xFF)
            buffer.append(0xFF)
        }
        try flush()
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

extension PGConnection {
    /// Streams rows into `COPY … FROM STDIN` in `format` (binary adds `WITH (FORMAT binary)`).
    ///
    /// `write` runs on the connection's queue and fills a `PGCopyWriter`; rows go to the server
    /// in 1 MiB chunks as they are written. When `write` throws, the COPY is aborted (nothing is
    /// written) and the error is rethrown.
    ///
    /// - Parameters:
    ///   - sql: a `COPY table (columns) FROM STDIN` statement (identifiers quoted by the caller,
    ///     e.g. with `PGIdentifier`).
    ///   - format: text (any column takes its text form) or binary (see `PGCopyFormat`).
    ///   - write: produces the rows.
    /// - Returns: the number of rows the server stored.
    @discardableResult
    public func copyIn(_ sql: String, format: PGCopyFormat = .text, write: @escaping @Sendable (PGCopyWriter) throws -> Void) async throws -> Int {
        let sql = format == .binary ? sql + " WITH (FORMAT binary)" : sql
        return try await withHandle { handle in
            let start = PQexec(handle, sql)
            guard let start else { throw PGConnection.connectionError(handle, sql) }
            guard PQresultStatus(start) == PGRES_COPY_IN else {
                _ = try PGConnection.check(handle, start, sql)
                throw PGError(.usage, "statement did not start COPY FROM STDIN", statement: sql)
            }
            PQclear(start)
            let writer = PGCopyWriter(format: format) { bytes in
                let status = bytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        PQputCopyData(handle, $0.baseAddress, Int32($0.count))
                    }
                }
                if status != 1 { throw PGConnection.connectionError(handle, sql) }
            }
            var failure: (any Error)?
            do {
                try write(writer)
                try writer.finish()
            } catch {
                failure = error
            }
            let endStatus = failure == nil ? PQputCopyEnd(handle, nil) : PQputCopyEnd(handle, "aborted by the client")
            var outcome: PGRows?
            var serverError: (any Error)?
            while let result = PQgetResult(handle) {
                do { outcome = try PGConnection.check(handle, result, sql) } catch { serverError = serverError ?? error }
            }
            if let failure { throw failure }
            if let serverError { throw serverError }
            if endStatus != 1 { throw PGConnection.connectionError(handle, sql) }
            return outcome?.affectedRows ?? writer.rows
        }
    }
}

/// Makes `PGCopyWriter`s that write COPY text into any sink (a file, a buffer), e.g. to
/// produce a file for `psql \copy` with exactly the bytes `copyIn` would send.
public enum PGCopyWriterFactory {
    public static func make(format: PGCopyFormat = .text, sink: @escaping ([UInt8]) throws -> Void) -> PGCopyWriter {
        PGCopyWriter(format: format, sink: sink)
    }
    /// Ends the data (binary: its trailer) and sends what is still buffered.
    public static func finish(_ writer: PGCopyWriter) throws { try writer.finish() }
}
