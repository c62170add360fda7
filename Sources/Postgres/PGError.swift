/// An error from the PostgreSQL client.
///
/// Carries the SQLSTATE and the server's message, detail and hint when the server produced it,
/// and the statement text that failed (statement text only: parameter values are never
/// included, so secrets passed as parameters cannot leak into logs).
public struct PGError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, coarsely: enough to decide whether to retry.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The connection could not be established.
        public static let connectionFailed = Code("connectionFailed")
        /// The connection broke while a statement ran (server restart, network loss).
        public static let connectionLost = Code("connectionLost")
        /// The connection was closed by this process.
        public static let closed = Code("closed")
        /// The server rejected the statement: see `sqlState`.
        public static let server = Code("server")
        /// A value in a result could not be decoded into the requested Swift type.
        public static let decoding = Code("decoding")
        /// A caller used the API wrongly (bad identifier, COPY outside a transaction, ...).
        public static let usage = Code("usage")
        /// libpq reported something this client did not expect.
        public static let unexpected = Code("unexpected")
        public var description: String { raw }
    }

    public var code: Code
    /// Five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The statement text (never parameter values).
    public var statement: String?

    public init(
        _ code: Code, _ message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, statement: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.statement = statement
    }

    /// True when the same work may succeed if simply tried again later: the connection broke or
    /// could not be made, the server is shutting down or starting, or the transaction lost a
    /// serialization conflict or deadlock.
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .connectionLost: return true
        case .server:
            guard let state = sqlState else { return false }
            if state.hasPrefix("08") { return true }  // connection exception
            return ["57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03"].contains(state)
        default: return false
        }
    }

    public var description: String {
        var text = "PostgreSQL \(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail, !detail.isEmpty { text += " (detail: \(detail))" }
        if let hint, !hint.isEmpty { text += " (hint: \(hint))" }
        if let statement { text += " — statement: \(Self.excerpt(statement))" }
        return text
    }

    static func excerpt(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .joined(separator: " ")
        return flat.count > 300 ? String(flat.prefix(300)) + "…" : flat
    }
}

import Foundation
