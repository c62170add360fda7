import Aggregation
import Dashboard
import Domain
import Foundation
import OperatorCLI
import Postgres
import Reporting
import Sandbox
import Settings
import Testing

/// Security (issue 8, point 4): strings full of SQL and HTML special characters — a campaign
/// name that tries to end a statement, drop a table and run a script — travel from the tracker's
/// messages through the identity resolver and the aggregator into the mart, and come out of the
/// terminal report, its CSV and JSON and the dashboard exactly as they went in: as data.
@Suite struct HostileStringsTests {
    static let hostile = #"'); DROP TABLE journey.visits; -- <script>alert("x")</script> <img src=x onerror=alert(1)> & \ %s $1 ₽"#

    @Test func sqlAndHTMLInACampaignNameAreStoredAndShownAsData() async throws {
        var world = World(World.Spec(seed: 31, days: 10, people: 80))
        let target = try #require(world.visits.compactMap(\.utmCampaign).first)
        var renamed = 0
        for index in world.visits.indices where world.visits[index].utmCampaign == target {
            world.visits[index].utmCampaign = Self.hostile
            renamed += 1
        }
        let bench = try await ReportWorldTests.linkedWorld(world)
        defer { Task { await bench.pool.close() } }
        try await bench.pool.withTransaction { try await ReportBuilder(project: ReportWorldTests.project).rebuild(days: nil, on: $0) }

        // Stored as sent, and nothing was executed.
        #expect(try await bench.pool.query("SELECT count(*) FROM journey.visits")[0].decode(Int.self, 0) == world.visits.count)
        #expect(try await bench.pool.query("SELECT count(*) FROM journey.visits WHERE utm_campaign = $1", [Self.hostile])[0].decode(Int.self, 0) == renamed)
        let visits = try await bench.pool.query("""
            SELECT sum(visits)::int FROM mart.channel_report WHERE model = 'linear' AND campaign = $1
            """, [Self.hostile])[0]
        #expect(try visits.decode(Int.self, 0) == renamed)

        // The terminal table, CSV and JSON show it as it is.
        func report(_ format: String) async throws -> String {
            let command = try ChannelReportCommand.parse(["--model", "linear", "--depth", "3", "--format", format])
            return try await bench.pool.withConnection { try await ChannelReportCommand.render(command, project: ReportWorldTests.project, on: $0) }
        }
        let table = try await report("table")
        // (The terminal table cuts labels at 48 characters.)
        #expect(table.contains(String(Self.hostile.prefix(40))), "\(table)")
        let csv = try DelimitedText(try await report("csv"))
        let campaign = csv.header.firstIndex(of: "campaign")
        #expect(csv.rows.contains { $0.value(campaign) == Self.hostile })
        let json = try JSONValue.parse(Array(try await report("json").utf8))
        #expect((json["rows"]?.array ?? []).contains { $0["campaign"]?.text == Self.hostile }, "\(json)")

        // The dashboard shows it as text: no element is made of it.
        let (range, view) = try await bench.pool.withConnection { connection in
            let range = try #require(try await ReportQuery.dataRange(project: "school", on: connection))
            let view = try await DashboardApp.view(project: ReportWorldTests.project, projects: [ReportWorldTests.project],
                                                   query: DashboardQuery(model: "linear", from: range.from, to: range.to, depth: 3), on: connection)
            return (range, view)
        }
        #expect(range.from <= range.to)
        let html = DashboardPage.html(try #require(view))
        let dom = DOMNode.parse(html)
        #expect(dom.all("script").isEmpty && dom.all("img").isEmpty)
        #expect(dom.all("th").contains { $0.textContent == Self.hostile.split(whereSeparator: \.isWhitespace).joined(separator: " ") })
    }
}
