import AMQP
import Aggregation
import Domain
import Foundation
import Postgres
import Runtime
import Sandbox
import Settings
import Testing

/// The `aggregator` and `identity-resolver` executables on the broker: a world's visits, leads,
/// deal changes and spend updates published as the tracker, deal-sync and the collectors publish
/// them end in the mart a full rebuild gives — with the aggregator killed (SIGKILL) mid-way and
/// started again (issue 6).
@Suite struct AggregatorProcessTests {
    /// What the configuration file below says.
    static let project = Project(id: "school", name: "School", timeZone: "Europe/Moscow",
                                 sources: [Source(id: "amo", kind: "amocrm"), Source(id: "b24", kind: "bitrix24")])

    @Test func theWorkersKeepTheMartEqualToAFullRebuildThroughAKilledAggregator() async throws {
        let vhost = try TestStack.freshVirtualHost(TestStack.unique("agg"))
        defer { vhost.delete() }
        let amqpURL = vhost.amqpURL
        let amqp = try AMQPConfiguration(url: amqpURL)
        try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)

        let world = World(World.Spec(seed: 12, days: 20, people: 150))
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        try await WorldFeed.storeCRM(world, in: pool)
        let config = "/tmp/\(vhost.name).yaml"
        try """
            projects:
              - id: school
                name: School
                time_zone: Europe/Moscow
                sources:
                  - {id: amo, kind: amocrm}
                  - {id: b24, kind: bitrix24}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["DATABASE_URL": database, "AMQP_URL": amqpURL]
        let resolver = try ChildProcess("identity-resolver", arguments: ["--config", config], environment: environment)
        var aggregator = try ChildProcess("aggregator", arguments: ["--config", config, "--linger", "0.05"], environment: environment)

        // Everything published at once: the tracker's batches, deal-sync's deal changes, the
        // collectors' spend updates.
        let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, logger: TestStack.logger)
        var messages = try WorldFeed.messages(world).map { (ClusterTopology.eventsTracked, $0) }
        for index in messages.indices where try Envelope(decoding: messages[index].1).type == ClusterTopology.dealChanged {
            messages[index].0 = ClusterTopology.dealChanged
        }
        try await pool.withTransaction { connection in
            _ = try await connection.query("""
                INSERT INTO spend.facts (project_id, source_id, account, day, campaign_id, utm_source, utm_campaign, impressions, clicks, cost_micros,
                                         currency, vat_included, spend)
                SELECT 'school', 'yandex', 'acc', d::date, 'c1', 'yandex', 'Весна', 100, 10, 5000000000, 'RUB', false, 5000
                FROM generate_series($1::date, $1::date + 19, interval '1 day') AS d
                """, [world.spec.start])
        }
        let first = LocalDay(iso: world.spec.start)!
        messages.append((ClusterTopology.spendUpdated, try ReportWorldTests.spendUpdated(world, from: first, to: first.advanced(by: 19)).raw))
        try await publisher.publish(messages.map {
            AMQPMessage(exchange: ClusterTopology.exchange, routingKey: $0.0, body: $0.1, messageID: UUID().uuidString)
        })

        // Killed as soon as it has written something, then started again.
        #expect(await TestStack.eventually(seconds: 120) {
            ((try? await pool.query("SELECT count(*) FROM report.cells")[0].decode(Int.self, 0)) ?? 0) > 0
        }, "\(aggregator.log)")
        aggregator.signal(SIGKILL)
        _ = await aggregator.waitForExit(seconds: 10)
        aggregator = try ChildProcess("aggregator", arguments: ["--config", config, "--linger", "0.05"], environment: environment)

        // Settled: both queues and the outbox empty three checks in a row.
        var quiet = 0
        let settled = await TestStack.eventually(seconds: 180) {
            let identity = (try? await AMQPAdmin.queueStatus(ClusterTopology.identityQueue, configuration: amqp).messages) ?? 1
            let aggregation = (try? await AMQPAdmin.queueStatus(ClusterTopology.aggregatorQueue, configuration: amqp).messages) ?? 1
            let outbox = (try? await pool.query("SELECT count(*) FROM runtime.outbox")[0].decode(Int.self, 0)) ?? 1
            quiet = identity + aggregation + outbox == 0 ? quiet + 1 : 0
            if quiet < 3 { try? await Task.sleep(for: .milliseconds(500)) }
            return quiet >= 3
        }
        #expect(settled, "\(resolver.log)\n\(aggregator.log)")
        let current = try await ReportWorldTests.snapshot(pool)
        try await pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }
        let rebuilt = try await ReportWorldTests.snapshot(pool)
        #expect(current.count == rebuilt.count)
        #expect(current == rebuilt)
        let visits = try await pool.query("SELECT sum(visits)::int8 FROM report.cells")[0].decode(Int.self, 0)
        #expect(visits == world.visits.count)

        for worker in [resolver, aggregator] {
            worker.signal(SIGTERM)
            #expect(await worker.waitForExit(seconds: 30) == 0, "\(worker.log)")
        }
        await publisher.close()
    }
}
