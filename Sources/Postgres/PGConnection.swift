import CLibPQ
import Dispatch
import Domain
import Foundation
import Logging
import Synchronization

/// One PostgreSQL connection over libpq.
///
/// libpq calls block, so every call on the handle runs on this connection's own serial
/// `DispatchQueue`, never on Swift's cooperative thread pool; async callers wait on a
/// continuation. Statements are always parameterised (`$1`, `$2`, ...): values never become
/// part of the SQL text.
///
/// `@unchecked Sendable` is safe: `handle` is read and written only by jobs on `queue` (a serial
/// queue, so one job at a time), and the only other state is inside a `Mutex`.
public final class PGConnection: @unchecked Sendable {
    private let queue: DispatchQueue
    private var handle: OpaquePointer?
    private let brokenFlag = Mutex(false)
    /// The session's transaction state after the last job (libpq tracks it locally; recording
    /// it here spares a queue hop whenever the pool or a bulk write asks).
    private let transactionState = Mutex(PGTransactionStatus.idle)
    /// The connection's logger (metadata `db.connection`).
    public let logger: Logger

    private init(handle: OpaquePointer, queue: DispatchQueue, logger: Logger) {
        self.handle = handle
        self.queue = queue
        self.logger = logger
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - configuration: the URL and connection options.
    ///   - logger: used for this connection's diagnostics.
    /// - Throws: `PGError` with code `.connectionFailed` (transient) when the server cannot be
    ///   reached or refuses the login. The message never contains the password.
    public static func connect(_ configuration: PGConfiguration, logger: Logger) async throws -> PGConnection {
        let queue = DispatchQueue(label: "postgres.connection")
        let handle: PGHandleBox = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try Self.open(configuration) })
            }
        }
        let connection = PGConnection(handle: handle.raw, queue: queue, logger: logger)
        // Every session speaks UTC and ISO dates, so timestamps decode the same everywhere.
        _ = try await connection.simpleQuery(
            "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3")
        return connection
    }

    private static func open(_ configuration: PGConfiguration) throws -> PGHandleBox {
        // Defaults first: values inside the URL (expanded from `dbname`) override them.
        let keys = ["application_name", "connect_timeout", "dbname"]
        let values = [configuration.applicationName, String(configuration.connectTimeoutSeconds), configuration.url]
        let cKeys = keys.map { strdup($0) }
        let cValues = values.map { strdup($0) }
        defer {
            cKeys.forEach { free($0) }
            cValues.forEach { free($0) }
        }
        var keyPointers = cKeys.map { UnsafePointer<CChar>($0) } + [nil]
        var valuePointers = cValues.map { UnsafePointer<CChar>($0) } + [nil]
        let raw = keyPointers.withUnsafeMutableBufferPointer { k in
            valuePointers.withUnsafeMutableBufferPointer { v in
                PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
            }
        }
        guard let raw else { throw PGError(.connectionFailed, "libpq could not allocate a connection") }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(raw)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(raw)
            throw PGError(.connectionFailed, Redaction.scrub(message, connection: configuration.url))
        }
        PQsetNoticeProcessor(raw, { _, _ in }, nil)
        return PGHandleBox(raw: raw)
    }

    /// True once the connection is known to be unusable (closed, or broken by the server).
    public var isBroken: Bool { brokenFlag.withLock { $0 } }

    /// Runs `body` with the raw handle on the connection's queue.
    func withHandle<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                guard let handle = self.handle else {
                    continuation.resume(throwing: PGError(.closed, "the connection is closed"))
                    return
                }
                let result = Result { try body(handle) }
                let status: PGTransactionStatus = switch PQtransactionStatus(handle) {
                case PQTRANS_IDLE: .idle
                case PQTRANS_INTRANS: .inTransaction
                case PQTRANS_INERROR: .failedTransaction
                default: .unknown
                }
                self.transactionState.withLock { $0 = status }
                if case .failure(let error as PGError) = result,
                   error.code == .connectionLost || PQstatus(handle) == CONNECTION_BAD {
                    self.brokenFlag.withLock { $0 = true }
                }
                continuation.resume(with: result)
            }
        }
    }

    /// Runs one parameterised statement and returns its rows.
    ///
    /// - Parameters:
    ///   - sql: a single statement with `$1`…`$n` placeholders.
    ///   - parameters: the values, in order; `nil` is SQL NULL.
    /// - Throws: `PGError` (`.server` with the SQLSTATE, `.connectionLost`, `.closed`).
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PGEncodable)?] = []) async throws -> PGRows {
        let texts = parameters.map { $0?.pgText }
        return try await withHandle { handle in
            try Self.execParams(handle, sql, texts)
        }
    }

    /// Runs one parameterised statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PGEncodable)?] = []) async throws -> Int {
        try await query(sql, parameters).affectedRows
    }

    /// Runs a script of several statements without parameters (migrations, session settings).
    /// Never pass values in `sql`: use `query` with parameters for anything that varies.
    @discardableResult
    public func simpleQuery(_ sql: String) async throws -> PGRows {
        try await withHandle { handle in
            let result = PQexec(handle, sql)
            return try Self.check(handle, result, sql)
        }
    }

    /// Whether the session is idle, inside a transaction, or inside a failed transaction.
    /// - Throws: `PGError(.closed)` after `close()`.
    public func transactionStatus() async throws -> PGTransactionStatus {
        guard !isBroken else { throw PGError(.closed, "the connection is closed or broken") }
        return transactionState.withLock { $0 }
    }

    /// Runs `body` inside `BEGIN … COMMIT`; rolls back and rethrows when `body` throws.
    @discardableResult
    /// - Throws: `PGError(.usage)` when a transaction is already open on this connection (no
    ///   silent nesting: an inner COMMIT would commit the outer work early), and
    ///   `PGError(.server, sqlState: "25P02")` when the server rolled back at COMMIT because a
    ///   statement inside had failed (for instance one whose error `body` swallowed).
    public func withTransaction<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        guard try await transactionStatus() == .idle else {
            throw PGError(.usage, "a transaction is already open on this connection")
        }
        try await simpleQuery("BEGIN")
        do {
            let value = try await body(self)
            let tag = try await simpleQuery("COMMIT").commandTag
            guard tag == "COMMIT" else {
                throw PGError(.server, "the transaction was rolled back at COMMIT (\(tag)): a statement inside it failed",
                              sqlState: "25P02")
            }
            return value
        } catch {
            if !isBroken { _ = try? await simpleQuery("ROLLBACK") }
            throw error
        }
    }

    /// Closes the connection; later calls throw `.closed`. Safe to call more than once.
    public func close() async {
        brokenFlag.withLock { $0 = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if let handle = self.handle {
                    PQfinish(handle)
                    self.handle = nil
                }
                continuation.resume()
            }
        }
    }

    // MARK: - libpq plumbing (runs on the queue)

    static func execParams(_ handle: OpaquePointer, _ sql: String, _ texts: [String?]) throws -> PGRows {
        let cStrings = texts.map { $0.map { strdup($0) } ?? nil }
        defer { cStrings.forEach { free($0) } }
        let pointers = cStrings.map { UnsafePointer<CChar>($0) }
        let result = pointers.withUnsafeBufferPointer { buffer in
            PQexecParams(handle, sql, Int32(texts.count), nil, buffer.baseAddress, nil, nil, 0)
        }
        return try check(handle, result, sql)
    }

    /// Turns a result into rows or a `PGError`; consumes `result`.
    static func check(_ handle: OpaquePointer, _ result: OpaquePointer?, _ sql: String) throws -> PGRows {
        guard let result else {
            throw connectionError(handle, sql)
        }
        let box = PGResultBox(result)
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGRows(box: box, statement: sql)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            throw error(from: result, handle: handle, sql: sql)
        default:
            throw PGError(.unexpected, "unexpected result status \(String(cString: PQresStatus(PQresultStatus(result))))",
                          statement: sql)
        }
    }

    static func error(from result: OpaquePointer, handle: OpaquePointer, sql: String) -> PGError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        if PQstatus(handle) == CONNECTION_BAD {
            var lost = connectionError(handle, sql)
            lost.sqlState = sqlState
            if let message = field("M") { lost.message = message }
            return lost
        }
        let message = field("M") ?? String(cString: PQresultErrorMessage(result))
        return PGError(.server, message.trimmingCharacters(in: .whitespacesAndNewlines), sqlState: sqlState,
                       detail: field("D"), hint: field("H"), statement: sql)
    }

    static func connectionError(_ handle: OpaquePointer, _ sql: String) -> PGError {
        let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        let code: PGError.Code = PQstatus(handle) == CONNECTION_BAD ? .connectionLost : .unexpected
        return PGError(code, message.isEmpty ? "no result from the server" : message, statement: sql)
    }
}

/// Moves a fresh handle out of the queue job that opened it; used once, then owned by the
/// connection. `@unchecked Sendable`: nobody else holds the pointer during the hand-over.
struct PGHandleBox: @unchecked Sendable { let raw: OpaquePointer }

/// The session's transaction state, as libpq reports it.
public enum PGTransactionStatus: Sendable {
    case idle, inTransaction, failedTransaction, unknown
}
