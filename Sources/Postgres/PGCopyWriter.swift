import CLibPQ
import Foundation

/// Writes rows in COPY's text format into a buffer that is sent to the server in 1 MiB chunks.
///
/// Used inside `PGConnection.copyIn`; one row is a sequence of `field` calls closed by `endRow()`.
/// Escapes backslash, tab, newline and carriage return; `nil` is `\N` (NULL).
public final class PGCopyWriter {
    // Written only from the one thread running the COPY: no dynamic exclusivity checks on
    // every appended byte.
    @exclusivity(unchecked) private var buffer: [UInt8] = []
    private var fieldsInRow = 0
    private let flushThreshold: Int
    private let sink: ([UInt8]) throws -> Void
    /// Rows completed so far.
    public private(set) var rows = 0

    init(flushThreshold: Int = 1 << 20, sink: @escaping ([UInt8]) throws -> Void) {
        self.flushThreshold = flushThreshold
        self.sink = sink
        buffer.reserveCapacity(flushThreshold + 4096)
    }

    private func separator() {
        if fieldsInRow > 0 { buffer.append(9) }
        fieldsInRow += 1
    }

    /// Appends a text field (nil = NULL).
    public func field(_ value: String?) {
        separator()
        guard var value else {
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(UInt8(ascii: "N"))
            return
        }
        value.withUTF8 { bytes in
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

    /// Appends an integer field without going through a String.
    public func field(_ value: Int64) {
        separator()
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

    /// Appends an integer field.
    public func field(_ value: Int) { field(Int64(value)) }
    /// Appends a nullable integer field.
    public func field(_ value: Int64?) { if let value { field(value) } else { field(nil as String?) } }
    /// Appends any encodable value (nil = NULL) in its text form.
    public func field(_ value: (any PGEncodable)?) { field(value?.pgText) }

    /// Ends the current row; sends the buffer when it has grown past the threshold.
    public func endRow() throws {
        buffer.append(10)
        fieldsInRow = 0
        rows += 1
        if buffer.count >= flushThreshold { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

extension PGConnection {
    /// Streams rows into `COPY … FROM STDIN` (text format).
    ///
    /// `write` runs on the connection's queue and fills a `PGCopyWriter`; rows go to the server
    /// in 1 MiB chunks as they are written. When `write` throws, the COPY is aborted (nothing is
    /// written) and the error is rethrown.
    ///
    /// - Parameters:
    ///   - sql: a `COPY table (columns) FROM STDIN` statement (identifiers quoted by the caller,
    ///     e.g. with `PGIdentifier`).
    ///   - write: produces the rows.
    /// - Returns: the number of rows the server stored.
    @discardableResult
    public func copyIn(_ sql: String, write: @escaping @Sendable (PGCopyWriter) throws -> Void) async throws -> Int {
        try await withHandle { handle in
            let start = PQexec(handle, sql)
            guard let start else { throw PGConnection.connectionError(handle, sql) }
            guard PQresultStatus(start) == PGRES_COPY_IN else {
                _ = try PGConnection.check(handle, start, sql)
                throw PGError(.usage, "statement did not start COPY FROM STDIN", statement: sql)
            }
            PQclear(start)
            let writer = PGCopyWriter { bytes in
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
                try writer.flush()
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
    public static func make(sink: @escaping ([UInt8]) throws -> Void) -> PGCopyWriter { PGCopyWriter(sink: sink) }
    /// Sends what is still buffered.
    public static func finish(_ writer: PGCopyWriter) throws { try writer.flush() }
}
