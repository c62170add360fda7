import Foundation
import Logging
import Postgres
import Runtime

/// A worker used by the runtime's own tests (kill, restart, dead-letter, shutdown): it adds
/// amounts to counters in `testbed.counters`.
///
/// Its writes are deliberately *not* idempotent (`total = total + amount`), so any message
/// applied twice shows up as a wrong total: the runtime's skipping of processed ids is what
/// keeps the totals exact. For each message it also enqueues a `counter.applied` event in the
/// outbox, exercising "commit, then publish".
public struct CounterHandler: BatchHandler {
    /// `counter.add` payload: a batch of increments.
    public struct Payload: Codable, Sendable {
        public var items: [Item]
        public init(items: [Item]) { self.items = items }
    }

    public struct Item: Codable, Sendable {
        public var key: String
        public var amount: Int64
        public init(key: String, amount: Int64) {
            self.key = key
            self.amount = amount
        }
    }

    /// A key whose messages always fail (for the dead-letter test).
    public static let poisonKey = "poison"
    public static let exchange = "testbed"

    /// Milliseconds to sleep inside each batch's transaction, so a test can kill mid-batch.
    public var delayMilliseconds: Int
    /// Routing key of the `counter.applied` events (per queue, so test worlds stay apart).
    public var eventRoutingKey: String

    public init(delayMilliseconds: Int = 0, eventRoutingKey: String = "counter.applied") {
        self.delayMilliseconds = delayMilliseconds
        self.eventRoutingKey = eventRoutingKey
    }

    public func handle(_ messages: [Envelope], on connection: PGConnection, logger: Logger) async throws {
        var keys: [String] = []
        var amounts: [Int64] = []
        var events: [OutboxMessage] = []
        for message in messages {
            let payload = try message.payload(as: Payload.self)
            for item in payload.items {
                if item.key == Self.poisonKey { throw TestbedError("poison key in message \(message.id)") }
                keys.append(item.key)
                amounts.append(item.amount)
            }
            events.append(try OutboxMessage(
                exchange: Self.exchange, routingKey: eventRoutingKey, type: "counter.applied", project: message.project,
                id: message.id + ":applied", payload: payload))
        }
        try await connection.query("""
            INSERT INTO testbed.counters (key, total)
            SELECT key, sum(amount) FROM unnest($1::text[], $2::bigint[]) AS t(key, amount) GROUP BY key
            ON CONFLICT (key) DO UPDATE SET total = testbed.counters.total + EXCLUDED.total
            """, [keys, amounts])
        try await Outbox.enqueue(events, on: connection)
        if delayMilliseconds > 0 { try await Task.sleep(for: .milliseconds(delayMilliseconds)) }
    }
}

public struct TestbedError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension CounterHandler {
    /// Publishes `count` `counter.add` messages (key `k<i % 10>`, amount `i % 7 + 1`) in batches
    /// of 1000 with confirms; returns the sum of all amounts.
    public static func publishDemo(
        count: Int, queue: String, topology: AMQPTopology, amqp: AMQPConfiguration, logger: Logger
    ) async throws -> Int64 {
        let publisher = AMQPPublisher(configuration: amqp, topology: topology, logger: logger)
        var total: Int64 = 0
        let run = UUID().uuidString.prefix(8)
        for start in stride(from: 0, to: count, by: 1000) {
            var messages: [AMQPMessage] = []
            for index in start..<min(count, start + 1000) {
                let item = Item(key: "k\(index % 10)", amount: Int64(index % 7 + 1))
                total += item.amount
                let id = "demo-\(run)-\(index)"
                messages.append(AMQPMessage(
                    exchange: exchange, routingKey: "\(queue).add",
                    body: try Envelope.encode(type: "counter.add", project: "demo", id: id, payload: Payload(items: [item])),
                    messageID: id))
            }
            try await publisher.publish(messages)
        }
        await publisher.close()
        return total
    }
}

import AMQP
