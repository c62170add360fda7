import Foundation

extension World {
    /// What every attribution model's report of the world must total (domain.md: each model's
    /// totals equal the unattributed totals).
    public struct Totals: Sendable, Equatable, CustomStringConvertible {
        public var spend: Decimal
        public var visits: Decimal
        public var leads: Decimal
        public var deals: Decimal
        public var sales: Decimal
        public var revenue: Decimal

        public init(spend: Decimal, visits: Decimal, leads: Decimal, deals: Decimal, sales: Decimal, revenue: Decimal) {
            self.spend = spend
            self.visits = visits
            self.leads = leads
            self.deals = deals
            self.sales = sales
            self.revenue = revenue
        }

        /// Each figure as a report cell shows it (to hundredths: money to the kopeck).
        public var rounded: Totals {
            Totals(spend: spend.rounded(places: 2), visits: visits.rounded(places: 2), leads: leads.rounded(places: 2),
                   deals: deals.rounded(places: 2), sales: sales.rounded(places: 2), revenue: revenue.rounded(places: 2))
        }

        public var description: String {
            "spend \(spend.text(places: 2)), visits \(visits), leads \(leads), deals \(deals), sales \(sales), revenue \(revenue.text(places: 2))"
        }
    }

    /// The ground truth: spend in roubles at each day's rate (`spendTruth`), every visit, every
    /// lead that is not a resubmission, every deal (the world has none excluded; a deal of no
    /// lead sits on `(unknown)`), the won ones, and the money received on won deals net of
    /// refunds.
    public var truth: Totals {
        let won = deals.filter { $0.status == "won" }
        return Totals(
            spend: spendTruth.values.reduce(0, +),
            visits: Decimal(visits.count),
            leads: Decimal(leads.filter { $0.duplicateOf == nil }.count),
            deals: Decimal(deals.count),
            sales: Decimal(won.count),
            revenue: Decimal(won.flatMap(\.payments).filter(\.paid).map(\.amount).reduce(0, +)) / 100)
    }

    /// Instalments of won deals not received yet, in roubles.
    public var expectedTruth: Decimal {
        Decimal(deals.filter { $0.status == "won" }.flatMap(\.payments).filter { !$0.paid }.map(\.amount).reduce(0, +)) / 100
    }

    /// The spend as `storeSpend` stores it: every row's cost taken as roubles (no conversion).
    public var storedSpend: Decimal { Decimal(spend.map(\.cost.value).reduce(0, +)) / 1_000_000 }
}
