import Dispatch
import Foundation

/// One-shot broker operations for operators and tests: declare a topology, look at, purge or
/// delete a queue. Each call opens a short connection on a dispatch queue and closes it.
public enum AMQPAdmin {
    /// Declares every exchange, queue and binding of `topology`.
    public static func declare(_ topology: AMQPTopology, configuration: AMQPConfiguration) async throws {
        try await oneShot(configuration) { try topology.declare(on: $0) }
    }

    /// Ready messages and consumers of an existing queue.
    /// - Throws: `AMQPError(.brokerClosed, replyCode: 404)` when the queue does not exist.
    public static func queueStatus(_ name: String, configuration: AMQPConfiguration) async throws -> (messages: Int, consumers: Int) {
        try await oneShot(configuration) { try $0.declareQueue(name, durable: true, passive: true, arguments: []) }
    }

    /// Removes all ready messages from a queue; returns how many.
    @discardableResult
    public static func purge(_ name: String, configuration: AMQPConfiguration) async throws -> Int {
        try await oneShot(configuration) { try $0.purgeQueue(name) }
    }

    /// Deletes queues (missing ones are fine).
    public static func deleteQueues(_ names: [String], configuration: AMQPConfiguration) async throws {
        try await oneShot(configuration) { socket in
            for name in names { try socket.deleteQueue(name) }
        }
    }

    static func oneShot<T: Sendable>(_ configuration: AMQPConfiguration, _ body: @escaping @Sendable (AMQPSocket) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let socket = try AMQPSocket(configuration, connectionName: "admin")
                    defer { socket.close() }
                    return try body(socket)
                })
            }
        }
    }
}
