import Dispatch
import Foundation
import Logging

/// A reconnecting rabbitmq-c connection owned by one publisher or consumer.
///
/// Every use of the socket runs on `queue`, a serial `DispatchQueue` of its own, so blocking C
/// calls never occupy Swift's cooperative threads and rabbitmq-c is never entered from two
/// threads at once. On a connection error the socket is dropped; the next use reconnects and
/// declares the topology again.
///
/// `@unchecked Sendable` is safe: `socket` and `generation` are touched only by jobs on `queue`.
final class AMQPLink: @unchecked Sendable {
    let configuration: AMQPConfiguration
    let topology: AMQPTopology
    let name: String
    let logger: Logger
    let queue: DispatchQueue
    private(set) var socket: AMQPSocket?
    /// Increments with every new connection.
    private(set) var generation = 0
    /// Runs on `queue` right after each (re)connection, before the socket is used.
    var onConnect: ((AMQPSocket) throws -> Void)?
    private var heartbeatTimer: (any DispatchSourceTimer)?

    init(configuration: AMQPConfiguration, topology: AMQPTopology, name: String, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.name = name
        self.logger = logger
        self.queue = DispatchQueue(label: "amqp.\(name)")
    }

    /// On `queue`: returns the live socket, connecting first if needed.
    func connected() throws -> AMQPSocket {
        if let socket { return socket }
        let fresh = try AMQPSocket(configuration, connectionName: name)
        do {
            try topology.declare(on: fresh)
            try onConnect?(fresh)
        } catch {
            fresh.close()
            throw error
        }
        generation += 1
        socket = fresh
        if generation > 1 {
            logger.info("reconnected to RabbitMQ", metadata: ["amqp.link": "\(name)", "amqp.generation": "\(generation)"])
        }
        return fresh
    }

    /// On `queue`: forgets a broken socket so the next use reconnects.
    func drop(after error: any Error) {
        guard let socket else { return }
        logger.warning("RabbitMQ connection lost", metadata: ["amqp.link": "\(name)", "error": "\(error)"])
        socket.close()
        self.socket = nil
    }

    /// On `queue`: closes the socket for good and stops the heartbeat timer.
    func closeSocket() {
        heartbeatTimer?.cancel()
        heartbeatTimer = nil
        socket?.close()
        socket = nil
    }

    /// Runs `tick` on `queue` every half heartbeat interval while a socket is open, so the
    /// connection stays alive however long its owner is busy between calls; a failing tick
    /// drops the connection. rabbitmq-c services heartbeats only inside its own calls.
    func startHeartbeat(_ tick: @escaping (AMQPSocket) throws -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Double(max(1, configuration.heartbeatSeconds)) / 2
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in
            guard let self, let socket = self.socket else { return }
            do { try tick(socket) } catch { self.drop(after: error) }
        }
        heartbeatTimer = timer
        timer.resume()
    }

    /// Runs `body` on `queue` with a connected socket; a failure drops the connection and is
    /// rethrown.
    func run<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (AMQPSocket) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let socket = try self.connected()
                    continuation.resume(returning: try body(socket))
                } catch {
                    self.drop(after: error)
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
