import Domain
import Foundation
import Postgres
import Settings

/// Media plans from CSV (`analytics media-plan import`): one row per month and channel with the
/// planned spend and leads. Columns by name (any order, `;`, `,` or tab): `month` (YYYY-MM or
/// YYYY-MM-DD), `channel` (one of `Channels.names`), `planned_spend`, `planned_leads` (decimal
/// point or comma, no thousands separators). A file replaces the plans of the months it names;
/// any bad line fails the whole file, naming the line and column, and nothing is written.
public enum MediaPlan {
    public struct Row: Sendable, Equatable {
        public var month: LocalDay
        public var channel: String
        public var plannedSpend: String
        public var plannedLeads: String
    }

    /// - Throws: `CSVError` naming the line and column.
    public static func parse(_ text: String) throws -> [Row] {
        let table = try DelimitedText(text)
        guard let month = table.column("month"), let channel = table.column("channel"),
              let spend = table.column("planned_spend", "spend"), let leads = table.column("planned_leads", "leads") else {
            throw CSVError(line: 1, "the header must name month, channel, planned_spend and planned_leads")
        }
        var rows: [Row] = []
        var seen = Set<String>()
        for row in table.rows where !row.isBlank {
            let monthText = (row.value(month) ?? "").trimmingCharacters(in: .whitespaces)
            guard let day = LocalDay(iso: monthText.count == 7 ? monthText + "-01" : monthText) else {
                throw row.error("month", "'\(monthText)' is not a month (YYYY-MM)")
            }
            let name = (row.value(channel) ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            guard Channels.names.contains(name) else {
                throw row.error("channel", "'\(name)' is not a channel (\(Channels.names.joined(separator: ", ")))")
            }
            func amount(_ index: Int, _ column: String) throws -> String {
                let text = (row.value(index) ?? "").trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".")
                guard text.range(of: #"^[0-9]{1,15}(\.[0-9]{1,10})?$"#, options: .regularExpression) != nil else {
                    throw row.error(column, "'\(text)' is not an amount ≥ 0 (digits, a decimal point)")
                }
                return text
            }
            guard seen.insert("\(day.firstOfMonth) \(name)").inserted else {
                throw row.error("channel", "\(name) in \(day.firstOfMonth) is planned twice")
            }
            rows.append(Row(month: day.firstOfMonth, channel: name, plannedSpend: try amount(spend, "planned_spend"),
                            plannedLeads: try amount(leads, "planned_leads")))
        }
        return rows
    }

    /// Replaces the project's plans for the months in `rows`, in one transaction.
    public static func store(_ rows: [Row], project: String, on connection: PGConnection) async throws {
        try await connection.withTransaction { connection in
            try await connection.query("DELETE FROM report.media_plans WHERE project_id = $1 AND month = ANY($2::date[])",
                                       [project, Array(Set(rows.map(\.month.description))).sorted()])
            try await connection.query("""
                INSERT INTO report.media_plans (project_id, month, channel, planned_spend, planned_leads)
                SELECT $1, m::date, c, s::numeric, l::numeric FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(m, c, s, l)
                """, [project, rows.map(\.month.description), rows.map(\.channel), rows.map(\.plannedSpend), rows.map(\.plannedLeads)])
        }
    }
}
