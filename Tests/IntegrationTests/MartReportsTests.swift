import Aggregation
import Attribution
import Domain
import Foundation
import Postgres
import Sandbox
import Settings
import Testing

/// The mart's ratios, media plans and `analytics explain` (issue 6).
@Suite struct MartReportsTests {
    static func decimal(_ row: PGRow, _ column: Int) throws -> Decimal? {
        try row.decode(String?.self, column).map { Decimal(string: $0)! }
    }

    @Test func ratiosOnZeroSpendZeroLeadsAndRefundsAreNullOrExact() async throws {
        let url = try await TestStack.freshDatabase()
        let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        defer { Task { await connection.close() } }
        // Cells: (a) nothing but visits; (b) spend, clicks, leads, a sale with cost of goods; (c) a
        // refund larger than what was paid that day (negative revenue); (d) leads without spend.
        try await connection.simpleQuery("""
            INSERT INTO report.cells (project_id, day, channel, source, medium, campaign, ad, keyword, impressions, clicks, spend, visits,
                                      leads, qualified_leads, deals, sales, revenue, cost_of_goods)
            SELECT 'p', '2026-11-01', 'paid_search', s, '', '', '', '', i, c, sp, v,
                   array_fill(l, ARRAY[7]), array_fill(0::numeric, ARRAY[7]), array_fill(0::numeric, ARRAY[7]), array_fill(sa, ARRAY[7]),
                   array_fill(r, ARRAY[7]), array_fill(g, ARRAY[7])
            FROM (VALUES ('a', 0, 0, 0::numeric, 10, 0::numeric, 0::numeric, 0::numeric, 0::numeric),
                         ('b', 1000, 50, 1000, 40, 4, 1, 3000, 500),
                         ('c', 0, 0, 1000, 0, 0, 0, -100, 0),
                         ('d', 0, 0, 0, 5, 2.5, 0.5, 700, 0)) AS t(s, i, c, sp, v, l, sa, r, g);
            """)
        let rows = try await connection.query("""
            SELECT source, ctr::text, cpc::text, cpl::text, cpo::text, romi::text, romi_margin::text FROM mart.channel_report
            WHERE model = 'position_based' ORDER BY source
            """)
        func values(_ index: Int) throws -> [Decimal?] { try (1...6).map { try Self.decimal(rows[index], $0) } }
        #expect(rows.count == 4)
        #expect(try values(0) == [nil, nil, nil, nil, nil, nil])
        #expect(try values(1) == [Decimal(string: "0.05"), 20, 250, 1000, 2, Decimal(string: "1.5")])
        #expect(try values(2) == [nil, nil, nil, nil, Decimal(string: "-1.1"), Decimal(string: "-1.1")])
        #expect(try values(3) == [nil, nil, 0, 0, nil, nil])
        // Every model repeats the model-free columns.
        let spend = try await connection.query("SELECT DISTINCT sum(spend)::text FROM mart.channel_report GROUP BY model")
        #expect(try spend.map { try $0.decode(String.self, 0) } == ["2000"])
    }

    @Test func mediaPlansImportFromCSVAndMeetTheActualSpendAndLeads() async throws {
        let url = try await TestStack.freshDatabase()
        let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        defer { Task { await connection.close() } }
        // Bad files name the line and column and write nothing.
        for (text, problem) in [
            ("month;channel;planned_spend;planned_leads\n2026-11;paid_search;1000;10\n2026-13;social;5;1\n", "line 3: month: '2026-13'"),
            ("month,channel,planned_spend,planned_leads\n2026-11,tv,1000,10\n", "line 2: channel: 'tv' is not a channel"),
            ("month,channel,planned_spend,planned_leads\n2026-11,display,-5,10\n", "line 2: planned_spend: '-5'"),
            ("month,channel,planned_spend,planned_leads\n2026-11,display,5,1\n2026-11-01,display,6,1\n", "line 3: channel: display in 2026-11-01 is planned twice"),
            ("month,channel,spend_plan\n2026-11,display,5\n", "the header must name"),
        ] {
            #expect(throws: CSVError.self) { try MediaPlan.parse(text) }
            do { _ = try MediaPlan.parse(text) } catch { #expect("\(error)".contains(problem), "\(error)") }
        }
        try await MediaPlan.store(try MediaPlan.parse("""
            month;channel;planned_spend;planned_leads
            2026-11;paid_search;100000,50;40
            2026-11;social;0;0
            2026-12;paid_search;90000;30
            """), project: "p", on: connection)
        // Re-importing November replaces November only.
        try await MediaPlan.store(try MediaPlan.parse("month,channel,planned_spend,planned_leads\n2026-11,paid_search,80000,40\n"),
                                  project: "p", on: connection)
        try await connection.simpleQuery("""
            INSERT INTO report.cells (project_id, day, channel, source, medium, campaign, ad, keyword, spend, leads, qualified_leads, deals, sales,
                                      revenue, cost_of_goods)
            SELECT 'p', d::date, 'paid_search', 'yandex', 'cpc', '', '', '', 30000, array_fill(10::numeric, ARRAY[7]), z, z, z, z, z
            FROM unnest(ARRAY['2026-11-03', '2026-11-20']) AS d, (SELECT array_fill(0::numeric, ARRAY[7]) AS z) AS zeros;
            """)
        let rows = try await connection.query("""
            SELECT month::text, channel, planned_spend::text, planned_leads::text, planned_cpl::text, spend::text, leads::text, cpl::text,
                   plan_done_pct::text
            FROM mart.media_plan WHERE model = 'linear' ORDER BY month, channel
            """)
        // Amounts normalised (80000.00 → 80000).
        let table = try rows.map { row in
            try (0...8).map { column in try row.decode(String?.self, column).map { column < 2 ? $0 : "\(Decimal(string: $0)!)" } ?? "-" }
        }
        #expect(table == [
            ["2026-11-01", "paid_search", "80000", "40", "2000", "60000", "20", "3000", "50"],
            ["2026-12-01", "paid_search", "90000", "30", "3000", "0", "0", "-", "0"],
        ])
    }

    @Test func explainShowsEveryLinkRuleTheTouchesAndWeightsSummingToOnePerModel() async throws {
        let world = try #require((UInt64(41)...80).lazy.map { World(World.Spec(seed: $0, days: 30, people: 200)) }
            .first { $0.deals.contains { $0.truth == nil && $0.status == "won" } })
        let bench = try await ReportWorldTests.linkedWorld(world)
        defer { Task { await bench.pool.close() } }
        let project = ReportWorldTests.project
        for rule in ["request_id", "visit_id", "contact_near", "contact_earlier", "none"] {
            let deal = try #require(world.deals.first { ($0.truth?.rule ?? "none") == rule && $0.status == "won" }
                ?? world.deals.first { ($0.truth?.rule ?? "none") == rule }, "no deal linked by \(rule)")
            let explanation = try await bench.pool.withConnection {
                try await DealExplanation.explain(project: project, connection: deal.connection, dealID: deal.id, on: $0)
            }
            #expect(explanation.rule == rule)
            #expect(explanation.leadRequestID == deal.truth?.lead)
            for model in AttributionModel.allCases.indices {
                #expect(explanation.touches.map { $0.weights[model] }.reduce(0, +) == Credit.unit, "\(rule) model \(model)")
            }
            let touches = try await bench.pool.query("SELECT count(*) FROM journey.touches WHERE request_id = $1", [deal.truth?.lead ?? "-"])
            #expect(explanation.touches.count == max(1, try touches[0].decode(Int.self, 0)))
            let text = explanation.text(timeZone: TimeZone(identifier: "Europe/Moscow")!)
            #expect(text.contains("link: \(rule) — "))
            #expect(text.components(separatedBy: "(sum 1.000000000000000)").count == 8, "\(text)")
            if rule == "none" { #expect(text.contains("(unknown)")) } else { #expect(text.contains("lead \(deal.truth!.lead) at ")) }
        }
        // A deal that is not there is named.
        await #expect { try await bench.pool.withConnection { try await DealExplanation.explain(project: project, connection: "amo", dealID: "404", on: $0) } }
            throws: { "\($0)".contains("deal 404 of amo is not stored") }
    }
}
