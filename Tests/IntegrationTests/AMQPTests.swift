import AMQP
import Foundation
import Testing

@Suite struct AMQPTests {
    @Test func hundredThousandPersistentMessagesWithConfirmsAreAllConsumedInBatches() async throws {
        let queue = TestStack.unique("amqp.bulk")
        let topology = AMQPTopology.workQueue(queue, exchange: "tests", routingKeys: [queue])
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology, logger: TestStack.logger)
        let total = 100_000
        // Four concurrent callers: their batches share the pump and the confirm window.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<4 {
                group.addTask {
                    for chunk in stride(from: part * total / 4, to: (part + 1) * total / 4, by: 1000) {
                        let messages = (chunk..<(chunk + 1000)).map {
                            AMQPMessage(exchange: "tests", routingKey: queue, body: Array("{\"n\":\($0)}".utf8), messageID: "m\($0)")
                        }
                        try await publisher.publish(messages)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Quorum queues report their length a moment late; every message was confirmed already.
        let stored = await TestStack.eventually(seconds: 30) {
            (try? await AMQPAdmin.queueStatus(queue, configuration: TestStack.amqp).messages) == total
        }
        #expect(stored)

        let consumer = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 1000,
                                    logger: TestStack.logger)
        var seen = Set<String>()
        var batches = 0
        while seen.count < total {
            let batch = try await consumer.receive(max: 500, wait: 5, linger: 0.05)
            if batch.isEmpty { break }
            batches += 1
            for delivery in batch { seen.insert(delivery.messageID ?? "") }
            #expect(try await consumer.ack(batch) == batch.count)
        }
        #expect(seen.count == total)
        #expect(batches < total / 10)
        await consumer.close()
        await publisher.close()
        let drained = await TestStack.eventually(seconds: 30) {
            (try? await AMQPAdmin.queueStatus(queue, configuration: TestStack.amqp).messages) == 0
        }
        #expect(drained)
        try await AMQPAdmin.deleteQueues([queue, queue + ".dead"], configuration: TestStack.amqp)
    }

    @Test func aBatchClosesOnceItsBodiesReachTheByteCap() async throws {
        let queue = TestStack.unique("amqp.bytes")
        let topology = AMQPTopology.workQueue(queue, exchange: "tests", routingKeys: [queue])
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology, logger: TestStack.logger)
        // One message of 10,000 bytes, then ten of 1,000.
        try await publisher.publish([AMQPMessage(exchange: "tests", routingKey: queue, body: Array(repeating: 121, count: 10_000))]
            + (0..<10).map { _ in AMQPMessage(exchange: "tests", routingKey: queue, body: Array(repeating: 120, count: 1000)) })
        let consumer = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 100, logger: TestStack.logger)
        var sizes: [Int] = []
        while sizes.reduce(0, +) < 11 {
            let batch = try await consumer.receive(max: 100, maxBytes: 3500, wait: 5, linger: 1)
            guard !batch.isEmpty else { break }
            sizes.append(batch.count)
            try await consumer.ack(batch)
        }
        // The big one goes alone however large it is; then 4 × 1,000 bytes reach 3,500.
        #expect(sizes == [1, 4, 4, 2])
        await consumer.close()
        await publisher.close()
        try await AMQPAdmin.deleteQueues([queue, queue + ".dead"], configuration: TestStack.amqp)
    }

    @Test func aNackedPublishIsSentAgainUntilTheBrokerTakesIt() async throws {
        // A queue that holds one message and nacks the publish of a second (reject-publish).
        let queue = TestStack.unique("amqp.nack")
        let exchange = "tests"
        let topology = AMQPTopology(exchanges: [.init(exchange)], queues: [
            .init(queue, type: .classic, extraArguments: ["x-max-length": .int(1), "x-overflow": .string("reject-publish")]),
        ], bindings: [.init(queue: queue, exchange: exchange, routingKey: queue)])
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology, logger: TestStack.logger)
        func message(_ n: Int) -> AMQPMessage { AMQPMessage(exchange: exchange, routingKey: queue, body: Array("\(n)".utf8), messageID: "m\(n)") }
        try await publisher.publish(message(1))
        // Without retries the nack is the caller's error.
        await #expect(throws: AMQPError.self) { try await publisher.publish([message(2)], retryingNacks: 0) }

        // With retries: the first nack lets the consumer take message 1, and the retry is taken.
        let (nacks, heard) = AsyncStream<Int>.makeStream()
        let retried = Task {
            defer { heard.finish() }  // a publish that gives up ends the wait below instead of hanging it
            try await publisher.publish([message(3)], retryingNacks: 50, pause: .milliseconds(20)) { attempt, error in
                if error.code == .nacked { heard.yield(attempt) }
            }
        }
        var attempts = nacks.makeAsyncIterator()
        #expect(await attempts.next() == 1)
        let consumer = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: AMQPTopology(), prefetch: 10, logger: TestStack.logger)
        let first = try await consumer.receive(max: 1, wait: 10, linger: 0)
        #expect(first.map(\.messageID) == ["m1"])
        try await consumer.ack(first)
        try await retried.value
        let second = try await consumer.receive(max: 10, wait: 10, linger: 0.2)
        #expect(second.map(\.messageID) == ["m3"])
        try await consumer.ack(second)
        await consumer.close()
        await publisher.close()
        try await AMQPAdmin.deleteQueues([queue], configuration: TestStack.amqp)
    }

    @Test func unacknowledgedDeliveriesReturnWhenTheConsumerCloses() async throws {
        let queue = TestStack.unique("amqp.requeue")
        let topology = AMQPTopology.workQueue(queue, exchange: "tests", routingKeys: [queue])
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology, logger: TestStack.logger)
        try await publisher.publish((0..<10).map {
            AMQPMessage(exchange: "tests", routingKey: queue, body: Array("\($0)".utf8), headers: ["n": .int(Int64($0))])
        })
        let first = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 10, logger: TestStack.logger)
        let taken = try await first.receive(max: 10, wait: 5, linger: 0.5)
        #expect(taken.count == 10)
        #expect(taken.first?.headers["n"] == .int(0))
        try await first.ack(Array(taken.prefix(4)))
        await first.close()
        let second = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 10, logger: TestStack.logger)
        let again = try await second.receive(max: 10, wait: 5, linger: 0.5)
        #expect(again.count == 6)
        #expect(again.allSatisfy { $0.redelivered })
        try await second.ack(again)
        await second.close()
        await publisher.close()
        try await AMQPAdmin.deleteQueues([queue, queue + ".dead"], configuration: TestStack.amqp)
    }

    @Test func sequentialPublishesOnOneChannelAreEachConfirmedOnce() async throws {
        let queue = TestStack.unique("amqp.sequential")
        let topology = AMQPTopology.workQueue(queue, exchange: "tests", routingKeys: [queue])
        // A short confirm timeout: a confirm matched to the wrong delivery tag would time out and
        // republish, leaving duplicates in the queue.
        let publisher = AMQPPublisher(configuration: TestStack.amqp, topology: topology,
                                      settings: .init(confirmTimeoutSeconds: 2), logger: TestStack.logger)
        for index in 0..<20 {
            try await publisher.publish(AMQPMessage(exchange: "tests", routingKey: queue, body: Array("\(index)".utf8),
                                                    messageID: "s\(index)"))
        }
        let consumer = AMQPConsumer(configuration: TestStack.amqp, queue: queue, topology: topology, prefetch: 100,
                                    logger: TestStack.logger)
        let received = try await consumer.receive(max: 100, wait: 5, linger: 1)
        #expect(received.map { $0.messageID ?? "" } == (0..<20).map { "s\($0)" })
        try await consumer.ack(received)
        await consumer.close()
        await publisher.close()
        try await AMQPAdmin.deleteQueues([queue, queue + ".dead"], configuration: TestStack.amqp)
    }

    @Test func aConsumerBusyLongerThanTwoHeartbeatsKeepsItsConnection() async throws {
        let queue = TestStack.unique("amqp.heartbeat")
        let topology = AMQPTopology.workQueue(queue, exchange: "tests", routingKeys: [queue])
        let amqp = try AMQPConfiguration(url: TestStack.amqpURL + "?heartbeat=1")
        let publisher = AMQPPublisher(configuration: amqp, topology: topology, logger: TestStack.logger)
        try await publisher.publish(AMQPMessage(exchange: "tests", routingKey: queue, body: Array("x".utf8)))
        let consumer = AMQPConsumer(configuration: amqp, queue: queue, topology: topology, prefetch: 10, logger: TestStack.logger)
        let batch = try await consumer.receive(max: 10, wait: 5, linger: 0.1)
        #expect(batch.count == 1)
        // Busy (no receive) for 5 heartbeat intervals: the broker would close a silent connection
        // after two missed heartbeats, and the ack would be void.
        try await Task.sleep(for: .seconds(5))
        #expect(try await consumer.ack(batch) == 1)
        await consumer.close()
        await publisher.close()
        try await AMQPAdmin.deleteQueues([queue, queue + ".dead"], configuration: TestStack.amqp)
    }

    @Test func badURLIsRefusedWithoutEchoingThePassword() {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://user:s3cret@host/") }
        let parsed = try? AMQPConfiguration(url: "amqp://app:s3cret@rabbit:5679/prod%2Fa?heartbeat=10")
        #expect(parsed?.port == 5679)
        #expect(parsed?.virtualHost == "prod/a")
        #expect(parsed?.heartbeatSeconds == 10)
        #expect(parsed?.redactedURL.contains("s3cret") == false)
    }
}
