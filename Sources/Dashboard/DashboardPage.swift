import Attribution
import Domain
import Foundation
import Reporting
import Settings

/// What the page is asked for: the query string of `/projects/<id>`, validated. Every control on
/// the page is a link or a GET form that changes one of these, so every view has its own URL to
/// bookmark and share.
public struct DashboardQuery: Sendable, Equatable {
    public var model: String?
    public var from: LocalDay?
    public var to: LocalDay?
    public var grouping: Report.Grouping = .channel
    public var depth: Int = 2
    public var sort: ReportColumn?

    public init(model: String? = nil, from: LocalDay? = nil, to: LocalDay? = nil, grouping: Report.Grouping = .channel, depth: Int = 2,
                sort: ReportColumn? = nil) {
        self.model = model
        self.from = from
        self.to = to
        self.grouping = grouping
        self.depth = depth
        self.sort = sort
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads the parameters a page link carries; an empty value counts as absent (an emptied
    /// date field), anything else unreadable is refused naming the parameter.
    public init(parameters: [(key: String, value: String)]) throws(Problem) {
        for (key, value) in parameters where !value.isEmpty {
            switch key {
            case "model":
                guard AttributionModel(rawValue: value) != nil else {
                    throw Problem(description: "model: '\(value)' is not one of \(AttributionModel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                model = value
            case "from", "to":
                guard let day = LocalDay(iso: value) else { throw Problem(description: "\(key): '\(value)' is not a date (YYYY-MM-DD)") }
                if key == "from" { from = day } else { to = day }
            case "group":
                guard let grouping = Report.Grouping(rawValue: value) else {
                    throw Problem(description: "group: '\(value)' is not one of channel, manager, product")
                }
                self.grouping = grouping
            case "depth":
                guard let depth = Int(value), (1...3).contains(depth) else { throw Problem(description: "depth: '\(value)' is not 1, 2 or 3") }
                self.depth = depth
            case "sort":
                guard let column = ReportColumn(rawValue: value) else {
                    throw Problem(description: "sort: '\(value)' is not one of \(ReportColumn.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sort = column
            default:
                continue
            }
        }
        if let from, let to, to < from { throw Problem(description: "the period \(from) – \(to) ends before it starts") }
    }

    /// The query string of this view ("" when everything is the default).
    var queryString: String {
        var items: [(String, String)] = []
        if let model { items.append(("model", model)) }
        if let from { items.append(("from", from.description)) }
        if let to { items.append(("to", to.description)) }
        if grouping != .channel { items.append(("group", grouping.rawValue)) }
        if grouping == .channel && depth != 2 { items.append(("depth", String(depth))) }
        if let sort { items.append(("sort", sort.rawValue)) }
        return items.isEmpty ? "" : "?" + items.map { "\($0.0)=\(HTML.component($0.1))" }.joined(separator: "&")
    }
}

/// Everything one page shows, read from the mart.
public struct DashboardView: Sendable {
    public var project: Project
    public var projects: [Project]
    public var query: DashboardQuery
    /// The days the project's report holds anything on.
    public var dataRange: ClosedRange<LocalDay>
    public var report: Report
    /// The period's totals under the model (the channel report's total, whatever the table's
    /// grouping: managers and products know no spend).
    public var totals: ReportFigures
    public var daily: [ReportQuery.Day]

    public init(project: Project, projects: [Project], query: DashboardQuery, dataRange: ClosedRange<LocalDay>, report: Report,
                totals: ReportFigures? = nil, daily: [ReportQuery.Day]) {
        self.project = project
        self.projects = projects
        self.query = query
        self.dataRange = dataRange
        self.report = report
        self.totals = totals ?? report.total
        self.daily = daily
    }
}

/// The dashboard's HTML: one self-contained page (inline CSS, inline SVG, no script, nothing
/// fetched from elsewhere), readable with JavaScript off and printable.
public enum DashboardPage {
    static func path(_ project: Project) -> String { "/projects/\(HTML.component(project.id))" }

    /// The query string of the same view with some parameters changed (model and period always
    /// written out, so a shared link shows the same figures tomorrow).
    static func query(_ view: DashboardView, _ change: (inout DashboardQuery) -> Void) -> String {
        var query = view.query
        query.model = view.report.request.model
        query.from = view.report.request.from
        query.to = view.report.request.to
        change(&query)
        return query.queryString
    }

    /// A link (escaped for an attribute) to the same view with some parameters changed.
    static func link(_ view: DashboardView, _ change: (inout DashboardQuery) -> Void) -> String {
        HTML.text(path(view.project) + query(view, change))
    }

    public static func html(_ view: DashboardView) -> String {
        let request = view.report.request
        let title = "\(view.project.name) — \(HTML.day(request.from)) – \(HTML.day(request.to))"
        var body = header(view)
        body += "<main>\n"
        body += "<section class=\"heading\"><h1>\(HTML.text(view.project.name))</h1>"
        body += "<p class=\"sub\" id=\"period-shown\" data-from=\"\(request.from)\" data-to=\"\(request.to)\">"
        body += "\(HTML.day(request.from)) – \(HTML.day(request.to)) · \(request.from.distance(to: request.to) + 1) days · "
        body += "\(HTML.text(AttributionModel(rawValue: request.model)?.title ?? request.model)) · \(HTML.text(view.project.currency)), "
        body += "spend without VAT, revenue as entered in the CRM</p></section>\n"
        body += controls(view)
        body += kpis(view)
        body += charts(view)
        body += table(view)
        body += "</main>\n"
        body += "<footer>Figures from the <code>mart</code> schema — the same rows Power BI, Metabase and DataLens read. "
        body += "Data from \(HTML.day(view.dataRange.lowerBound)) to \(HTML.day(view.dataRange.upperBound)).</footer>\n"
        return page(title: title, body: body)
    }

    /// A page saying what went wrong (a bad parameter, an unknown project, an empty report).
    public static func message(title: String, text: String, projects: [Project]) -> String {
        var body = "<header class=\"top\"><a class=\"brand\" href=\"/\">Skvoznaya</a>\(projectLinks(projects, current: nil))</header>\n"
        body += "<main><section class=\"message\"><h1>\(HTML.text(title))</h1><p>\(HTML.text(text))</p></section></main>\n"
        return page(title: title, body: body)
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light">
        <title>\(HTML.text(title)) · Skvoznaya</title>
        <style>\(DashboardStyle.css)</style>
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    static func projectLinks(_ projects: [Project], current: Project?) -> String {
        guard projects.count > 1 || current == nil else { return "" }
        var out = "<nav class=\"projects\" aria-label=\"Projects\">"
        for project in projects {
            let selected = project.id == current?.id ? " aria-current=\"page\"" : ""
            out += "<a href=\"\(HTML.text(path(project)))\"\(selected)>\(HTML.text(project.name))</a>"
        }
        return out + "</nav>"
    }

    static func header(_ view: DashboardView) -> String {
        "<header class=\"top\"><a class=\"brand\" href=\"/\">Skvoznaya</a>\(projectLinks(view.projects, current: view.project))</header>\n"
    }

    // MARK: - controls

    static func controls(_ view: DashboardView) -> String {
        let request = view.report.request
        var out = "<section class=\"controls\">\n<nav id=\"model-switch\" class=\"tabs\" aria-label=\"Attribution model\">"
        for model in AttributionModel.allCases {
            let selected = model.rawValue == request.model
            out += "<a class=\"tab\" data-model=\"\(model.rawValue)\" href=\"\(link(view) { $0.model = model.rawValue })\""
                + (selected ? " aria-current=\"page\"" : "") + ">\(HTML.text(model.title))</a>"
        }
        out += "</nav>\n"

        // The period: two date fields (a GET form keeping the other parameters) and presets.
        out += "<form id=\"period\" method=\"get\" action=\"\(HTML.text(path(view.project)))\">"
        out += "<input type=\"hidden\" name=\"model\" value=\"\(HTML.text(request.model))\">"
        if view.query.grouping != .channel { out += "<input type=\"hidden\" name=\"group\" value=\"\(view.query.grouping.rawValue)\">" }
        if view.query.grouping == .channel { out += "<input type=\"hidden\" name=\"depth\" value=\"\(request.depth)\">" }
        if let sort = view.query.sort { out += "<input type=\"hidden\" name=\"sort\" value=\"\(sort.rawValue)\">" }
        let bounds = "min=\"\(view.dataRange.lowerBound)\" max=\"\(view.dataRange.upperBound)\""
        out += "<label>From <input type=\"date\" name=\"from\" value=\"\(request.from)\" \(bounds) required></label>"
        out += "<label>To <input type=\"date\" name=\"to\" value=\"\(request.to)\" \(bounds) required></label>"
        out += "<button type=\"submit\">Show</button>"
        out += "<span class=\"presets\">"
        for preset in presets(view.dataRange) {
            let selected = preset.from == request.from && preset.to == request.to
            out += "<a class=\"preset\" href=\"\(link(view) { $0.from = preset.from; $0.to = preset.to })\""
                + (selected ? " aria-current=\"true\"" : "") + ">\(HTML.text(preset.title))</a>"
        }
        out += "</span></form>\n</section>\n"
        return out
    }

    /// The periods offered at a click: each month with data (newest first, at most six), the
    /// last 7 and 30 days of data, and all of it.
    static func presets(_ range: ClosedRange<LocalDay>) -> [(title: String, from: LocalDay, to: LocalDay)] {
        var presets: [(title: String, from: LocalDay, to: LocalDay)] = []
        var month = range.upperBound.firstOfMonth
        while month.daysOfMonth.last! >= range.lowerBound && presets.count < 6 {
            presets.append(("\(HTML.monthNames[month.month - 1]) \(month.year)", max(month, range.lowerBound),
                            min(month.daysOfMonth.last!, range.upperBound)))
            month = month.advanced(by: -1).firstOfMonth
        }
        let end = range.upperBound
        for days in [7, 30] where range.lowerBound.distance(to: end) + 1 > days {
            presets.append(("Last \(days) days", end.advanced(by: -(days - 1)), end))
        }
        presets.append(("All data", range.lowerBound, end))
        var seen = Set<String>()
        return presets.filter { seen.insert("\($0.from)\($0.to)").inserted }
    }

    // MARK: - figures

    static func money(_ value: Decimal?, _ currency: String) -> String {
        guard let value else { return "—" }
        return ReportFormat.money(value, places: 0) + " " + HTML.currencySign(currency)
    }

    static func kpis(_ view: DashboardView) -> String {
        let total = view.totals
        let currency = view.project.currency
        let cards: [(key: String, title: String, value: String)] = [
            ("spend", "Spend", money(total.spend, currency)),
            ("revenue", "Revenue", money(total.revenue, currency)),
            ("romi", "ROMI", ReportFormat.tableCell(total.value(.romi), .romi)),
            ("leads", "Leads", ReportFormat.tableCell(total.leads, .leads)),
            ("cpl", "CPL", money(total.value(.cpl), currency)),
            ("sales", "Sales", ReportFormat.tableCell(total.sales, .sales)),
            ("cpo", "CPO", money(total.value(.cpo), currency)),
            ("margin", "Margin", money(total.value(.margin), currency)),
        ]
        var out = "<section class=\"kpis\" id=\"totals\">"
        for card in cards {
            let tone = card.key == "romi" ? (total.value(.romi).map { $0 < 0 ? " negative" : " positive" } ?? "") : ""
            out += "<div class=\"kpi\(tone)\" data-key=\"\(card.key)\"><span class=\"label\">\(card.title)</span>"
                + "<span class=\"value\">\(HTML.text(card.value))</span></div>"
        }
        return out + "</section>\n"
    }

    static func charts(_ view: DashboardView) -> String {
        let days = view.daily.map(\.day)
        let sign = HTML.currencySign(view.project.currency)
        let inMoney: (Decimal) -> String = { ReportFormat.money($0) + " " + sign }
        let money = DailyChart(
            id: "daily-chart", title: "Spend and revenue by day", days: days,
            series: [
                .init(key: "spend", title: "Spend", kind: .bars, values: view.daily.map(\.spend), format: inMoney),
                .init(key: "revenue", title: "Revenue", kind: .line, values: view.daily.map(\.revenue), format: inMoney),
            ],
            peakKey: "revenue", unit: sign)
        let leads = DailyChart(
            id: "leads-chart", title: "Leads by day", days: days,
            series: [.init(key: "leads", title: "Leads", kind: .bars, values: view.daily.map(\.leads), format: ReportFormat.count)],
            peakKey: "leads", unit: "", height: 200)
        var out = "<section class=\"card chart-card\"><h2>Spend and revenue by day</h2>\n" + money.render()
        out += "<p class=\"note\">Revenue is credited by the model to the day of its lead; spend to the day it was spent.</p></section>\n"
        out += "<section class=\"card chart-card small\"><h2>Leads by day</h2>\n" + leads.render() + "</section>\n"
        return out
    }

    // MARK: - the table

    static func table(_ view: DashboardView) -> String {
        let request = view.report.request
        let grouping = request.grouping
        let columns = grouping.tableColumns
        var out = "<section class=\"card table-card\">\n<div class=\"table-head\"><h2>\(grouping == .channel ? "Channels" : grouping == .manager ? "Managers" : "Products")</h2>"
        out += "<nav class=\"tabs small\" id=\"grouping-switch\" aria-label=\"Grouping\">"
        let groupings: [(Report.Grouping, Int, String)] = [(.channel, 1, "Channels"), (.channel, 2, "+ sources"), (.channel, 3, "+ campaigns"),
                                                          (.manager, 1, "Managers"), (.product, 1, "Products")]
        for (group, depth, title) in groupings {
            let selected = group == grouping && (group != .channel || depth == request.depth)
            out += "<a class=\"tab\" data-group=\"\(group.rawValue)\" data-depth=\"\(depth)\" href=\"\(link(view) { $0.grouping = group; $0.depth = depth; $0.sort = nil })\""
                + (selected ? " aria-current=\"page\"" : "") + ">\(title)</a>"
        }
        out += "</nav>"
        out += "<a class=\"download\" href=\"\(HTML.text(path(view.project) + "/report.csv" + query(view) { _ in }))\" download>CSV</a>"
        out += "</div>\n"
        if grouping != .channel {
            out += "<p class=\"note\">Managers and products are CRM figures: the same under every model.</p>\n"
        }
        out += "<div class=\"scroll\"><table id=\"report\" data-grouping=\"\(grouping.rawValue)\" data-model=\"\(HTML.text(request.model))\" data-sort=\"\(request.sort.rawValue)\">\n<thead><tr>"
        out += "<th scope=\"col\" class=\"label\">\(HTML.text(request.levels.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " / ")))</th>"
        for column in columns {
            let sorted = column == request.sort
            out += "<th scope=\"col\" data-column=\"\(column.rawValue)\"" + (sorted ? " aria-sort=\"descending\"" : "")
                + "><a href=\"\(link(view) { $0.sort = column })\">\(HTML.text(column.title))\(sorted ? " ▾" : "")</a></th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        if view.report.rows.isEmpty {
            out += "<tr class=\"empty\"><td colspan=\"\(columns.count + 1)\">Nothing in this period.</td></tr>\n"
        }
        for row in view.report.rows {
            let label = grouping == .channel && row.level == 0 ? ReportFormat.channelTitle(row.label) : row.label
            out += "<tr class=\"level-\(row.level)\" data-level=\"\(row.level)\" data-path=\"\(HTML.text(row.path.joined(separator: " / ")))\">"
            out += "<th scope=\"row\" class=\"label\">\(HTML.text(label))</th>"
            out += cells(row.figures, columns) + "</tr>\n"
        }
        out += "</tbody>\n<tfoot><tr class=\"total\"><th scope=\"row\" class=\"label\">Total</th>\(cells(view.report.total, columns))</tr></tfoot>\n"
        out += "</table></div>\n</section>\n"
        return out
    }

    static func cells(_ figures: ReportFigures, _ columns: [ReportColumn]) -> String {
        columns.map { column in
            let value = figures.value(column)
            var classes = column.kind == .ratio ? "ratio" : "number"
            if column == .romi || column == .romiMargin, let value { classes += value < 0 ? " negative" : " positive" }
            return "<td class=\"\(classes)\" data-column=\"\(column.rawValue)\">\(HTML.text(ReportFormat.tableCell(value, column)))</td>"
        }.joined()
    }
}
