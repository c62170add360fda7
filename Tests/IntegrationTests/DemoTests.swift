import AMQP
import Demo
import Foundation
import Reporting
import Testing

/// The main job's path on a smaller world (issue 7): the fakes, the cluster's executables as
/// processes, every collector and deal-sync against the fakes, the visits and leads posted to
/// the tracker — and a report whose totals equal the world's ground truth under every model.
@Suite struct DemoTests {
    @Test func theMainJobOnASmallWorldPrintsAReportWhoseTotalsAreTheWorldsTruth() async throws {
        let vhost = try TestStack.freshVirtualHost(TestStack.unique("demo"))
        defer { vhost.delete() }
        let amqpURL = vhost.amqpURL
        let database = try await TestStack.freshDatabase(migrated: false)
        let work = "/tmp/\(vhost.name)"
        defer { try? FileManager.default.removeItem(atPath: work) }
        var options = DemoRun.Options(binDirectory: TestStack.productsDirectory.path, workDirectory: work, databaseURL: database, amqpURL: amqpURL,
                                      managementURL: TestStack.environment["RABBITMQ_MANAGEMENT_URL"], world: DemoWorld(seed: 7, people: 300))
        options.settleTimeout = 300
        let lines = LineLog()
        let run = DemoRun(options: options, say: { lines.append($0) }, tick: { _ in })
        let (outcome, cluster, fakes) = try await run.run(logger: TestStack.logger)
        await cluster.stopAll()
        fakes.stop()

        #expect(outcome.totals.count == 7)
        for (model, total) in outcome.totals {
            #expect(total.rounded == outcome.truth.rounded, "\(model): \(total) ≠ truth \(outcome.truth)")
        }
        #expect(outcome.matchesTruth)
        // The world has what the main job promises: spend, visits, leads, sales and revenue.
        #expect(outcome.truth.spend > 0 && outcome.truth.sales > 0 && outcome.truth.revenue > 0)
        // The printed report: the default model, every level sorted by ROMI, the total equal to the truth.
        #expect(outcome.report.request.model == "last_non_direct")
        #expect(outcome.report.request.sort == .romi)
        let channels = outcome.report.rows.filter { $0.level == 0 }
        #expect(Set(channels.map(\.label)).isSuperset(of: ["paid_search", "paid_social", "display", "organic_search", "email", "direct"]))
        let romis = channels.compactMap { $0.figures.value(.romi) }
        #expect(romis == romis.sorted(by: >))
        #expect(outcome.reportText.contains("Yandex Direct — Фрилансер Иванов"))
        #expect(outcome.reportText.contains("Total"))
        // SEO's cost sits beside the organic visits it bought.
        let seo = outcome.report.rows.first { $0.path == ["organic_search", "yandex.ru — Студия Бета"] }
        #expect((seo?.figures.spend ?? 0) > 0 && (seo?.figures.visits ?? 0) > 0)
        #expect(lines.all.contains { $0.contains("collector-manual-costs") })
        // The dashboard ran as its own process and its page of the same figures was saved.
        let page = try String(contentsOfFile: outcome.dashboardSnapshot, encoding: .utf8)
        let dom = DOMNode.parse(page)
        #expect(dom.first("svg", "id", "daily-chart") != nil)
        #expect(dom.first("table", "id", "report")?["data-model"] == "last_non_direct")
        #expect(dom.first("tfoot")?.first("td", "data-column", "spend")?.textContent == ReportFormat.tableCell(outcome.report.total.spend, .spend))
    }
}

final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
