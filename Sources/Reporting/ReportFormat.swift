import Domain
import Foundation

/// A report as text: a terminal table (Roistat-like drill-down), CSV or JSON. CSV and JSON carry
/// every column, each cell rounded once (money to the kopeck, counts to hundredths, ratios to
/// four places); NULL ratios are empty cells or `null`.
public enum ReportFormat: String, CaseIterable, Sendable {
    case table, csv, json

    public func render(_ report: Report, title: String? = nil) -> String {
        switch self {
        case .table: Self.table(report, title: title)
        case .csv: Self.csv(report)
        case .json: Self.json(report)
        }
    }

    /// A cell as CSV and JSON write it; nil for an undefined ratio.
    public static func cell(_ value: Decimal?, _ column: ReportColumn) -> String? {
        value.map { $0.text(places: column.places) }
    }

    /// Channel keys as a marketer reads them.
    public static func channelTitle(_ channel: String) -> String {
        switch channel {
        case "paid_search": "Paid search"
        case "paid_social": "Paid social"
        case "display": "Display"
        case "organic_search": "Organic search (SEO)"
        case "social": "Social"
        case "referral": "Referral"
        case "email": "E-mail"
        case "direct": "Direct"
        case "offline": "Offline"
        case "unknown": "Unknown"
        default: channel
        }
    }

    // MARK: - table

    /// "1 234 567.89": money with spaces between thousands, to the kopeck unless `places` says
    /// otherwise (the dashboard's cards: whole roubles).
    public static func money(_ value: Decimal, places: Int = 2) -> String {
        let text = value.text(places: places)
        let negative = text.hasPrefix("-")
        let digits = negative ? String(text.dropFirst()) : text
        let point = digits.firstIndex(of: ".") ?? digits.endIndex
        let whole = Array(digits[..<point])
        var grouped = ""
        for (index, digit) in whole.enumerated() {
            if index > 0 && (whole.count - index) % 3 == 0 { grouped.append(" ") }
            grouped.append(digit)
        }
        return (negative ? "-" : "") + grouped + digits[point...]
    }

    /// A credited count: whole when it is whole, else to hundredths ("12", "12.5", "12.33").
    public static func count(_ value: Decimal) -> String {
        var text = value.text(places: 2)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A cell as the terminal table and the dashboard show it: money with grouped thousands,
    /// counts without trailing zeros, ratios in per cent, "—" for an undefined ratio.
    public static func tableCell(_ value: Decimal?, _ column: ReportColumn) -> String {
        guard let value else { return "—" }
        switch column.kind {
        case .money: return money(value)
        case .count: return count(value)
        case .ratio: return (value * 100).text(places: 1) + "%"
        }
    }

    static func pad(_ text: String, _ width: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }

    static func table(_ report: Report, title: String?) -> String {
        let request = report.request
        let columns = request.grouping.tableColumns
        let levels = request.levels.joined(separator: " / ")
        let heading = levels.prefix(1).uppercased() + levels.dropFirst()
        func label(_ row: ReportRow) -> String {
            let raw = request.grouping == .channel && row.level == 0 ? channelTitle(row.label) : row.label
            let text = String(repeating: "  ", count: row.level) + raw
            return text.count > 48 ? String(text.prefix(47)) + "…" : text
        }
        var lines: [[String]] = [[heading] + columns.map(\.title)]
        for row in report.rows { lines.append([label(row)] + columns.map { tableCell(row.figures.value($0), $0) }) }
        lines.append(["Total"] + columns.map { tableCell(report.total.value($0), $0) })
        let widths = (0..<lines[0].count).map { index in lines.map { $0[index].count }.max() ?? 0 }
        var out = ""
        if let title { out += title + "\n" }
        let sortNote = request.grouping == .channel ? "model \(request.model), " : "any model (CRM figures), "
        out += "\(sortNote)\(request.from) – \(request.to), by \(request.grouping.rawValue), sorted by \(request.sort.title)\n"
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        for (index, line) in lines.enumerated() {
            if index == 1 || index == lines.count - 1 { out += rule + "\n" }
            let cells = line.enumerated().map { pad($0.element, widths[$0.offset], right: $0.offset > 0) }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }

    // MARK: - CSV

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func csv(_ report: Report) -> String {
        let levels = report.request.levels
        let columns = report.request.grouping.columns
        var out = (["level"] + levels + columns.map(\.rawValue)).joined(separator: ",") + "\n"
        func line(_ level: String, _ path: [String], _ figures: ReportFigures) -> String {
            let keys = levels.indices.map { $0 < path.count ? csvField(path[$0]) : "" }
            return ([level] + keys + columns.map { cell(figures.value($0), $0) ?? "" }).joined(separator: ",") + "\n"
        }
        for row in report.rows { out += line(String(row.level), row.path, row.figures) }
        out += line("total", [], report.total)
        return out
    }

    // MARK: - JSON

    static func json(_ report: Report) -> String {
        let request = report.request
        let levels = request.levels
        let columns = request.grouping.columns
        var writer = JSONWriter(capacity: 4096)
        func figures(_ figures: ReportFigures) {
            for column in columns {
                writer.raw(",")
                writer.string(column.rawValue)
                writer.raw(":")
                if let value = cell(figures.value(column), column) { writer.raw(Array(value.utf8)) } else { writer.raw("null") }
            }
        }
        writer.raw("{")
        writer.field("project", request.project, first: true)
        writer.field("model", request.model)
        writer.field("from", request.from.description)
        writer.field("to", request.to.description)
        writer.field("grouping", request.grouping.rawValue)
        writer.field("sort", request.sort.rawValue)
        writer.raw(",\"rows\":[")
        for (index, row) in report.rows.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw("{\"level\":")
            writer.raw(Array(String(row.level).utf8))
            for (depth, key) in row.path.enumerated() {
                writer.raw(",")
                writer.string(levels[depth])
                writer.raw(":")
                writer.string(key)
            }
            figures(row.figures)
            writer.raw("}")
        }
        writer.raw("],\"total\":{\"level\":null")
        figures(report.total)
        writer.raw("}}\n")
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
