import AMQP
import Foundation
import Postgres
import Runtime
import RuntimeTestbed
import Testing

/// The worker runtime under kills, restarts, poison and SIGTERM, as separate processes.
@Suite struct RuntimeTests {
    /// A world for one test: its own database (migrated, with the testbed table), its own queue.
    struct World {
        let databaseURL: String
        let amqpURL: String
        let queue: String
        var amqp: AMQPConfiguration { try! AMQPConfiguration(url: amqpURL) }
        var topology: AMQPTopology {
            AMQPTopology.workQueue(queue, exchange: CounterHandler.exchange, routingKeys: ["\(queue).add"])
                .merging(AMQPTopology(
                    queues: [AMQPTopology.Queue(queue + ".applied", type: .classic)],
                    bindings: [AMQPTopology.Binding(queue: queue + ".applied", exchange: CounterHandler.exchange, routingKey: queue + ".applied")]))
        }

        static func make(databaseServer: String = TestStack.databaseURL, amqpURL: String = TestStack.amqpURL) async throws -> World {
            let url = try await TestStack.freshDatabase(serverURL: databaseServer)
            let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
            try await connection.simpleQuery("CREATE SCHEMA testbed; CREATE TABLE testbed.counters (key text PRIMARY KEY, total bigint NOT NULL)")
            await connection.close()
            let world = World(databaseURL: url, amqpURL: amqpURL, queue: TestStack.unique("testbed"))
            try await AMQPAdmin.declare(world.topology, configuration: world.amqp)
            return world
        }

        func worker(delayMs: Int = 0, batchSize: Int = 200, extra: [String: String] = [:]) throws -> ChildProcess {
            var environment = ["DATABASE_URL": databaseURL, "AMQP_URL": amqpURL, "TESTBED_QUEUE": queue,
                               "TESTBED_DELAY_MS": String(delayMs), "TESTBED_BATCH_SIZE": String(batchSize)]
            for (key, value) in extra { environment[key] = value }
            return try ChildProcess("runtime-testbed", environment: environment)
        }

        /// Publishes `count` messages, each adding `amount = index % 7 + 1` to key `k<index % 50>`;
        /// returns the expected totals.
        func publish(_ range: Range<Int>, publisher: AMQPPublisher) async throws -> [String: Int64] {
            var expected: [String: Int64] = [:]
            var messages: [AMQPMessage] = []
            for index in range {
                let item = CounterHandler.Item(key: "k\(index % 50)", amount: Int64(index % 7 + 1))
                expected[item.key, default: 0] += item.amount
                let id = "msg-\(index)"
                messages.append(AMQPMessage(
                    exchange: CounterHandler.exchange, routingKey: "\(queue).add",
                    body: try Envelope.encode(type: "counter.add", project: "p", id: id, payload: CounterHandler.Payload(items: [item])),
                    messageID: id))
                if messages.count == 1000 {
                    try await publisher.publish(messages)
                    messages.removeAll()
                }
            }
            try await publisher.publish(messages)
            return expected
        }

        func totals() async throws -> [String: Int64] {
            let connection = try await PGConnection.connect(PGConfiguration(url: databaseURL), logger: TestStack.logger)
            defer { Task { await connection.close() } }
            var totals: [String: Int64] = [:]
            for row in try await connection.query("SELECT key, total FROM testbed.counters") {
                totals[try row.decode(String.self, 0)] = try row.decode(Int64.self, 1)
            }
            return totals
        }

        func appliedSum() async -> Int64 {
            ((try? await totals()) ?? [:]).values.reduce(0, +)
        }

        /// Distinct message ids the outbox relay published to `<queue>.applied`.
        func appliedEvents(expected: Int) async throws -> Set<String> {
            let consumer = AMQPConsumer(configuration: amqp, queue: queue + ".applied", topology: topology, prefetch: 1000,
                                        logger: TestStack.logger)
            var ids = Set<String>()
            while true {
                let batch = try await consumer.receive(max: 1000, wait: ids.count >= expected ? 1 : 30, linger: 0.05)
                if batch.isEmpty { break }
                batch.forEach { ids.insert($0.messageID ?? "") }
                try await consumer.ack(batch)
            }
            await consumer.close()
            return ids
        }
    }

    @Test func workerKilledWithSIGKILLMidBatchLosesNothingAndCountsNothingTwice() async throws {
        let world = try await World.make()
        let publisher = AMQPPublisher(configuration: world.amqp, topology: world.topology, logger: TestStack.logger)
        let count = 6000
        let expected = try await world.publish(0..<count, publisher: publisher)
        let target = expected.values.reduce(0, +)
        var kills = 0
        // Kills land inside a batch's transaction or between its commit and its ack; the
        // latter redelivers applied messages, which only the processed-id check keeps from
        // counting twice (TESTBED_SKIP_PROCESSED=0 in this environment makes this test fail).
        let skip = TestStack.environment["TESTBED_SKIP_PROCESSED"] ?? "1"
        for round in 1...4 {
            let worker = try world.worker(delayMs: 100, batchSize: 200,
                                          extra: ["TESTBED_PAUSE_AFTER_COMMIT_MS": "100", "TESTBED_SKIP_PROCESSED": skip])
            // Kill while a batch is inside its transaction: wait for progress, then a little more.
            let before = await world.appliedSum()
            let progressed = await TestStack.eventually(seconds: 60) { await world.appliedSum() > before }
            #expect(progressed, "round \(round): no progress\n\(worker.log)")
            try await Task.sleep(for: .milliseconds(70 + round * 40))
            worker.signal(SIGKILL)
            _ = await worker.waitForExit(seconds: 10)
            kills += 1
            if await world.appliedSum() >= target { break }
        }
        #expect(kills >= 1)
        let worker = try world.worker(extra: ["TESTBED_SKIP_PROCESSED": skip])
        let done = await TestStack.eventually(seconds: 120) { await world.appliedSum() >= target }
        #expect(done, "\(worker.log)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await world.totals() == expected)
        // Every message's outbox event was published at least once (the relay runs in the
        // same process; copies republished after a kill are expected and collapse by id).
        let events = try await world.appliedEvents(expected: count)
        let missing = Set((0..<count).map { "msg-\($0):applied" }).subtracting(events)
        #expect(missing.isEmpty, "\(missing.count) events never published, e.g. \(missing.sorted().prefix(5))")
        #expect(events.count == count)
        worker.signal(SIGTERM)
        _ = await worker.waitForExit(seconds: 30)
        await publisher.close()
    }

    @Test func workerReconnectsAfterRabbitMQRestartAndFinishes() async throws {
        let stack = PrivateStack(pgPort: 25472, amqpPort: 5703)
        try stack.stack("start-rabbitmq")
        defer { _ = try? stack.stack("stop-rabbitmq") }
        let world = try await World.make(amqpURL: stack.amqpURL)
        let publisher = AMQPPublisher(configuration: world.amqp, topology: world.topology, logger: TestStack.logger)
        var expected = try await world.publish(0..<3000, publisher: publisher)
        let worker = try world.worker(delayMs: 20)
        let progressed = await TestStack.eventually(seconds: 60) { await world.appliedSum() > 0 }
        #expect(progressed)
        try stack.stack("stop-rabbitmq")
        try stack.stack("start-rabbitmq")
        // The publisher reconnects too.
        for (key, value) in try await world.publish(3000..<6000, publisher: publisher) { expected[key, default: 0] += value }
        let target = expected.values.reduce(0, +)
        let done = await TestStack.eventually(seconds: 180) { await world.appliedSum() >= target }
        #expect(done, "\(worker.log)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await world.totals() == expected)
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(seconds: 30) == 0)
        await publisher.close()
    }

    @Test func workerRetriesThroughPostgreSQLRestartAndFinishes() async throws {
        let stack = PrivateStack(pgPort: 25482, amqpPort: 5713)
        try stack.stack("start-postgres")
        defer { _ = try? stack.stack("stop-postgres") }
        let world = try await World.make(databaseServer: stack.databaseURL)
        let publisher = AMQPPublisher(configuration: world.amqp, topology: world.topology, logger: TestStack.logger)
        let expected = try await world.publish(0..<6000, publisher: publisher)
        let target = expected.values.reduce(0, +)
        let worker = try world.worker(delayMs: 30)
        let progressed = await TestStack.eventually(seconds: 60) { await world.appliedSum() > 0 }
        #expect(progressed)
        try stack.stack("stop-postgres")
        try await Task.sleep(for: .seconds(1))
        try stack.stack("start-postgres")
        let done = await TestStack.eventually(seconds: 180) { await world.appliedSum() >= target }
        #expect(done, "\(worker.log)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await world.totals() == expected)
        // Nothing was dead-lettered: a database outage is not the messages' fault.
        #expect(try await AMQPAdmin.queueStatus(world.queue + ".dead", configuration: world.amqp).messages == 0)
        worker.signal(SIGTERM)
        #expect(await worker.waitForExit(seconds: 30) == 0)
        await publisher.close()
    }

    @Test func undecodableAndAlwaysFailingMessagesAreDeadLetteredWithAReason() async throws {
        let world = try await World.make()
        let publisher = AMQPPublisher(configuration: world.amqp, topology: world.topology, logger: TestStack.logger)
        let worker = try world.worker()
        let poison = try Envelope.encode(type: "counter.add", project: "p", id: "poison-1",
                                         payload: CounterHandler.Payload(items: [.init(key: CounterHandler.poisonKey, amount: 1)]))
        try await publisher.publish([
            AMQPMessage(exchange: CounterHandler.exchange, routingKey: "\(world.queue).add", body: Array("not json {".utf8), messageID: "garbage-1"),
            AMQPMessage(exchange: CounterHandler.exchange, routingKey: "\(world.queue).add",
                        body: Array(#"{"v":1,"type":"counter.add","project":"p","id":"x","occurred_at":"yesterday","payload":{}}"#.utf8),
                        messageID: "bad-time-1"),
            AMQPMessage(exchange: CounterHandler.exchange, routingKey: "\(world.queue).add", body: poison, messageID: "poison-1"),
        ])
        let expected = try await world.publish(0..<500, publisher: publisher)
        let done = await TestStack.eventually(seconds: 120) {
            let applied = await world.appliedSum()
            let dead = (try? await AMQPAdmin.queueStatus(world.queue + ".dead", configuration: world.amqp).messages) ?? 0
            return applied >= expected.values.reduce(0, +) && dead >= 3
        }
        #expect(done, "\(worker.log)")
        #expect(try await world.totals() == expected)
        let dead = AMQPConsumer(configuration: world.amqp, queue: world.queue + ".dead", topology: world.topology, prefetch: 10,
                                logger: TestStack.logger)
        let letters = try await dead.receive(max: 10, wait: 5, linger: 0.5)
        #expect(letters.count == 3, "\(letters.map { ($0.messageID ?? "-", $0.headers["x-error"]?.stringValue ?? "") })\n\(worker.log)")
        let reasons = Dictionary(letters.map { ($0.messageID ?? "", $0.headers["x-error"]?.stringValue ?? "") }) { first, _ in first }
        #expect(reasons["garbage-1"]?.contains("undecodable") == true)
        #expect(reasons["bad-time-1"]?.contains("occurred_at") == true)
        #expect(reasons["poison-1"]?.contains("poison key") == true)
        #expect(letters.first { $0.messageID == "poison-1" }?.headers["x-attempts"] == .int(3))
        #expect(letters.allSatisfy { $0.headers["x-original-queue"] == .string(world.queue) })
        try await dead.ack(letters)
        await dead.close()
        // The worker kept going: it is still alive and still consuming.
        #expect(worker.process.isRunning)
        worker.signal(SIGTERM)
        _ = await worker.waitForExit(seconds: 30)
        await publisher.close()
    }

    @Test func sigtermStopsTheWorkerWithinItsLimitWithNothingLost() async throws {
        let world = try await World.make()
        let publisher = AMQPPublisher(configuration: world.amqp, topology: world.topology, logger: TestStack.logger)
        let expected = try await world.publish(0..<4000, publisher: publisher)
        let target = expected.values.reduce(0, +)
        let worker = try world.worker(delayMs: 400, batchSize: 100, extra: ["TESTBED_SHUTDOWN_SECONDS": "10"])
        let progressed = await TestStack.eventually(seconds: 60) { await world.appliedSum() > 0 }
        #expect(progressed)
        worker.signal(SIGTERM)
        // It exits by itself with status 0, well inside its 10 s limit plus process teardown.
        let status = await worker.waitForExit(seconds: 30)
        #expect(status == 0, "\(worker.log)")
        #expect(worker.log.contains("worker stopped"))
        let partial = await world.appliedSum()
        #expect(partial < target)
        let second = try world.worker()
        let done = await TestStack.eventually(seconds: 120) { await world.appliedSum() >= target }
        #expect(done)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await world.totals() == expected)
        second.signal(SIGTERM)
        _ = await second.waitForExit(seconds: 30)
        await publisher.close()
    }
}
