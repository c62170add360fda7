import AMQP
import Aggregation
import Domain
import Foundation
import OperatorCLI
import Postgres
import Reporting
import Runtime
import Sandbox
import Settings
import Testing

/// `analytics report` and `analytics status` (issue 7): the report of a fixed world matches
/// golden files in every grouping and format, CSV and JSON parse back to the report's own
/// figures; the status names each source's last run, unknown stages, queue depths and dead
/// letters.
@Suite(.serialized) struct ReportCommandTests {
    static let goldenDirectory = TestStack.repositoryRoot.appendingPathComponent("Tests/IntegrationTests/Golden")

    /// A fixed world, linked and aggregated (spend in roubles as the collectors store it).
    static func aggregatedWorld() async throws -> PGPool {
        let world = World(World.Spec(seed: 21, days: 20, people: 160))
        let bench = try await ReportWorldTests.linkedWorld(world)
        // Three managers share the deals (by deal id), as a sales team would.
        try await bench.pool.withTransaction { connection in
            try await connection.query("""
                INSERT INTO crm.users (project_id, connection_id, user_id, name)
                SELECT 'school', c, u, n FROM unnest(ARRAY['amo', 'amo', 'amo', 'b24', 'b24', 'b24'], ARRAY['0', '1', '2', '0', '1', '2'],
                                                     ARRAY['Анна Смирнова', 'Олег Петров', 'Мария Ким', 'Анна Смирнова', 'Олег Петров', 'Мария Ким']) AS t(c, u, n)
                """)
            try await connection.query("UPDATE crm.deals SET manager_id = (deal_id::int8 % 3)::text")
            try await ReportBuilder(project: ReportWorldTests.project).rebuild(days: nil, on: connection)
        }
        return bench.pool
    }

    static func output(_ arguments: [String], pool: PGPool) async throws -> String {
        let command = try ChannelReportCommand.parse(arguments)
        return try await pool.withConnection { try await ChannelReportCommand.render(command, project: ReportWorldTests.project, on: $0) }
    }

    /// Compares with `Golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file instead.
    static func expectGolden(_ text: String, _ name: String) throws {
        let url = goldenDirectory.appendingPathComponent(name)
        if TestStack.environment["UPDATE_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        #expect(text == golden, "\(name) differs from its golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change):\n\(text)")
    }

    @Test func theReportOfAFixedWorldMatchesItsGoldenFilesAndItsCSVAndJSONParseBack() async throws {
        let pool = try await Self.aggregatedWorld()
        defer { Task { await pool.close() } }
        try Self.expectGolden(try await Self.output(["--model", "linear"], pool: pool), "report-linear.txt")
        try Self.expectGolden(try await Self.output(["--model", "first_click", "--depth", "1", "--sort", "revenue", "--from", "2026-03-05",
                                                     "--to", "2026-03-14"], pool: pool), "report-first-click-channels.txt")
        try Self.expectGolden(try await Self.output(["--group-by", "manager"], pool: pool), "report-managers.txt")
        try Self.expectGolden(try await Self.output(["--group-by", "product", "--sort", "revenue"], pool: pool), "report-products.txt")
        let csv = try await Self.output(["--model", "time_decay", "--format", "csv"], pool: pool)
        try Self.expectGolden(csv, "report-time-decay.csv")
        let json = try await Self.output(["--model", "position_based", "--depth", "2", "--format", "json"], pool: pool)
        try Self.expectGolden(json, "report-position-based.json")

        // CSV back: one line per row plus the total, every cell the report's figure rounded once.
        let report = try await pool.withConnection { connection in
            let range = try await ReportQuery.dataRange(project: "school", on: connection)!
            return try await ReportQuery.load(Report.Request(project: "school", model: "time_decay", from: range.from, to: range.to), on: connection)
        }
        let table = try DelimitedText(csv)
        #expect(table.header == ["level", "channel", "source", "campaign"] + Report.Grouping.channel.columns.map(\.rawValue))
        #expect(table.rows.count == report.rows.count + 1)
        for (line, row) in zip(table.rows, report.rows) {
            #expect(line.fields[0] == String(row.level))
            #expect(Array(line.fields[1...row.path.count]) == row.path)
            for (offset, column) in Report.Grouping.channel.columns.enumerated() {
                let cell = line.fields[4 + offset]
                let value = row.figures.value(column)
                #expect(cell.isEmpty == (value == nil))
                if let value { #expect(Decimal(string: cell) == value.rounded(places: column.places), "\(row.path) \(column)") }
            }
        }
        let totalLine = table.rows.last!
        #expect(totalLine.fields[0] == "total")
        #expect(Decimal(string: totalLine.fields[4 + 2]) == report.total.spend.rounded(places: 2))

        // JSON back: numbers exact to the cell, undefined ratios null, the total equal to the truth.
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        #expect(parsed["model"]?.text == "position_based")
        let rows = try #require(parsed["rows"]?.array)
        #expect(rows.allSatisfy { ($0["level"]?.text).flatMap(Int.init).map { $0 <= 1 } ?? false })
        let truth = ReportWorldTests.truth(World(World.Spec(seed: 21, days: 20, people: 160)))
        #expect(parsed["total"]?["revenue"]?.text.flatMap { Decimal(string: $0) } == truth.revenue)
        #expect(parsed["total"]?["spend"]?.text.flatMap { Decimal(string: $0) } == truth.spend.rounded(places: 2))
        #expect(parsed["total"]?["leads"]?.text.flatMap { Decimal(string: $0) } == truth.leads)
        let undefined = rows.filter { $0["romi"] == .null }
        #expect(undefined.allSatisfy { $0["spend"]?.text.flatMap { Decimal(string: $0) } == 0 })
        #expect(!undefined.isEmpty)
    }

    @Test func badReportRequestsAreRefusedNamingTheFlag() async throws {
        #expect(throws: (any Error).self) { try ChannelReportCommand.parse(["--model", "last_touch"]) }
        #expect(throws: (any Error).self) { try ChannelReportCommand.parse(["--depth", "4"]) }
        #expect(throws: (any Error).self) { try ChannelReportCommand.parse(["--group-by", "city"]) }
        #expect(throws: (any Error).self) { try ChannelReportCommand.parse(["--month", "2026-03", "--from", "2026-03-01"]) }
        let pool = PGPool(PGConfiguration(url: try await TestStack.freshDatabase()), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        // An empty mart says so instead of printing an empty table.
        #expect(try await Self.output([], pool: pool).contains("the report is empty"))
        do {
            _ = try await Self.output(["--from", "2026-03-10", "--to", "2026-03-01"], pool: pool)
            Issue.record("a reversed period was accepted")
        } catch {
            #expect("\(error)".contains("ends before it starts"))
        }
    }

    @Test func statusNamesEachSourcesLastRunUnknownStagesQueueDepthsAndDeadLetters() async throws {
        let vhost = try TestStack.freshVirtualHost(TestStack.unique("status"))
        defer { vhost.delete() }
        let amqpURL = vhost.amqpURL
        let amqp = try AMQPConfiguration(url: amqpURL)
        try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
        let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, logger: TestStack.logger)
        // Two events waiting for the aggregator, one dead letter of the identity resolver.
        try await publisher.publish([
            AMQPMessage(exchange: ClusterTopology.exchange, routingKey: ClusterTopology.spendUpdated, body: Array("{}".utf8), messageID: "m1"),
            AMQPMessage(exchange: ClusterTopology.exchange, routingKey: ClusterTopology.attributionDirty, body: Array("{}".utf8), messageID: "m2"),
            AMQPMessage(exchange: AMQPTopology.deadLetterExchange, routingKey: ClusterTopology.identityQueue, body: Array("{}".utf8), messageID: "m3"),
        ])
        await publisher.close()

        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        try await pool.withTransaction { connection in
            try await connection.query("""
                INSERT INTO spend.runs (project_id, run_id, source_id, account, first_day, last_day, status, started_at, finished_at, error) VALUES
                  ('school', gen_random_uuid(), 'direct', 'a', '2026-03-01', '2026-03-31', 'succeeded', now() - interval '2 hours', now() - interval '2 hours', NULL),
                  ('school', gen_random_uuid(), 'direct', 'a', '2026-03-25', '2026-04-01', 'failed', now() - interval '1 hour', now() - interval '1 hour',
                   'yandex_direct account a 2026-03-25..2026-04-01: 53: authorization error'),
                  ('school', gen_random_uuid(), 'vk', 'b', '2026-03-01', '2026-03-31', 'failed', now() - interval '1 hour', now() - interval '1 hour', 'token revoked')
                """)
            try await connection.query("""
                INSERT INTO crm.sync_state (project_id, connection_id, deals_watermark, full_sync_done_at) VALUES ('school', 'amo', now() - interval '30 seconds', now())
                """)
            try await connection.query("""
                INSERT INTO crm.deals (project_id, connection_id, deal_id, crm, pipeline_id, stage_id, status, created_at, updated_at, amount, currency)
                VALUES ('school', 'amo', '1', 'amocrm', '3001', '99999', 'unknown', now(), now(), 100, 'RUB'),
                       ('school', 'amo', '2', 'amocrm', '3001', '142', 'won', now(), now(), 100, 'RUB')
                """)
        }
        let settings = Settings(databaseURL: database, amqpURL: amqpURL, projects: [
            Project(id: "school", name: "School", sources: [Source(id: "direct", kind: "yandex_direct"), Source(id: "vk", kind: "vk_ads"),
                                                            Source(id: "amo", kind: "amocrm"), Source(id: "b24", kind: "bitrix24")]),
        ])
        let management = TestStack.environment["RABBITMQ_MANAGEMENT_URL"]
        let status = try await ClusterStatus.read(settings: settings, pool: pool, managementURL: management)
        let direct = try #require(status.sources.first { $0.source == "direct" })
        #expect(direct.coveredTo == LocalDay(iso: "2026-03-31"))
        #expect(direct.lastFailure?.contains("authorization error") == true)
        let vk = try #require(status.sources.first { $0.source == "vk" })
        #expect(vk.lastSuccess == nil && vk.lastFailure?.contains("token revoked") == true)
        let amo = try #require(status.sources.first { $0.source == "amo" })
        #expect(amo.fullSyncDone && amo.unknownStageDeals == 1)
        #expect(status.sources.first { $0.source == "b24" }?.fullSyncDone == false)
        let aggregator = try #require(status.backlog.queues.first { $0.queue == ClusterTopology.aggregatorQueue })
        #expect(aggregator.ready == 2 && aggregator.consumers == 0 && aggregator.deadLetters == 0)
        #expect(status.backlog.queues.first { $0.queue == ClusterTopology.identityQueue }?.deadLetters == 1)
        if management != nil {
            #expect(status.backlog.managementProblem == nil)
            #expect(aggregator.unacknowledged == 0)
        }
        #expect(!status.backlog.isIdle && !status.backlog.crmSynced)
        let text = status.text
        #expect(text.contains("school/direct (yandex_direct): last successful run 2 h ago, spend through 2026-03-31"))
        #expect(text.contains("failed since: 2026-03-25..2026-04-01"))
        #expect(text.contains("1 deals in unknown stages"))
        #expect(text.contains("school/b24 (bitrix24): first full sync not finished"))
        #expect(text.contains("aggregator: 2 /"))
        #expect(!text.contains("guest:guest"))
    }
}
