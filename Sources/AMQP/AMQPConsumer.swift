import Dispatch
import Foundation
import Logging

/// Consumes one queue with manual acknowledgements and a bounded prefetch.
///
/// `receive` collects a batch of deliveries; `ack` settles them (one `multiple` ack when they
/// are contiguous). A broken connection surfaces as an error from `receive` or `ack`; the next
/// `receive` reconnects, re-declares the topology and consumes again. Deliveries of an earlier
/// connection cannot be acknowledged any more — the broker has already requeued them — and
/// `ack` skips them.
public final class AMQPConsumer: Sendable {
    private let link: AMQPLink
    private let queueName: String
    private let state: ConsumerState

    /// Queue-confined bookkeeping of unacknowledged tags of the current connection.
    private final class ConsumerState: @unchecked Sendable {
        var outstanding = Set<UInt64>()
        var closed = false
    }

    /// - Parameters:
    ///   - queue: the queue to consume (declared through `topology` on each connection).
    ///   - prefetch: most unacknowledged deliveries the broker sends ahead.
    public init(
        configuration: AMQPConfiguration, queue: String, topology: AMQPTopology, prefetch: Int, name: String? = nil,
        logger: Logger
    ) {
        let state = ConsumerState()
        self.state = state
        queueName = queue
        link = AMQPLink(configuration: configuration, topology: topology, name: name ?? "consumer.\(queue)", logger: logger)
        link.onConnect = { socket in
            state.outstanding.removeAll()
            try socket.qos(prefetch: prefetch)
            try socket.consume(queue: queue, consumerTag: "")
        }
        // While the owner handles a batch nobody calls `receive`: keep the connection alive.
        link.startHeartbeat { try $0.sendHeartbeat() }
    }

    /// Waits up to `wait` seconds for the first delivery, then gathers more until `max` are in
    /// hand, their bodies reach `maxBytes` (the first is always taken, however large), or
    /// `linger` seconds have passed since the first. Returns an empty array when nothing came.
    /// - Throws: `AMQPError` when the connection broke or the broker closed the channel.
    public func receive(max: Int, maxBytes: Int = .max, wait: Double, linger: Double) async throws -> [AMQPDelivery] {
        let state = self.state
        let link = self.link
        return try await link.run("receive from \(queueName)") { socket in
            guard !state.closed else { throw AMQPError(.closed, "the consumer is closed", operation: "receive") }
            var batch: [AMQPDelivery] = []
            guard let first = try socket.receive(timeout: wait, generation: link.generation) else { return batch }
            batch.append(first)
            var bytes = first.body.count
            let deadline = Date().addingTimeInterval(linger)
            while batch.count < max && bytes < maxBytes {
                let left = deadline.timeIntervalSinceNow
                guard let next = try socket.receive(timeout: Swift.max(0, left), generation: link.generation) else { break }
                batch.append(next)
                bytes += next.body.count
            }
            for delivery in batch { state.outstanding.insert(delivery.deliveryTag) }
            return batch
        }
    }

    /// Acknowledges deliveries. Deliveries from an earlier connection are skipped (they are back
    /// in the queue already); returns how many were acknowledged.
    @discardableResult
    public func ack(_ deliveries: [AMQPDelivery]) async throws -> Int {
        try await settle(deliveries) { socket, tag, multiple in try socket.ack(tag, multiple: multiple) }
    }

    /// Negatively acknowledges deliveries: back into the queue (`requeue`) or to the queue's
    /// dead-letter exchange.
    @discardableResult
    public func reject(_ deliveries: [AMQPDelivery], requeue: Bool) async throws -> Int {
        try await settle(deliveries) { socket, tag, multiple in
            try socket.nack(tag, multiple: multiple, requeue: requeue)
        }
    }

    private func settle(
        _ deliveries: [AMQPDelivery], _ send: @escaping @Sendable (AMQPSocket, UInt64, Bool) throws -> Void
    ) async throws -> Int {
        let state = self.state
        let link = self.link
        guard !deliveries.isEmpty else { return 0 }
        return try await link.run("settle on \(queueName)") { socket in
            let tags = deliveries.filter { $0.generation == link.generation }.map(\.deliveryTag)
                .filter { state.outstanding.contains($0) }.sorted()
            guard let highest = tags.last else { return 0 }
            tags.forEach { state.outstanding.remove($0) }
            if state.outstanding.allSatisfy({ $0 > highest }) {
                try send(socket, highest, true)
            } else {
                for tag in tags { try send(socket, tag, false) }
            }
            return tags.count
        }
    }

    /// Closes the connection; unacknowledged deliveries go back to the queue.
    public func close() async {
        let state = self.state
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            link.queue.async {
                state.closed = true
                self.link.closeSocket()
                continuation.resume()
            }
        }
    }
}
