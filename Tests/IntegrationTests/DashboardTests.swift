import AsyncHTTPClient
import Attribution
import Dashboard
import Domain
import Foundation
import Postgres
import Reporting
import Sandbox
import Settings
import Testing

/// The dashboard (issue 7, point 3): the page of a fixed world rendered by headless Chromium
/// holds the daily chart with the webinar spike on top, the channel table with the report's
/// figures, a model switch and a period picker that lead to the other views; bad requests and
/// sign-in are answered with what is wrong; data is shown as text, never as markup.
@Suite(.serialized) struct DashboardTests {
    /// The world of `ReportCommandTests.aggregatedWorld()`: 20 days from 1 March, the webinar on
    /// the middle day.
    static let spikeDay = LocalDay(iso: "2026-03-11")!

    static func daily(_ pool: PGPool, model: String, _ range: ClosedRange<LocalDay>) async throws -> [ReportQuery.Day] {
        try await pool.withConnection {
            try await ReportQuery.daily(project: "school", model: model, from: range.lowerBound, to: range.upperBound, on: $0)
        }
    }

    static func report(_ pool: PGPool, model: String, _ range: ClosedRange<LocalDay>, depth: Int = 2) async throws -> Report {
        try await pool.withConnection {
            try await ReportQuery.load(Report.Request(project: "school", model: model, from: range.lowerBound, to: range.upperBound, depth: depth), on: $0)
        }
    }

    /// The table as the browser shows it equals the report: the rows' paths in order, each cell's
    /// text, the total row.
    static func expectTable(_ dom: DOMNode, equals report: Report) throws {
        let table = try #require(dom.first("table", "id", "report"), "the page has no report table")
        #expect(table["data-model"] == report.request.model)
        let rows = try #require(table.first("tbody")).all("tr")
        #expect(rows.map { $0["data-path"] ?? "" } == report.rows.map { $0.path.joined(separator: " / ") })
        let columns = report.request.grouping.tableColumns
        for (row, expected) in zip(rows, report.rows) {
            #expect(row.all("td").map(\.textContent) == columns.map { ReportFormat.tableCell(expected.figures.value($0), $0) },
                    "row \(expected.path)")
            let label = report.request.grouping == .channel && expected.level == 0 ? ReportFormat.channelTitle(expected.label) : expected.label
            #expect(row.first("th")?.textContent == label)
        }
        let total = try #require(table.first("tfoot")?.first("tr"))
        #expect(total.all("td").map(\.textContent) == columns.map { ReportFormat.tableCell(report.total.value($0), $0) })
    }

    @Test func theDashboardRenderedInChromiumShowsTheDailyChartWithItsSpikeTheChannelTableAModelSwitchAndAPeriodPicker() async throws {
        let pool = try await ReportCommandTests.aggregatedWorld()
        defer { Task { await pool.close() } }
        let server = try await FakeServer.start(DashboardApp.router(projects: [ReportWorldTests.project], pool: pool, logger: TestStack.logger))
        defer { server.stop() }
        let range = try #require(try await pool.withConnection { try await ReportQuery.dataRange(project: "school", on: $0) })
        let period = range.from...range.to
        #expect(period.contains(Self.spikeDay))

        let dom = DOMNode.parse(try Chromium.dumpDOM(server.url + "/projects/school?model=linear&from=\(range.from)&to=\(range.to)"))

        // The chart: a bar of spend and a point of revenue per day, each the mart's exact figure.
        let daily = try await Self.daily(pool, model: "linear", period)
        let chart = try #require(dom.first("svg", "id", "daily-chart"), "the page has no daily chart")
        let spend = try #require(chart.first("g", "data-series", "spend")).all("rect", "data-day")
        #expect(spend.map { $0["data-day"] ?? "" } == daily.map(\.day.description))
        #expect(spend.map { $0["data-value"] ?? "" } == daily.map { $0.spend.text(places: 2) })
        #expect(spend.contains { (Double($0["height"] ?? "") ?? 0) > 0 }, "no spend bar has a height")
        let revenue = try #require(chart.first("g", "data-series", "revenue")).all("circle", "data-day")
        #expect(revenue.map { $0["data-value"] ?? "" } == daily.map { $0.revenue.text(places: 2) })
        #expect(try #require(chart.first("g", "data-series", "revenue")?.first("polyline"))["points"]?.split(separator: " ").count == daily.count)
        let richest = try #require(daily.max { $0.revenue < $1.revenue })
        #expect(chart.first("g", "class", "peak")?["data-day"] == richest.day.description)

        // The spike: the webinar day's bar of leads is the tallest drawn, and marked as the peak.
        let leadsChart = try #require(dom.first("svg", "id", "leads-chart"))
        let bars = try #require(leadsChart.first("g", "data-series", "leads")).all("rect", "data-day")
        #expect(bars.count == daily.count)
        let tallest = try #require(bars.max { (Double($0["height"] ?? "") ?? 0) < (Double($1["height"] ?? "") ?? 0) })
        #expect(tallest["data-day"] == Self.spikeDay.description)
        #expect(leadsChart.first("g", "class", "peak")?["data-day"] == Self.spikeDay.description)

        // The table: channels with their sources, as the report has them.
        try Self.expectTable(dom, equals: try await Self.report(pool, model: "linear", period))
        #expect(dom.first("section", "id", "totals")?.all { $0["data-key"] != nil }.count == 8)

        // The model switch: all seven models, the shown one marked; following one shows its table
        // (whose totals of leads and revenue are the same: every model conserves them).
        let tabs = try #require(dom.first("nav", "id", "model-switch")).all("a")
        #expect(tabs.map { $0["data-model"] ?? "" } == AttributionModel.allCases.map(\.rawValue))
        #expect(tabs.filter { $0["aria-current"] != nil }.map { $0["data-model"] } == ["linear"])
        let firstClick = try #require(tabs.first { $0["data-model"] == "first_click" }?["href"])
        let switched = DOMNode.parse(try Chromium.dumpDOM(server.url + firstClick))
        let firstClickReport = try await Self.report(pool, model: "first_click", period)
        try Self.expectTable(switched, equals: firstClickReport)
        #expect(switched.first("nav", "id", "model-switch")?.all("a").filter { $0["aria-current"] != nil }.map { $0["data-model"] } == ["first_click"])
        #expect(firstClickReport.total.leads == (try await Self.report(pool, model: "linear", period)).total.leads)

        // The period picker: two date fields holding the period, and presets that change it.
        let form = try #require(dom.first("form", "id", "period"))
        #expect(form.first("input", "name", "from")?["value"] == range.from.description)
        #expect(form.first("input", "name", "to")?["value"] == range.to.description)
        #expect(form.first("input", "name", "from")?["type"] == "date")
        let lastWeek = try #require(form.all("a").first { $0.textContent == "Last 7 days" }?["href"])
        let week = DOMNode.parse(try Chromium.dumpDOM(server.url + lastWeek))
        let weekPeriod = range.to.advanced(by: -6)...range.to
        #expect(week.first("p", "id", "period-shown")?["data-from"] == weekPeriod.lowerBound.description)
        #expect(week.first("svg", "id", "daily-chart")?["data-days"] == "7")
        try Self.expectTable(week, equals: try await Self.report(pool, model: "linear", weekPeriod))
        // The form itself, submitted as a browser would: the hidden fields keep the model.
        let hidden = form.all("input", "type", "hidden").map { "\($0["name"]!)=\($0["value"]!)" }
        let submitted = DOMNode.parse(try Chromium.dumpDOM(server.url + (form["action"] ?? "") + "?" +
            (hidden + ["from=2026-03-05", "to=2026-03-14"]).joined(separator: "&")))
        try Self.expectTable(submitted, equals: try await Self.report(pool, model: "linear", LocalDay(iso: "2026-03-05")!...LocalDay(iso: "2026-03-14")!))

        // The managers' table keeps the model's totals above it (managers know no spend).
        let managersLink = try #require(dom.first("nav", "id", "grouping-switch")?.all("a", "data-group", "manager").first?["href"])
        let managers = DOMNode.parse(try await Self.get(server.url + managersLink).body)
        let managerReport = try await pool.withConnection {
            try await ReportQuery.load(Report.Request(project: "school", model: "linear", from: range.from, to: range.to, grouping: .manager), on: $0)
        }
        try Self.expectTable(managers, equals: managerReport)
        #expect(managers.first("div", "data-key", "spend")?.textContent == dom.first("div", "data-key", "spend")?.textContent)
        #expect(dom.first("div", "data-key", "spend")?.first("span", "class", "value")?.textContent
                == ReportFormat.money(daily.reduce(Decimal(0)) { $0 + $1.spend }, places: 0) + " ₽")

        // Without parameters: the project's default model over the last 30 days with data.
        let plain = DOMNode.parse(try await Self.get(server.url + "/projects/school").body)
        #expect(plain.first("p", "id", "period-shown")?["data-from"] == max(range.from, range.to.advanced(by: -29)).description)
        #expect(plain.first("p", "id", "period-shown")?["data-to"] == range.to.description)
        #expect(plain.first("table", "id", "report")?["data-model"] == ReportWorldTests.project.attribution.defaultModel)

        // The CSV link downloads the same report.
        let csvLink = try #require(dom.first("a", "class", "download")?["href"])
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: server.url + csvLink), timeout: .seconds(60))
        #expect(response.status.code == 200)
        let csv = String(buffer: try await response.body.collect(upTo: 1 << 22))
        #expect(csv == ReportFormat.csv.render(try await Self.report(pool, model: "linear", period)))
    }

    /// A client that shows redirects instead of following them.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func get(_ url: String, authorization: String? = nil) async throws -> (status: Int, headers: [String: String], body: String) {
        var request = HTTPClientRequest(url: url)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 22))
        return (Int(response.status.code), Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }) { a, _ in a }, body)
    }

    @Test func badRequestsNameTheParameterSignInIsRequiredWhenAPasswordIsSetAndAnEmptyMartSaysSo() async throws {
        let url = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        let access = DashboardApp.Access(user: "marketing", password: "correct horse")
        let server = try await FakeServer.start(DashboardApp.router(projects: [ReportWorldTests.project], pool: pool, access: access,
                                                                    logger: TestStack.logger))
        defer { server.stop() }
        let good = "Basic " + Data("marketing:correct horse".utf8).base64EncodedString()

        let anonymous = try await Self.get(server.url + "/")
        #expect(anonymous.status == 401)
        #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Basic") == true)
        #expect(try await Self.get(server.url + "/projects/school", authorization: "Basic " + Data("marketing:wrong".utf8).base64EncodedString()).status == 401)
        #expect(try await Self.get(server.url + "/projects/school/report.csv").status == 401)
        let home = try await Self.get(server.url + "/", authorization: good)
        #expect(home.status == 303)
        #expect(home.headers["location"] == "/projects/school")

        let empty = try await Self.get(server.url + "/projects/school", authorization: good)
        #expect(empty.status == 200)
        #expect(empty.body.contains("Nothing aggregated yet"))
        #expect(empty.headers["content-security-policy"]?.contains("default-src 'none'") == true)

        let unknown = try await Self.get(server.url + "/projects/other", authorization: good)
        #expect(unknown.status == 404)
        #expect(unknown.body.contains("No project &#39;other&#39;"))
        for (query, named) in [("model=best", "model: &#39;best&#39;"), ("from=2026-02-30", "from: &#39;2026-02-30&#39;"),
                               ("from=2026-03-10&to=2026-03-01", "ends before it starts"), ("depth=7", "depth: &#39;7&#39;"),
                               ("group=region", "group: &#39;region&#39;"), ("sort=luck", "sort: &#39;luck&#39;")] {
            let answer = try await Self.get(server.url + "/projects/school?" + query, authorization: good)
            #expect(answer.status == 400, "\(query)")
            #expect(answer.body.contains(named), "\(query): \(answer.body)")
        }

        // A database that does not answer: 503 and a page saying so, not a crash.
        let down = PGPool(PGConfiguration(url: "postgresql://postgres@127.0.0.1:9/analytics"), logger: TestStack.logger)
        defer { Task { await down.close() } }
        let unreachable = try await FakeServer.start(DashboardApp.router(projects: [ReportWorldTests.project], pool: down, logger: TestStack.logger))
        defer { unreachable.stop() }
        let failed = try await Self.get(unreachable.url + "/projects/school")
        #expect(failed.status == 503)
        #expect(failed.body.contains("cannot be read"))
    }

    @Test func namesFromTheDataAreShownAsTextNeverAsMarkup() throws {
        let hostile = "<img src=x onerror=alert(1)> \"Кампания\" & 'весна'"
        var project = ReportWorldTests.project
        project.name = "<script>alert('name')</script>"
        let day = LocalDay(iso: "2026-03-01")!
        var figures = ReportFigures()
        figures.spend = 1000
        figures.revenue = 2500
        figures.leads = 3
        let request = Report.Request(project: "school", model: "linear", from: day, to: day, depth: 3)
        let report = Report(request: request, leaves: [(path: ["paid_search", hostile, hostile], figures: figures)])
        let view = DashboardView(project: project, projects: [project], query: DashboardQuery(), dataRange: day...day, report: report,
                                 daily: [ReportQuery.Day(day: day, spend: 1000, revenue: 2500, visits: 10, leads: 3)])
        let html = DashboardPage.html(view)
        #expect(!html.contains("<img"))
        #expect(!html.contains("<script"))
        let dom = DOMNode.parse(html)
        #expect(dom.all("img").isEmpty && dom.all("script").isEmpty)
        let rows = try #require(dom.first("tbody")).all("tr")
        #expect(rows.compactMap { $0.first("th")?.textContent } == ["Paid search", hostile, hostile])
        #expect(dom.first("h1")?.textContent == project.name)
    }
}
