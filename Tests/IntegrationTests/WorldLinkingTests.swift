import AMQP
import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Sandbox
import Testing

/// The identity resolver over generated worlds: its links equal the world's ground truth, and
/// neither the order things arrive in nor the number of replicas changes them.
@Suite struct WorldLinkingTests {
    static let world = World(World.Spec(seed: 20_261_123, days: 45, people: 500))

    /// Feeds `messages` to a fresh database, a few messages per transaction as the worker does.
    static func feed(_ messages: [[UInt8]], seed: UInt64 = 1, world: World = Self.world) async throws -> LinkBench {
        let bench = try await LinkBench.make()
        try await WorldFeed.storeCRM(world, in: bench.pool)
        var random = SplitMix64(seed: seed)
        var index = 0
        while index < messages.count {
            let take = min(messages.count - index, 1 + random.below(4))
            try await bench.handle(try messages[index..<(index + take)].map { try Envelope(decoding: $0) })
            index += take
        }
        return bench
    }

    @Test func theGeneratedWorldLinksExactlyAsItsGroundTruthSays() async throws {
        let world = Self.world
        #expect(world.visits.count > 1500 && world.leads.count > 150 && world.deals.count > 25)
        #expect(Set(world.deals.compactMap { $0.truth?.rule }) == ["request_id", "visit_id", "contact_near", "contact_earlier"])
        #expect(world.deals.contains { $0.truth == nil && $0.status == "won" })  // orphan revenue
        #expect(!world.duplicateTruth.isEmpty)
        let bench = try await Self.feed(try WorldFeed.messages(world))

        #expect(try await bench.duplicates() == world.duplicateTruth)
        let links = try await bench.dealLinks()
        for deal in world.deals {
            let expected = deal.truth.map { "\($0.lead) \($0.rule)" } ?? "- none"
            #expect(links["\(deal.connection)/\(deal.id)"] == expected, "deal \(deal.connection)/\(deal.id) of person \(deal.person)")
        }
        let customers = Set(try await bench.customers().values)
        #expect(customers == world.customerTruth)

        // Touches: definition 3 computed the plain way.
        let visits = Dictionary(uniqueKeysWithValues: world.visits.map { ($0.visitID, $0) })
        var expected: [String: [String]] = [:]
        for lead in world.leads.map(\.tracked) {
            let at = Timestamp.parse(lead.occurredAt)!
            let client = lead.clientID ?? lead.visitID.flatMap { visits[$0]?.clientID }
            let chosen = world.visits.filter { visit in
                let start = Timestamp.parse(visit.occurredAt)!
                return visit.visitID == lead.visitID
                    || (visit.clientID != nil && visit.clientID == client && start <= at && start >= at.addingTimeInterval(-30 * 86_400))
            }.sorted { a, b in
                let (x, y) = (Timestamp.parse(a.occurredAt)!, Timestamp.parse(b.occurredAt)!)
                return x != y ? x < y : a.visitID < b.visitID
            }
            if !chosen.isEmpty { expected[lead.requestID] = chosen.map { $0.visitID + ($0.visitID == lead.visitID ? "*" : "") } }
        }
        #expect(try await bench.touches() == expected)
        await bench.pool.close()
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func shuffledArrivalGivesTheLinksOfInOrderArrival(seed: UInt64) async throws {
        let inOrder = try await Self.feed(try WorldFeed.messages(Self.world))
        let expected = try await inOrder.snapshot()
        await inOrder.pool.close()
        // Deals before their leads, leads before their visits, records twice, mixed messages.
        let shuffled = try await Self.feed(try WorldFeed.messages(Self.world, chunk: 30, shuffleSeed: seed), seed: seed)
        let got = try await shuffled.snapshot()
        #expect(got.count == expected.count)
        #expect(got == expected ? true : false, "first difference: \(zip(got, expected).first { $0 != $1 }.map { "\($0.0) vs \($0.1)" } ?? "lengths")")
        await shuffled.pool.close()
    }

    /// Few people, many records each: concurrent batches keep landing on the same customers.
    static let crowded: World = {
        var spec = World.Spec(seed: 77, days: 20, people: 80)
        spec.leadShare = 0.9
        spec.secondLeadShare = 0.6
        spec.duplicateShare = 0.4
        spec.dealShare = 0.6
        return World(spec)
    }()

    @Test func twoResolverReplicasProduceTheLinksOfOne() async throws {
        let inOrder = try await Self.feed(try WorldFeed.messages(Self.crowded), world: Self.crowded)
        let expected = try await inOrder.snapshot()
        await inOrder.pool.close()

        // Two identity-resolver processes on a broker vhost of this test's own, one database.
        let vhost = try TestStack.freshVirtualHost(TestStack.unique("replicas"))
        defer { vhost.delete() }
        let amqpURL = vhost.amqpURL
        let amqp = try AMQPConfiguration(url: amqpURL)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await WorldFeed.storeCRM(Self.crowded, in: pool)
        let config = "/tmp/\(vhost.name).yaml"
        try "projects:\n  - id: school\n    name: School\n".write(toFile: config, atomically: true, encoding: .utf8)
        try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
        let environment = ["DATABASE_URL": database, "AMQP_URL": amqpURL]
        // Two processes of two consume loops each: four replicas.
        let replicas = try (0..<2).map { _ in
            try ChildProcess("identity-resolver", arguments: ["--config", config, "--concurrency", "2"], environment: environment)
        }
        // All consume before anything is published, so the broker deals the messages out to all.
        let consuming = await TestStack.eventually(seconds: 60) {
            ((try? await AMQPAdmin.queueStatus(ClusterTopology.identityQueue, configuration: amqp).consumers) ?? 0) == 4
        }
        #expect(consuming, "\(replicas.map(\.log))")
        let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, logger: TestStack.logger)
        // One record per message, shuffled: each replica's batches hold records of the very
        // people the other's batches hold.
        let messages = try WorldFeed.messages(Self.crowded, chunk: 1, shuffleSeed: 99)
        try await publisher.publish(messages.map {
            AMQPMessage(exchange: ClusterTopology.exchange, routingKey: try Envelope(decoding: $0).type, body: $0, messageID: UUID().uuidString)
        })
        await publisher.close()
        // Drained: nothing ready and nothing delivered but unacknowledged (rabbitmqctl counts both).
        let drained = await TestStack.eventually(seconds: 150) {
            let listing = (try? TestStack.rabbitmqctl(["list_queues", "-p", vhost.name, "--no-table-headers", "-q", "name", "messages"])) ?? ""
            return listing.split(separator: "\n").contains { $0.split(whereSeparator: \.isWhitespace) == [Substring(ClusterTopology.identityQueue), "0"] }
        }
        #expect(drained, "\(replicas.map(\.log))")
        // Both stop after their batch in hand; nothing left means every message was applied.
        for replica in replicas { replica.signal(SIGTERM) }
        for replica in replicas { #expect(await replica.waitForExit(seconds: 60) == 0, "\(replica.log)") }
        #expect(try await AMQPAdmin.queueStatus(ClusterTopology.identityQueue, configuration: amqp).messages == 0, "\(replicas.map(\.log))")
        #expect(try await AMQPAdmin.queueStatus(AMQPTopology.deadLetterQueueName(for: ClusterTopology.identityQueue), configuration: amqp).messages == 0)
        let got = try await LinkBench(pool: pool, handler: IdentityHandler(projects: []), project: "school").snapshot()
        #expect(got == expected ? true : false,
                "first difference: \(zip(got, expected).first { $0 != $1 }.map { "\($0.0) vs \($0.1)" } ?? "lengths \(got.count) vs \(expected.count)")")
        await pool.close()
    }
}
