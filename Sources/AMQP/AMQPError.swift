/// An error from the AMQP client.
///
/// Carries the operation that failed, the AMQP reply code and text when the broker closed the
/// channel or connection, or rabbitmq-c's status text. Never carries the password.
public struct AMQPError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The TCP connection or the login failed.
        public static let connectionFailed = Code("connectionFailed")
        /// An open connection broke (broker restart, network loss, missed heartbeats).
        public static let connectionLost = Code("connectionLost")
        /// The broker closed the channel or connection with a reply code (404 no such queue, 406
        /// precondition failed, 320 shutdown, ...): see `replyCode`.
        public static let brokerClosed = Code("brokerClosed")
        /// The broker refused to take responsibility for a published message (basic.nack).
        public static let nacked = Code("nacked")
        /// This client was closed.
        public static let closed = Code("closed")
        /// A bad URL or argument.
        public static let usage = Code("usage")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String
    /// What the client was doing (`queue.declare orders`, `basic.publish`, ...).
    public var operation: String
    /// AMQP reply code when the broker closed something (404, 406, 320, ...).
    public var replyCode: Int?

    public init(_ code: Code, _ message: String, operation: String, replyCode: Int? = nil) {
        self.code = code
        self.message = message
        self.operation = operation
        self.replyCode = replyCode
    }

    /// True when reconnecting and trying again may succeed.
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .connectionLost: return true
        case .brokerClosed: return replyCode == 320 || replyCode == 541 || replyCode == 505 || replyCode == 501
        default: return false
        }
    }

    public var description: String {
        var text = "AMQP \(code) during \(operation)"
        if let replyCode { text += " [\(replyCode)]" }
        return text + ": \(message)"
    }
}
