import Domain
import Foundation

/// A column of the channel, manager or product report: a sum read from the mart, or a ratio of
/// two sums (NULL when the denominator is zero, never 0 or infinity).
public enum ReportColumn: String, CaseIterable, Sendable, Codable {
    case impressions, clicks, spend, visits, leads
    case qualifiedLeads = "qualified_leads"
    case deals, sales, revenue
    case costOfGoods = "cost_of_goods"
    case duplicateLeads = "duplicate_leads"
    case nonTargetLeads = "non_target_leads"
    case ctr, cpc, cpl, cpo, romi
    case romiMargin = "romi_margin"
    case leadToSale = "lead_to_sale"
    case margin

    public enum Kind: Sendable { case count, money, ratio }

    public var kind: Kind {
        switch self {
        case .impressions, .clicks, .visits, .leads, .qualifiedLeads, .deals, .sales, .duplicateLeads, .nonTargetLeads: .count
        case .spend, .revenue, .costOfGoods, .cpc, .cpl, .cpo, .margin: .money
        case .ctr, .romi, .romiMargin, .leadToSale: .ratio
        }
    }

    /// The heading of a terminal table.
    public var title: String {
        switch self {
        case .impressions: "Impr."
        case .clicks: "Clicks"
        case .spend: "Spend"
        case .visits: "Visits"
        case .leads: "Leads"
        case .qualifiedLeads: "Qualified"
        case .deals: "Deals"
        case .sales: "Sales"
        case .revenue: "Revenue"
        case .costOfGoods: "COGS"
        case .duplicateLeads: "Dupl."
        case .nonTargetLeads: "Non-target"
        case .ctr: "CTR"
        case .cpc: "CPC"
        case .cpl: "CPL"
        case .cpo: "CPO"
        case .romi: "ROMI"
        case .romiMargin: "ROMI margin"
        case .leadToSale: "Lead→sale"
        case .margin: "Margin"
        }
    }

    /// Decimals of a cell in CSV and JSON: money to the kopeck, credited counts to hundredths,
    /// whole counts (impressions, clicks, visits, duplicates) whole, ratios to 1/10,000.
    public var places: Int {
        switch self {
        case .impressions, .clicks, .visits, .duplicateLeads, .nonTargetLeads: return 0
        default: break
        }
        switch kind {
        case .money, .count: return 2
        case .ratio: return 4
        }
    }
}

/// The sums of one report row, exact; ratios are derived from them.
public struct ReportFigures: Sendable, Equatable {
    public var impressions: Decimal = 0
    public var clicks: Decimal = 0
    public var spend: Decimal = 0
    public var visits: Decimal = 0
    public var leads: Decimal = 0
    public var qualifiedLeads: Decimal = 0
    public var deals: Decimal = 0
    public var sales: Decimal = 0
    public var revenue: Decimal = 0
    public var costOfGoods: Decimal = 0
    public var duplicateLeads: Decimal = 0
    public var nonTargetLeads: Decimal = 0
    /// Won deals of the row's leads (deals of no lead are not counted): the numerator of
    /// lead→sale. Not a column of its own.
    public var leadSales: Decimal = 0

    public init() {}

    /// Every sum, once: what `+=` adds and what the queries fill.
    public static let sums: [any WritableKeyPath<ReportFigures, Decimal> & Sendable] = [
        \.impressions, \.clicks, \.spend, \.visits, \.leads, \.qualifiedLeads, \.deals, \.sales, \.revenue, \.costOfGoods,
        \.duplicateLeads, \.nonTargetLeads, \.leadSales,
    ]

    public static func += (lhs: inout ReportFigures, rhs: ReportFigures) {
        for sum in sums { lhs[keyPath: sum] += rhs[keyPath: sum] }
    }

    static func ratio(_ numerator: Decimal, _ denominator: Decimal) -> Decimal? {
        denominator.isZero ? nil : numerator / denominator
    }

    /// The column's exact value; nil for a ratio whose denominator is zero.
    public func value(_ column: ReportColumn) -> Decimal? {
        switch column {
        case .impressions: impressions
        case .clicks: clicks
        case .spend: spend
        case .visits: visits
        case .leads: leads
        case .qualifiedLeads: qualifiedLeads
        case .deals: deals
        case .sales: sales
        case .revenue: revenue
        case .costOfGoods: costOfGoods
        case .duplicateLeads: duplicateLeads
        case .nonTargetLeads: nonTargetLeads
        case .margin: revenue - costOfGoods
        case .ctr: Self.ratio(clicks, impressions)
        case .cpc: Self.ratio(spend, clicks)
        case .cpl: Self.ratio(spend, leads)
        case .cpo: Self.ratio(spend, sales)
        case .romi: Self.ratio(revenue - spend, spend)
        case .romiMargin: Self.ratio(revenue - costOfGoods - spend, spend)
        case .leadToSale: Self.ratio(leadSales, leads)
        }
    }
}

/// One line of a report: a channel, a source under it or a campaign under that (level 0, 1,
/// 2), or a manager or a product (level 0).
public struct ReportRow: Sendable, Equatable {
    /// The row's keys from the top: [channel], [channel, source], [channel, source, campaign];
    /// [manager]; [product].
    public var path: [String]
    public var figures: ReportFigures
    public var level: Int { path.count - 1 }
    public var label: String { path.last ?? "" }

    public init(path: [String], figures: ReportFigures) {
        self.path = path
        self.figures = figures
    }
}

/// A report as `analytics report` prints it and the dashboard shows it.
public struct Report: Sendable, Equatable {
    public enum Grouping: String, CaseIterable, Sendable {
        case channel, manager, product

        /// The keys of the levels a row's path holds.
        public var levels: [String] {
            switch self {
            case .channel: ["channel", "source", "campaign"]
            case .manager: ["manager"]
            case .product: ["product"]
            }
        }

        /// The columns the terminal table shows.
        public var tableColumns: [ReportColumn] {
            switch self {
            case .channel: [.spend, .visits, .leads, .sales, .revenue, .cpl, .cpo, .romi, .romiMargin]
            case .manager: [.leads, .deals, .sales, .revenue, .leadToSale, .duplicateLeads, .nonTargetLeads]
            case .product: [.leads, .deals, .sales, .revenue, .costOfGoods, .margin, .leadToSale]
            }
        }

        /// Every column CSV and JSON carry.
        public var columns: [ReportColumn] {
            switch self {
            case .channel: [.impressions, .clicks, .spend, .visits, .leads, .qualifiedLeads, .deals, .sales, .revenue, .costOfGoods,
                            .ctr, .cpc, .cpl, .cpo, .romi, .romiMargin]
            case .manager: [.leads, .deals, .sales, .revenue, .duplicateLeads, .nonTargetLeads, .leadToSale]
            case .product: [.leads, .deals, .sales, .revenue, .costOfGoods, .margin, .leadToSale]
            }
        }
    }

    public struct Request: Sendable, Equatable {
        public var project: String
        public var model: String
        public var from: LocalDay
        public var to: LocalDay
        public var grouping: Grouping
        /// Channel grouping: 1 channels only, 2 with their sources, 3 with campaigns (1 for the
        /// other groupings).
        public var depth: Int
        /// Rows are sorted by this column, highest first, at every level (undefined ratios last).
        public var sort: ReportColumn

        /// The sort a grouping has unless asked: ROMI for channels, revenue for managers and
        /// products (whose spend is unknown).
        /// The keys of a row's path at this depth.
        public var levels: [String] { Array(grouping.levels.prefix(depth)) }

        public static func defaultSort(_ grouping: Grouping) -> ReportColumn { grouping == .channel ? .romi : .revenue }

        public init(project: String, model: String, from: LocalDay, to: LocalDay, grouping: Grouping = .channel, depth: Int = 3,
                    sort: ReportColumn? = nil) {
            self.project = project
            self.model = model
            self.from = from
            self.to = to
            self.grouping = grouping
            self.depth = grouping == .channel ? min(max(depth, 1), 3) : 1
            self.sort = sort ?? Self.defaultSort(grouping)
        }
    }

    public var request: Request
    /// Depth first: each row followed by its children.
    public var rows: [ReportRow]
    public var total: ReportFigures

    public init(request: Request, rows: [ReportRow], total: ReportFigures) {
        self.request = request
        self.rows = rows
        self.total = total
    }

    /// Builds the tree of the finest rows' paths (each `depth` keys long), sums every level, and
    /// orders each level by the request's sort column.
    public init(request: Request, leaves: [(path: [String], figures: ReportFigures)]) {
        self.request = request
        var total = ReportFigures()
        for leaf in leaves { total += leaf.figures }
        self.total = total
        let sort = request.sort
        func ordered(_ rows: [ReportRow]) -> [ReportRow] {
            rows.sorted { a, b in
                switch (a.figures.value(sort), b.figures.value(sort)) {
                case let (x?, y?) where x != y: return x > y
                case (_?, nil): return true
                case (nil, _?): return false
                default: return a.label < b.label
                }
            }
        }
        func level(_ leaves: [(path: [String], figures: ReportFigures)], depth: Int, prefix: [String]) -> [ReportRow] {
            guard depth < (leaves.first?.path.count ?? 0) else { return [] }
            var groups: [String: [(path: [String], figures: ReportFigures)]] = [:]
            for leaf in leaves { groups[leaf.path[depth], default: []].append(leaf) }
            var rows: [ReportRow] = []
            for (key, members) in groups {
                var figures = ReportFigures()
                for member in members { figures += member.figures }
                rows.append(ReportRow(path: prefix + [key], figures: figures))
            }
            return ordered(rows).flatMap { row in
                [row] + level(groups[row.label]!, depth: depth + 1, prefix: row.path)
            }
        }
        rows = level(leaves, depth: 0, prefix: [])
    }
}
