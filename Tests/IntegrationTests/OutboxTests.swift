import AMQP
import Foundation
import Postgres
import Runtime
import Testing

@Suite struct OutboxTests {
    struct Payload: Codable { let n: Int }

    @Test func committedEventsArePublishedAndARefusedRowIsParkedWithoutBlockingOthers() async throws {
        let url = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        let queue = TestStack.unique("outbox")
        let topology = AMQPTopology(exchanges: [.init("tests")], queues: [.init(queue, type: .classic)],
                                    bindings: [.init(queue: queue, exchange: "tests", routingKey: queue)])
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology, logger: TestStack.logger)
        // Events enqueued in a rolled-back transaction never leave.
        await #expect(throws: TestFailure.self) {
            try await pool.withTransaction { connection in
                try await Outbox.enqueue([try OutboxMessage(exchange: "tests", routingKey: queue, type: "t", project: "p", id: "ghost", payload: Payload(n: 0))], on: connection)
                throw TestFailure("rolled back")
            }
        }
        try await pool.withTransaction { connection in
            var messages = try (0..<5).map {
                try OutboxMessage(exchange: "tests", routingKey: queue, type: "t", project: "p", id: "e\($0)", payload: Payload(n: $0))
            }
            // A row whose exchange does not exist: the broker closes the channel (404) every time.
            messages.insert(try OutboxMessage(exchange: "no-such-exchange", routingKey: "x", type: "t", project: "p", id: "bad",
                                              payload: Payload(n: -1)), at: 2)
            try await Outbox.enqueue(messages, on: connection)
        }
        let relay = OutboxRelay(pool: pool, publisher: publisher, maxAttempts: 3, logger: TestStack.logger)
        var published = 0
        for _ in 0..<10 { published += try await relay.drainOnce() }
        #expect(published == 5)
        let parked = try await pool.query("SELECT message_id, attempts, last_error FROM runtime.outbox")
        #expect(parked.count == 1)
        #expect(try parked[0].decode(String.self, "message_id") == "bad")
        #expect(try parked[0].decode(Int.self, "attempts") == 3)
        #expect(try parked[0].decode(String.self, "last_error").contains("404"))
        let consumer = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 10, logger: TestStack.logger)
        let received = try await consumer.receive(max: 10, wait: 5, linger: 0.5)
        #expect(Set(received.compactMap(\.messageID)) == Set((0..<5).map { "e\($0)" }))
        try await consumer.ack(received)
        await consumer.close()
        await publisher.close()
        await pool.close()
        try await AMQPAdmin.deleteQueues([queue], configuration: TestStack.amqp)
    }
}
