import Attribution
import Domain
import Foundation
import Postgres

/// Reads reports from the documented `mart` views — the same rows a BI tool reads — so the
/// terminal, the dashboard and Power BI never disagree.
public enum ReportQuery {
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The first and last day a project's report holds anything on, nil for an empty report.
    public static func dataRange(project: String, on connection: PGConnection) async throws -> (from: LocalDay, to: LocalDay)? {
        let row = try await connection.query("SELECT min(day)::text, max(day)::text FROM report.cells WHERE project_id = $1", [project])[0]
        guard let first = try row.decode(String?.self, 0), let last = try row.decode(String?.self, 1) else { return nil }
        return (LocalDay(iso: first)!, LocalDay(iso: last)!)
    }

    /// The report a request asks for.
    public static func load(_ request: Report.Request, on connection: PGConnection) async throws -> Report {
        guard AttributionModel(rawValue: request.model) != nil else {
            throw Problem("unknown model '\(request.model)' (one of \(AttributionModel.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard request.from <= request.to else { throw Problem("the period \(request.from)..\(request.to) ends before it starts") }
        switch request.grouping {
        case .channel: return try await channels(request, on: connection)
        case .manager: return try await managers(request, on: connection)
        case .product: return try await products(request, on: connection)
        }
    }

    static func decimal(_ row: PGRow, _ column: Int) throws -> Decimal { try row.decode(Decimal?.self, column) ?? 0 }

    /// The report of rows whose first `keys` columns are the path and the next ones the sums of
    /// `sums`, in that order.
    static func report(_ request: Report.Request, keys: Int, sums: [WritableKeyPath<ReportFigures, Decimal>], sql: String,
                       _ parameters: [(any PGEncodable)?], on connection: PGConnection) async throws -> Report {
        let leaves = try await connection.query(sql, parameters).map { row in
            var figures = ReportFigures()
            for (offset, sum) in sums.enumerated() { figures[keyPath: sum] = try decimal(row, keys + offset) }
            return (path: try (0..<keys).map { try row.decode(String.self, $0) }, figures: figures)
        }
        return Report(request: request, leaves: leaves)
    }

    static func channels(_ request: Report.Request, on connection: PGConnection) async throws -> Report {
        let keys = ["channel", "source_label", "CASE WHEN campaign = '' THEN '(no campaign)' ELSE campaign END"].prefix(request.depth)
        return try await report(request, keys: request.depth,
                                sums: [\.impressions, \.clicks, \.spend, \.visits, \.leads, \.qualifiedLeads, \.deals, \.sales, \.revenue, \.costOfGoods],
                                sql: """
            SELECT \(keys.joined(separator: ", ")),
                   sum(impressions), sum(clicks), sum(spend), sum(visits), sum(leads), sum(qualified_leads), sum(deals), sum(sales),
                   sum(revenue), sum(cost_of_goods)
            FROM mart.channel_report
            WHERE project_id = $1 AND model = $2 AND day BETWEEN $3::date AND $4::date
            GROUP BY \((1...request.depth).map(String.init).joined(separator: ", "))
            """, [request.project, request.model, request.from.description, request.to.description], on: connection)
    }

    /// Managers (model-free, mart.manager_report): a lead counts for the manager of its earliest
    /// deal that is not excluded, a duplicate for its original's; a deal, a sale and revenue for
    /// the deal's own manager; lead→sale is the share of the manager's leads that bought.
    static func managers(_ request: Report.Request, on connection: PGConnection) async throws -> Report {
        try await report(request, keys: 1, sums: [\.leads, \.deals, \.sales, \.revenue, \.duplicateLeads, \.nonTargetLeads, \.leadSales], sql: """
            SELECT manager, sum(leads), sum(deals), sum(sales), sum(revenue), sum(duplicate_leads), sum(non_target_leads), sum(lead_sales)
            FROM mart.manager_report
            WHERE project_id = $1 AND day BETWEEN $2::date AND $3::date
            GROUP BY manager
            """, [request.project, request.from.description, request.to.description], on: connection)
    }

    /// Products (model-free): leads by the product they asked about, deals, sales, revenue and
    /// cost of goods by the deal's product, on the lead's day (a deal of no lead: its creation
    /// day).
    static func products(_ request: Report.Request, on connection: PGConnection) async throws -> Report {
        try await report(request, keys: 1, sums: [\.leads, \.deals, \.sales, \.revenue, \.costOfGoods, \.leadSales], sql: """
            SELECT product, sum(leads), sum(deals), sum(sales), sum(revenue), sum(cost_of_goods), sum(lead_sales)
            FROM (
                SELECT coalesce(l.product, '(none)') AS product, 1 AS leads, 0 AS deals, 0 AS sales, 0 AS revenue, 0 AS cost_of_goods, 0 AS lead_sales
                FROM report.leads l
                WHERE l.project_id = $1 AND l.duplicate_of IS NULL AND l.day BETWEEN $2::date AND $3::date
                UNION ALL
                SELECT coalesce(d.product, '(none)'), 0, (d.status <> 'excluded')::int, (d.status = 'won')::int, d.revenue, d.cost_of_goods,
                       (d.status = 'won' AND d.lead_request_id IS NOT NULL)::int
                FROM report.deals d
                WHERE d.project_id = $1 AND d.day BETWEEN $2::date AND $3::date
            ) u
            GROUP BY product
            """, [request.project, request.from.description, request.to.description], on: connection)
    }

    /// One day of the dashboard's chart.
    public struct Day: Sendable, Equatable {
        public var day: LocalDay
        public var spend: Decimal
        public var revenue: Decimal
        public var visits: Decimal
        public var leads: Decimal

        public init(day: LocalDay, spend: Decimal, revenue: Decimal, visits: Decimal, leads: Decimal) {
            self.day = day
            self.spend = spend
            self.revenue = revenue
            self.visits = visits
            self.leads = leads
        }
    }

    /// Spend, revenue (credited by the model, on the lead's day), visits and leads per day of the
    /// period, every day present (zeros where nothing happened).
    public static func daily(project: String, model: String, from: LocalDay, to: LocalDay, on connection: PGConnection) async throws -> [Day] {
        guard AttributionModel(rawValue: model) != nil else { throw Problem("unknown model '\(model)'") }
        let rows = try await connection.query("""
            SELECT day::text, sum(spend), sum(revenue), sum(visits), sum(leads)
            FROM mart.channel_report
            WHERE project_id = $1 AND model = $2 AND day BETWEEN $3::date AND $4::date
            GROUP BY day
            """, [project, model, from.description, to.description])
        var byDay: [LocalDay: Day] = [:]
        for row in rows {
            let day = LocalDay(iso: try row.decode(String.self, 0))!
            byDay[day] = Day(day: day, spend: try decimal(row, 1), revenue: try decimal(row, 2), visits: try decimal(row, 3), leads: try decimal(row, 4))
        }
        return stride(from: from, through: to, by: 1).map { byDay[$0] ?? Day(day: $0, spend: 0, revenue: 0, visits: 0, leads: 0) }
    }
}
