import Attribution
import Collection
import DealSync
import Domain
import Foundation
import Postgres
import Settings

/// Computes a project's report partitions — credits, lead and deal facts, report cells, payment
/// cells — and swaps them in (docs/aggregator.md). A partition is (project, day): the leads of
/// that day (project time zone) with their deals, the orphan deals created that day, and the
/// spend and visits of that day. `rebuild(days: nil)` recomputes the whole project.
///
/// Runs inside the caller's transaction: the partitions' old rows are deleted and the new ones
/// copied in before the commit, so readers see the old partition or the new one, never half.
/// Replicas serialise per partition with transaction-level advisory locks (a full rebuild takes
/// the project's lock exclusively; partitions take it shared, then their days' locks in order).
public struct ReportBuilder: Sendable {
    public let project: Project
    let credits: Credits
    let classifier: ChannelClassifier
    let timeZone: TimeZone
    let crm: [String: CRMRules]
    let vat: VATSchedule
    /// utm_source (lower-cased) → the ad network's name (`AdNetworks.sourceNames`).
    let sourceNames: [String: String]

    /// What the report needs of a CRM connection's options: its stage mapping, qualifying stages
    /// (`qualifying_stage.<pipeline>`) and non-target loss reasons (`non_target_loss_reasons`,
    /// comma-separated).
    struct CRMRules: Sendable {
        var mapping: StageMapping
        var qualifying: [String: String]
        var nonTargetReasons: Set<String>
    }

    /// - Throws: `AggregationError` naming a CRM connection option that cannot be read.
    public init(project: Project, vat: VATSchedule = .russia) throws {
        self.project = project
        self.vat = vat
        credits = Credits(project: project)
        classifier = ChannelClassifier(project.channels)
        timeZone = TimeZone(identifier: project.timeZone) ?? TimeZone(identifier: "UTC")!
        var crm: [String: CRMRules] = [:]
        for source in project.sources where CRMKind(rawValue: source.kind) != nil {
            let mapping: StageMapping
            do { mapping = try StageMapping(options: source.options) } catch {
                throw AggregationError("project \(project.id), source \(source.id): \(error)")
            }
            var qualifying: [String: String] = [:]
            for (key, value) in source.options where key.hasPrefix("qualifying_stage.") {
                qualifying[String(key.dropFirst("qualifying_stage.".count))] = value
            }
            let reasons = (source.options["non_target_loss_reasons"] ?? "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            crm[source.id] = CRMRules(mapping: mapping, qualifying: qualifying, nonTargetReasons: Set(reasons))
        }
        self.crm = crm
        sourceNames = AdNetworks.sourceNames(of: project)
    }

    /// What a rebuild wrote.
    public struct Summary: Sendable, Equatable {
        public var days: Int = 0
        public var leads: Int = 0
        public var credits: Int = 0
        public var deals: Int = 0
        public var cells: Int = 0
        public var paymentCells: Int = 0
        /// Time spent per phase (reading leads, deals, computing, reading spend and visits,
        /// deleting, writing), in the order they ran: for the debug log and the benchmark.
        public var phases: [Phase] = []

        public struct Phase: Sendable, Equatable, CustomStringConvertible {
            public var name: String
            public var duration: Duration
            public var description: String { "\(name) \(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) ms" }
        }
    }

    // MARK: - the computation's rows

    /// A deal as the report sees it, in the reporting currency.
    struct Deal: Sendable {
        var connectionID: String
        var dealID: String
        var crm: String
        var pipeline: String
        var stage: String
        var status: String
        var createdAt: Int64
        var closedAt: Int64?
        var amount: ExactAmount
        var paid: ExactAmount
        var revenue: ExactAmount
        var expected: ExactAmount
        var costOfGoods: ExactAmount
        var manager: String?
        var product: String?
        var lead: String?
        var rule: String
        var customerID: String?
        var qualified: Bool
        var nonTarget: Bool
        /// Received (net) and expected amounts by payment month (nil: expected without a date).
        var payments: [(month: LocalDay?, received: Bool, amount: ExactAmount)]
    }

    struct CellKey: Hashable {
        var day: LocalDay
        var channel: String
        var contractor: String?
        var source: String
        var campaign: String
        var ad: String
        var keyword: String
    }

    /// Metrics credited by model, in this order; `credited[metric * 7 + model]`.
    enum Metric: Int, CaseIterable { case leads, qualifiedLeads, deals, sales, revenue, costOfGoods }
    static let models = AttributionModel.allCases.count

    struct Cell {
        var medium: String?
        var impressions: Int64 = 0
        var clicks: Int64 = 0
        var spend = ExactAmount.zero
        var visits: Int64 = 0
        var credited = [ExactAmount](repeating: .zero, count: Metric.allCases.count * ReportBuilder.models)

        /// The cell's medium: the least non-empty one of its rows (medium is not a key).
        mutating func meet(medium: String) {
            guard !medium.isEmpty else { return }
            if let current = self.medium, Bytewise.compare(current, medium) <= 0 { return }
            self.medium = medium
        }
    }

    struct PaymentKey: Hashable {
        var day: LocalDay
        var month: LocalDay?
        var channel: String
    }

    // MARK: - rebuild

    /// Recomputes the partitions of `days` (nil: every day of the project) and swaps them in,
    /// in the caller's transaction.
    ///
    /// The days of `dealsOnly` (a subset of `days`) are days whose journey did not change since
    /// their last recomputation — only deals did. Their leads and credits are read back from
    /// `report.leads` and `report.credits` and their visits from `report.cells` instead of being
    /// computed again from the million-row journey tables, and their credits are kept;
    /// everything that depends on deals is recomputed as usual.
    ///
    /// With `readers`, a full rebuild reads the deals and the spend and visits on two more connections, from the snapshot this transaction exports once it
    /// holds the project's lock, while this one reads the touches (with its own, read-committed
    /// snapshots: a journey change committed in between reaches the mart with the resolver's
    /// next `attribution.dirty`, which waits for this rebuild's lock).
    @discardableResult
    public func rebuild(days requested: Set<LocalDay>?, dealsOnly: Set<LocalDay> = [], on connection: PGConnection,
                        readers: PGPool? = nil) async throws -> Summary {
        var summary = Summary()
        var clock = ContinuousClock.now
        func phase(_ name: String) {
            let now = ContinuousClock.now
            summary.phases.append(.init(name: name, duration: now - clock))
            clock = now
        }
        // The reads below sort and hash hundreds of thousands of rows: in memory, and without
        // JIT compilation (which costs more than it saves on queries this short).
        try await connection.execute("SET LOCAL work_mem = '128MB'")
        try await connection.execute("SET LOCAL jit = off")
        let projectLock = "report:" + project.id
        let days = requested?.sorted()
        let dealDays = requested.map { dealsOnly.intersection($0).sorted() } ?? []
        let journeyDays = days?.filter { !dealsOnly.contains($0) }
        /// Whether some day (or the whole project) is computed from the journey tables.
        let computesJourney = journeyDays?.isEmpty != true
        if let days {
            guard !days.isEmpty else { return summary }
            try await connection.query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 19))", [projectLock])
            try await connection.query("""
                SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtextextended($1 || ':' || d, 19) AS k FROM unnest($2::text[]) AS d ORDER BY 1) s
                """, [projectLock, days.map(\.description)])
        } else {
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 19))", [projectLock])
        }

        // A full rebuild with readers: deals and model-free figures read at the same time.
        var snapshot: String?
        if requested == nil, readers != nil {
            snapshot = try await connection.query("SELECT pg_export_snapshot()")[0].decode(String.self, 0)
        }
        async let parallelDeals: [Deal]? = if let readers, let snapshot {
            try await onReader(readers, snapshot: snapshot) { try await self.readDeals(where: "true", [], on: $0) }
        } else { nil }
        async let parallelFree: [FreeRow]? = if let readers, let snapshot {
            try await onReader(readers, snapshot: snapshot) { try await self.readModelFree(days: nil, visitScope: ("true", []), on: $0) }
        } else { nil }

        // 1. Leads and their credits: computed from the journey, or read back on deal-only days.
        var leads: [Credits.Lead] = []
        if computesJourney {
            let leadScope = within("l.occurred_at", from: 2, days: journeyDays)
            leads = try await credits.leads(where: leadScope.sql, leadScope.parameters, on: connection)
        }
        let computedLeads = leads.count
        // Deal-only days: the lead rows as stored, to rewrite only those whose deal figures moved.
        var storedFacts: [String: LeadFacts] = [:]
        if !dealDays.isEmpty {
            let stored = try await storedLeads(days: dealDays, on: connection)
            leads += stored.leads
            storedFacts = stored.facts
        }
        phase("leads")

        // 2. Their deals, and the deals of no lead created on the days.
        var deals = if let parallel = try await parallelDeals {
            parallel
        } else if let days {
            try await readDeals(ofDays: days, leads: leads, on: connection)
        } else {
            try await readDeals(where: "true", [], on: connection)
        }
        deals.sort { ($0.createdAt, $0.connectionID, $0.dealID) < ($1.createdAt, $1.connectionID, $1.dealID) }
        var dealsOf: [String: [Int]] = [:]
        for (index, deal) in deals.enumerated() { if let lead = deal.lead { dealsOf[lead, default: []].append(index) } }

        phase("deals")

        // 3. Lead facts, cells, payment cells.
        var cells: [CellKey: Cell] = [:]
        var payments: [PaymentKey: [ExactAmount]] = [:]
        var leadRows: [LeadRow] = []
        leadRows.reserveCapacity(leads.count)
        let models = Self.models
        for lead in leads {
            let own = (dealsOf[lead.requestID] ?? []).map { deals[$0] }
            let duplicate = lead.duplicateOf != nil
            // The lead's manager: its earliest deal's that is not excluded (a spam or cleaning
            // stage is not who worked the lead), else its earliest deal's. A duplicate has no
            // deals; mart.manager_report gives it its chain's first lead's manager.
            var facts = LeadRow(lead: lead, manager: (own.first { $0.status != "excluded" } ?? own.first)?.manager)
            for deal in own where deal.status != "excluded" {
                facts.deals += 1
                if deal.status == "won" {
                    facts.sales += 1
                    facts.revenue = facts.revenue + deal.revenue
                    facts.costOfGoods = facts.costOfGoods + deal.costOfGoods
                    facts.expected = facts.expected + deal.expected
                }
                if deal.qualified { facts.qualified = true }
            }
            facts.paid = facts.revenue
            facts.nonTarget = !own.isEmpty && own.allSatisfy(\.nonTarget)
            leadRows.append(facts)

            // Credited figures on the lead's day.
            var amounts = [ExactAmount](repeating: .zero, count: Metric.allCases.count)
            amounts[Metric.leads.rawValue] = ExactAmount(count: duplicate ? 0 : 1)
            amounts[Metric.qualifiedLeads.rawValue] = ExactAmount(count: !duplicate && facts.qualified ? 1 : 0)
            amounts[Metric.deals.rawValue] = ExactAmount(count: facts.deals)
            amounts[Metric.sales.rawValue] = ExactAmount(count: facts.sales)
            amounts[Metric.revenue.rawValue] = facts.revenue
            amounts[Metric.costOfGoods.rawValue] = facts.costOfGoods
            let active = amounts.indices.filter { amounts[$0] != .zero }
            let won = own.filter { $0.status == "won" && !$0.payments.isEmpty }
            for credit in lead.credits {
                let key = CellKey(day: lead.day, channel: credit.channel, contractor: credit.contractor, source: credit.keys.source,
                                  campaign: credit.keys.campaign, ad: credit.keys.ad, keyword: credit.keys.keyword)
                modify(&cells[key, default: Cell()]) { cell in
                    cell.meet(medium: credit.keys.medium)
                    for metric in active {
                        for model in 0..<models where credit.weights[model] != 0 {
                            cell.credited[metric * models + model] += amounts[metric].credited(credit.weights[model])
                        }
                    }
                }
                for deal in won {
                    for payment in deal.payments {
                        let pkey = PaymentKey(day: lead.day, month: payment.month, channel: credit.channel)
                        modify(&payments[pkey, default: [ExactAmount](repeating: .zero, count: 2 * models)]) { values in
                            for model in 0..<models where credit.weights[model] != 0 {
                                values[(payment.received ? 0 : models) + model] += payment.amount.credited(credit.weights[model])
                            }
                        }
                    }
                }
            }
        }

        // Deals of no lead (definition 13): on (unknown) on their creation day, in full in every
        // model — each one not excluded counts as a deal, a won one as a sale with its revenue
        // (orphan revenue); every deal of no lead sits on that day in report.deals.
        let unknownChannel = classifier.classify(ChannelInput(source: ReportKeys.unknown.source, medium: nil, campaign: nil, traffic: "unknown"))
        for deal in deals where deal.lead == nil && deal.status != "excluded" {
            let day = self.day(ofMicros: deal.createdAt)
            let key = CellKey(day: day, channel: unknownChannel.channel, contractor: unknownChannel.contractor, source: ReportKeys.unknown.source,
                              campaign: "", ad: "", keyword: "")
            let won = deal.status == "won"
            modify(&cells[key, default: Cell()]) { cell in
                for model in 0..<models {
                    cell.credited[Metric.deals.rawValue * models + model] += ExactAmount(count: 1)
                    guard won else { continue }
                    cell.credited[Metric.sales.rawValue * models + model] += ExactAmount(count: 1)
                    cell.credited[Metric.revenue.rawValue * models + model] += deal.revenue
                    cell.credited[Metric.costOfGoods.rawValue * models + model] += deal.costOfGoods
                }
            }
            for payment in deal.payments {
                modify(&payments[PaymentKey(day: day, month: payment.month, channel: unknownChannel.channel),
                                 default: [ExactAmount](repeating: .zero, count: 2 * models)]) { values in
                    for model in 0..<models { values[(payment.received ? 0 : models) + model] += payment.amount }
                }
            }
        }

        phase("compute")

        // 4. Spend and visits on their own days (deal-only days: their visits as last computed).
        var free: [FreeRow] = []
        if let parallelFree = try await parallelFree { free = parallelFree } else if computesJourney {
            // Visits are labelled with their day by PostgreSQL: the partition takes exactly the
            // visits PostgreSQL puts on its days (the ranges, a day wider, only narrow the scan),
            // so a difference between two time-zone databases cannot leave a visit outside
            // every partition.
            var visitScope = within("v.occurred_at", from: 3, widenedBy: 86_400_000_000, days: journeyDays)
            if let journeyDays {
                visitScope.sql += " AND (v.occurred_at AT TIME ZONE $2)::date = ANY($\(3 + visitScope.parameters.count)::date[])"
                visitScope.parameters.append(journeyDays.map(\.description))
            }
            free = try await readModelFree(days: journeyDays, visitScope: visitScope, on: connection)
        }
        if !dealDays.isEmpty {
            free += try await readSpend(days: dealDays, on: connection)
            free += try await storedVisits(days: dealDays, on: connection)
        }
        for row in free {
            modify(&cells[row.key, default: Cell()]) { cell in
                cell.meet(medium: row.medium)
                cell.impressions += row.impressions
                cell.clicks += row.clicks
                cell.spend += row.spend
                cell.visits += row.visits
            }
        }

        phase("spend and visits")

        // 5. Swap: delete the partitions, copy the new rows.
        let dayList: [String]? = days?.map(\.description)
        let scope: (sql: String, parameters: [(any PGEncodable)?]) = days == nil ? ("true", []) : ("day = ANY($2::date[])", [dayList])
        for table in ["report.cells", "report.payment_cells"] {
            try await connection.execute("DELETE FROM \(table) WHERE project_id = $1 AND \(scope.sql)", [project.id] + scope.parameters)
        }
        // Lead rows: every one on the other days; on deal-only days those whose figures moved.
        if dealDays.isEmpty {
            try await connection.execute("DELETE FROM report.leads WHERE project_id = $1 AND \(scope.sql)", [project.id] + scope.parameters)
        } else {
            leadRows.removeAll { row in storedFacts[row.lead.requestID].map { $0 == row.facts } ?? false }
            try await connection.execute("""
                DELETE FROM report.leads WHERE project_id = $1 AND (day = ANY($2::date[]) OR request_id = ANY($3::text[]))
                """, [project.id, (journeyDays ?? []).map(\.description), leadRows.map(\.lead.requestID)])
        }
        // Deal-only days keep their credits.
        if computesJourney {
            try await connection.execute("DELETE FROM report.credits WHERE project_id = $1 AND \(journeyDays == nil ? "true" : "day = ANY($2::date[])")",
                                         [project.id] + (journeyDays.map { [$0.map(\.description)] } ?? []))
        }
        // A deal that moved to another day leaves its old row wherever it was.
        try await connection.execute("""
            DELETE FROM report.deals WHERE project_id = $1 AND (\(scope.sql) OR (connection_id, deal_id) IN (SELECT * FROM unnest($\(scope.parameters.count + 2)::text[], $\(scope.parameters.count + 3)::text[])))
            """, [project.id] + scope.parameters + [deals.map(\.connectionID), deals.map(\.dealID)])

        phase("delete")
        let creditRows = leads[..<computedLeads].flatMap(\.credits)
        try await Credits.write(creditRows, project: project.id, on: connection)
        phase("write credits")
        try await writeLeads(leadRows, on: connection)
        phase("write leads")
        try await writeDeals(deals, leads: Dictionary(uniqueKeysWithValues: leads.map { ($0.requestID, $0) }), unknownChannel: unknownChannel.channel,
                             on: connection)
        try await writeCells(cells, on: connection)
        try await writePayments(payments, on: connection)
        phase("write deals and cells")

        summary.days = days?.count ?? Set(leads.map(\.day)).union(cells.keys.map(\.day)).count
        summary.leads = leads.count
        summary.credits = creditRows.count
        summary.deals = deals.count
        summary.cells = cells.count
        summary.paymentCells = payments.count
        return summary
    }

    /// Spend or visits of one cell (model-free figures).
    struct FreeRow: Sendable {
        var key: CellKey
        var medium: String
        var impressions: Int64 = 0
        var clicks: Int64 = 0
        var spend = ExactAmount.zero
        var visits: Int64 = 0
    }

    /// The spend and the visits of the days (nil: all), grouped in PostgreSQL by day and key shape
    /// and classified here once per shape.
    func readModelFree(days: [LocalDay]?, visitScope: (sql: String, parameters: [(any PGEncodable)?]), on connection: PGConnection) async throws -> [FreeRow] {
        var channels = ChannelClassifier.Memo(classifier)
        var rows = try await readSpend(days: days, on: connection)
        for row in try await connection.query("""
            SELECT ((v.occurred_at AT TIME ZONE $2)::date)::text, v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term,
                   v.referrer_host, v.referrer_kind, v.traffic, v.click_id_kind, count(*)
            FROM journey.visits v WHERE v.project_id = $1 AND \(visitScope.sql)
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
            """, [project.id, project.timeZone] + visitScope.parameters) {
            guard let day = LocalDay(iso: try row.decode(String.self, 0)) else { continue }
            let traffic = try row.decode(String.self, 8)
            let keys = ReportKeys.ofVisit(utmSource: try row.decode(String?.self, 1), utmMedium: try row.decode(String?.self, 2),
                                          utmCampaign: try row.decode(String?.self, 3), utmContent: try row.decode(String?.self, 4),
                                          utmTerm: try row.decode(String?.self, 5), referrerHost: try row.decode(String?.self, 6),
                                          referrerKind: try row.decode(String.self, 7), traffic: traffic)
            let channel = channels.classify(ChannelInput(source: keys.source, medium: keys.medium.isEmpty ? nil : keys.medium, campaign: keys.campaign,
                                                         traffic: traffic, clickIDKind: try row.decode(String?.self, 9)))
            rows.append(FreeRow(key: CellKey(day: day, channel: channel.channel, contractor: channel.contractor, source: keys.source,
                                             campaign: keys.campaign, ad: keys.ad, keyword: keys.keyword),
                                medium: keys.medium, visits: try row.decode(Int64.self, 10)))
        }
        return rows
    }

    /// The spend of the days (nil: all) per day and key shape, classified once per shape.
    func readSpend(days: [LocalDay]?, on connection: PGConnection) async throws -> [FreeRow] {
        var rows: [FreeRow] = []
        var channels = ChannelClassifier.Memo(classifier)
        for row in try await connection.query("""
            SELECT day::text, utm_source, coalesce(utm_medium, ''), coalesce(utm_campaign, ''), coalesce(utm_content, ''), coalesce(utm_term, ''),
                   sum(impressions)::int8, sum(clicks)::int8, sum(spend)::text
            FROM spend.facts WHERE project_id = $1 AND ($2::date[] IS NULL OR day = ANY($2::date[]))
            GROUP BY 1, 2, 3, 4, 5, 6
            """, [project.id, days?.map(\.description)]) {
            guard let day = LocalDay(iso: try row.decode(String.self, 0)) else { continue }
            let source = try row.decode(String.self, 1), medium = try row.decode(String.self, 2), campaign = try row.decode(String.self, 3)
            let input = ChannelInput.spend(source: source, medium: medium.isEmpty ? nil : medium, campaign: campaign)
            let channel = channels.classify(input)
            let key = CellKey(day: day, channel: channel.channel, contractor: channel.contractor, source: source, campaign: campaign,
                              ad: try row.decode(String.self, 4), keyword: try row.decode(String.self, 5))
            let spendText = try row.decode(String.self, 8)
            guard let spend = ExactAmount(spendText) else {
                throw AggregationError("project \(project.id): spend \(spendText) on \(day) for \(source)/\(campaign) is out of range")
            }
            rows.append(FreeRow(key: key, medium: medium, impressions: try row.decode(Int64.self, 6), clicks: try row.decode(Int64.self, 7),
                                spend: spend))
        }
        return rows
    }

    /// The visits of deal-only days as their last recomputation counted them (in `report.cells`).
    func storedVisits(days: [LocalDay], on connection: PGConnection) async throws -> [FreeRow] {
        try await connection.query("""
            SELECT day::text, channel, contractor, source, medium, campaign, ad, keyword, visits
            FROM report.cells WHERE project_id = $1 AND day = ANY($2::date[]) AND visits <> 0
            """, [project.id, days.map(\.description)]).compactMap { row in
            guard let day = LocalDay(iso: try row.decode(String.self, 0)) else { return nil }
            return FreeRow(key: CellKey(day: day, channel: try row.decode(String.self, 1), contractor: try row.decode(String?.self, 2),
                                        source: try row.decode(String.self, 3), campaign: try row.decode(String.self, 5),
                                        ad: try row.decode(String.self, 6), keyword: try row.decode(String.self, 7)),
                           medium: try row.decode(String.self, 4), visits: try row.decode(Int64.self, 8))
        }
    }

    /// The leads of deal-only days with their credits as their last recomputation stored them.
    func storedLeads(days: [LocalDay], on connection: PGConnection) async throws -> (leads: [Credits.Lead], facts: [String: LeadFacts]) {
        // Two plain index scans (a join would repeat each lead's columns on each of its credits).
        var creditsOf: [String: [Credits.Row]] = [:]
        for row in try await connection.query("""
            SELECT request_id, day::text, position, visit_id, (extract(epoch FROM touched_at) * 1000000)::int8, channel, contractor, source, medium,
                   campaign, ad, keyword, w_first_click, w_last_click, w_last_non_direct, w_last_paid, w_linear, w_position_based, w_time_decay
            FROM report.credits WHERE project_id = $1 AND day = ANY($2::date[])
            """, [project.id, days.map(\.description)]) {
            guard let day = LocalDay(iso: try row.decode(String.self, 1)) else { continue }
            let id = try row.decode(String.self, 0)
            creditsOf[id, default: []].append(Credits.Row(
                requestID: id, position: try row.decode(Int.self, 2), visitID: try row.decode(String?.self, 3), day: day,
                touchedAt: try row.decode(Int64?.self, 4), channel: try row.decode(String.self, 5), contractor: try row.decode(String?.self, 6),
                keys: ReportKeys(source: try row.decode(String.self, 7), medium: try row.decode(String.self, 8), campaign: try row.decode(String.self, 9),
                                 ad: try row.decode(String.self, 10), keyword: try row.decode(String.self, 11)),
                weights: try (12..<19).map { try row.decode(Int64.self, $0) }))
        }
        var leads: [Credits.Lead] = []
        var facts: [String: LeadFacts] = [:]
        for row in try await connection.query("""
            SELECT request_id, (extract(epoch FROM occurred_at) * 1000000)::int8, day::text, visit_id, duplicate_of, customer_id, product,
                   manager, qualified, non_target, deals, sales, revenue::text, cost_of_goods::text, paid::text, expected::text
            FROM report.leads WHERE project_id = $1 AND day = ANY($2::date[])
            ORDER BY request_id
            """, [project.id, days.map(\.description)]) {
            let id = try row.decode(String.self, 0)
            guard let day = LocalDay(iso: try row.decode(String.self, 2)), let credits = creditsOf[id], !credits.isEmpty else {
                throw AggregationError("project \(project.id): lead \(id) has no stored credits; run analytics rebuild")
            }
            leads.append(Credits.Lead(requestID: id, occurredAt: try row.decode(Int64.self, 1), day: day, visitID: try row.decode(String?.self, 3),
                                      duplicateOf: try row.decode(String?.self, 4), customerID: try row.decode(String?.self, 5),
                                      product: try row.decode(String?.self, 6), credits: credits.sorted { $0.position < $1.position }))
            func amount(_ column: Int) throws -> ExactAmount { ExactAmount(try row.decode(String.self, column)) ?? .zero }
            facts[id] = LeadFacts(manager: try row.decode(String?.self, 7), qualified: try row.decode(Bool.self, 8),
                                  nonTarget: try row.decode(Bool.self, 9), deals: try row.decode(Int.self, 10), sales: try row.decode(Int.self, 11),
                                  revenue: try amount(12), costOfGoods: try amount(13), paid: try amount(14), expected: try amount(15))
        }
        return (leads, facts)
    }

    /// Runs `body` on a connection of `readers` inside a read-only transaction that sees the
    /// snapshot `snapshot` exported by the rebuild's transaction.
    func onReader<T: Sendable>(_ readers: PGPool, snapshot: String, _ body: @escaping @Sendable (PGConnection) async throws -> T) async throws -> T {
        guard snapshot.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { throw AggregationError("unexpected snapshot id '\(snapshot)'") }
        return try await readers.withConnection { reader in
            _ = try await reader.simpleQuery("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                _ = try await reader.simpleQuery("SET TRANSACTION SNAPSHOT '\(snapshot)'; SET LOCAL work_mem = '128MB'; SET LOCAL jit = off")
                let result = try await body(reader)
                _ = try await reader.simpleQuery("COMMIT")
                return result
            } catch {
                _ = try? await reader.simpleQuery("ROLLBACK")
                throw error
            }
        }
    }

    func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    func day(ofMicros value: Int64) -> LocalDay { LocalDay.of(micros: value, in: timeZone) }

    // MARK: - reading deals

    /// `column` within the days of `list` (nil: all rows), with parameters from `$first`; the
    /// days' time ranges are merged where consecutive, each [start, end) in µs.
    func within(_ column: String, from first: Int, widenedBy margin: Int64 = 0, days list: [LocalDay]?) -> (sql: String, parameters: [(any PGEncodable)?]) {
        guard let list else { return ("true", []) }
        var clauses: [String] = []
        var parameters: [(any PGEncodable)?] = []
        var index = 0
        while index < list.count {
            var last = index
            while last + 1 < list.count, list[last + 1] == list[last].advanced(by: 1) { last += 1 }
            let a = first + parameters.count, b = a + 1
            clauses.append("(\(column) >= 'epoch'::timestamptz + $\(a)::int8 * interval '1 microsecond' AND \(column) < 'epoch'::timestamptz + $\(b)::int8 * interval '1 microsecond')")
            parameters += [micros(list[index].start(in: timeZone)) - margin, micros(list[last].advanced(by: 1).start(in: timeZone)) + margin]
            index = last + 1
        }
        return ("(" + (clauses.isEmpty ? "false" : clauses.joined(separator: " OR ")) + ")", parameters)
    }

    /// The deals of a partition: those of `leads` (the days' leads, as read for this
    /// recomputation) and those of no lead created on the days. The leads are named by their
    /// days, not by a list of ids: a parameter array of 20,000 ids costs PostgreSQL a quarter of
    /// a second to plan.
    func readDeals(ofDays days: [LocalDay], leads: [Credits.Lead], on connection: PGConnection) async throws -> [Deal] {
        let leadScope = within("l.occurred_at", from: 2, days: days)
        let dealScope = within("d.created_at", from: 2 + leadScope.parameters.count, days: days)
        let read = try await readDeals(where: """
            (dl.request_id IN (SELECT l.request_id FROM journey.leads l WHERE l.project_id = $1 AND \(leadScope.sql))
             OR (dl.request_id IS NULL AND \(dealScope.sql)))
            """, leadScope.parameters + dealScope.parameters, on: connection)
        // Only the deals of the leads read above (a lead stored since is its own message's).
        let leadIDs = Set(leads.map(\.requestID))
        return read.filter { $0.lead.map(leadIDs.contains) ?? true }
    }

    func readDeals(where filter: String, _ parameters: [(any PGEncodable)?], on connection: PGConnection) async throws -> [Deal] {
        let rows = try await connection.query("""
            SELECT d.connection_id, d.deal_id, d.crm, coalesce(p.name, d.pipeline_id), d.pipeline_id, coalesce(s.name, d.stage_id), d.stage_id,
                   d.status, (extract(epoch FROM d.created_at) * 1000000)::int8, (extract(epoch FROM d.closed_at) * 1000000)::int8,
                   d.amount::text, d.currency, d.amounts_include_vat, d.cost_of_goods::text, coalesce(u.name, d.manager_id),
                   nullif(array_to_string(d.products, ', '), ''), d.loss_reason, dl.request_id, dl.rule, dl.customer_id,
                   (SELECT string_agg(h.pipeline_id || E'\\x1f' || h.stage_id
                                      || coalesce(E'\\x1e' || h.from_pipeline_id || E'\\x1f' || h.from_stage_id, ''), E'\\x1e')
                    FROM crm.stage_changes h
                    WHERE h.project_id = d.project_id AND h.connection_id = d.connection_id AND h.deal_id = d.deal_id),
                   (extract(epoch FROM d.updated_at) * 1000000)::int8
            FROM journey.deal_links dl
            JOIN crm.deals d ON d.project_id = dl.project_id AND d.connection_id = dl.connection_id AND d.deal_id = dl.deal_id
            LEFT JOIN crm.pipelines p ON p.project_id = d.project_id AND p.connection_id = d.connection_id AND p.pipeline_id = d.pipeline_id
            LEFT JOIN crm.stages s ON s.project_id = d.project_id AND s.connection_id = d.connection_id AND s.pipeline_id = d.pipeline_id
                                  AND s.stage_id = d.stage_id
            LEFT JOIN crm.users u ON u.project_id = d.project_id AND u.connection_id = d.connection_id AND u.user_id = d.manager_id
            WHERE dl.project_id = $1 AND NOT d.is_deleted AND \(filter)
            """, [project.id] + parameters)
        guard rows.count > 0 else { return [] }

        // Stages of every pipeline (for qualification), payments of these deals.
        var stages: [String: [String: [Qualification.Stage]]] = [:]
        for row in try await connection.query("""
            SELECT connection_id, pipeline_id, stage_id, sort, crm_kind FROM crm.stages WHERE project_id = $1
            """, [project.id]) {
            let connectionID = try row.decode(String.self, 0), pipeline = try row.decode(String.self, 1), stage = try row.decode(String.self, 2)
            let mapping = crm[connectionID]?.mapping ?? StageMapping()
            let status = mapping.status(pipeline: pipeline, stage: stage, kind: CRMStageKind(rawValue: try row.decode(String.self, 4)))
            stages[connectionID, default: [:]][pipeline, default: []].append(.init(id: stage, sort: try row.decode(Int.self, 3), status: status.rawValue))
        }
        var qualification: [String: Qualification] = [:]
        for (connectionID, pipelines) in stages {
            qualification[connectionID] = Qualification(stages: pipelines, qualifying: crm[connectionID]?.qualifying ?? [:])
        }

        var keys: [(String, String)] = []
        var currencies = Set<String>()
        // The instants amounts are converted on: closes (else last updates) and payments.
        var instants = (first: Int64.max, last: Int64.min)
        func note(_ instant: Int64) { instants = (min(instants.first, instant), max(instants.last, instant)) }
        for row in rows {
            keys.append((try row.decode(String.self, 0), try row.decode(String.self, 1)))
            currencies.insert(try row.decode(String.self, 11))
            note(try row.decode(Int64?.self, 9) ?? row.decode(Int64.self, 21))
        }
        var paymentsOf: [String: [(kind: String, amount: String, currency: String, at: Int64?, origin: String)]] = [:]
        let dealFilter = filter == "true" ? "true" : "(p.connection_id, p.deal_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
        for row in try await connection.query("""
            SELECT p.connection_id, p.deal_id, p.kind, p.amount::text, p.currency, (extract(epoch FROM p.paid_at) * 1000000)::int8, p.origin
            FROM crm.deal_payments p WHERE p.project_id = $1 AND \(dealFilter)
            """, filter == "true" ? [project.id] : [project.id, keys.map(\.0), keys.map(\.1)]) {
            let currency = try row.decode(String.self, 4)
            currencies.insert(currency)
            if let at = try row.decode(Int64?.self, 5) { note(at) }
            paymentsOf["\(try row.decode(String.self, 0))/\(try row.decode(String.self, 1))", default: []].append(
                (try row.decode(String.self, 2), try row.decode(String.self, 3), currency, try row.decode(Int64?.self, 5), try row.decode(String.self, 6)))
        }
        // Rates only when some amount is in another currency.
        let rates = currencies.subtracting([project.currency]).isEmpty ? ExchangeRates(target: project.currency)
            : try await ExchangeRateStore.load(target: project.currency, from: day(ofMicros: instants.first), to: day(ofMicros: instants.last),
                                               on: connection)
        let money = ReportMoney(target: project.currency, rates: rates, vat: vat)

        var deals: [Deal] = []
        deals.reserveCapacity(rows.count)
        for row in rows {
            let connectionID = try row.decode(String.self, 0), dealID = try row.decode(String.self, 1)
            let name = "deal \(connectionID)/\(dealID)"
            let status = try row.decode(String.self, 7)
            let createdAt = try row.decode(Int64.self, 8), closedAt = try row.decode(Int64?.self, 9)
            let updatedAt = try row.decode(Int64.self, 21)
            let currency = try row.decode(String.self, 11), includesVAT = try row.decode(Bool.self, 12)
            let closeDay = day(ofMicros: closedAt ?? updatedAt)
            let amount = try money.amount(try row.decode(String.self, 10), currency: currency, includesVAT: includesVAT, on: closeDay, what: name)
            var paid = ExactAmount.zero
            var expectedItems = ExactAmount.zero
            var hasItems = false
            var payments: [(month: LocalDay?, received: Bool, amount: ExactAmount)] = []
            for payment in paymentsOf["\(connectionID)/\(dealID)"] ?? [] {
                let payDay = payment.at.map { day(ofMicros: $0) }
                let value = try money.amount(payment.amount, currency: payment.currency, includesVAT: includesVAT, on: payDay ?? closeDay,
                                             what: "\(name), payment of \(payment.at.map { _ in payDay!.description } ?? "no date")")
                // The CRM's payment items, or expected instalments from any origin (a CSV sheet),
                // list what is still due; otherwise it is amount − paid.
                if payment.origin == "crm_payment" || payment.kind == "expected" { hasItems = true }
                if payment.kind == "received" {
                    paid += value
                    payments.append((payDay?.firstOfMonth ?? closeDay.firstOfMonth, true, value))
                } else {
                    expectedItems += value
                    payments.append((payDay?.firstOfMonth, false, value))
                }
            }
            let won = status == "won"
            // Expected: the unpaid instalments the CRM lists, else amount − paid (never below 0).
            var expected = ExactAmount.zero
            if won {
                expected = hasItems ? expectedItems : max(amount - paid, .zero)
                if !hasItems, expected != .zero { payments.append((nil, false, expected)) }
            } else {
                payments.removeAll()
            }
            var costOfGoods = ExactAmount.zero
            if won, let cost = try row.decode(String?.self, 13) {
                costOfGoods = try money.amount(cost, currency: currency, includesVAT: includesVAT, on: closeDay, what: "\(name), cost of goods")
            }
            let pipelineID = try row.decode(String.self, 4), stageID = try row.decode(String.self, 6)
            var visited = [(pipeline: pipelineID, stage: stageID)]
            for step in (try row.decode(String?.self, 20) ?? "").split(separator: "\u{1e}") {
                let parts = step.split(separator: "\u{1f}", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { visited.append((String(parts[0]), String(parts[1]))) }
            }
            let qualified = qualification[connectionID]?.qualifies(status: status, visited: visited) ?? won
            let reason = try row.decode(String?.self, 16)?.trimmingCharacters(in: .whitespaces).lowercased()
            let nonTarget = status == "lost" && reason.map { crm[connectionID]?.nonTargetReasons.contains($0) ?? false } ?? false
            deals.append(Deal(
                connectionID: connectionID, dealID: dealID, crm: try row.decode(String.self, 2), pipeline: try row.decode(String.self, 3),
                stage: try row.decode(String.self, 5), status: status, createdAt: createdAt, closedAt: closedAt, amount: amount, paid: paid,
                revenue: won ? paid : .zero, expected: expected, costOfGoods: costOfGoods, manager: try row.decode(String?.self, 14),
                product: try row.decode(String?.self, 15), lead: try row.decode(String?.self, 17), rule: try row.decode(String.self, 18),
                customerID: try row.decode(String?.self, 19), qualified: qualified, nonTarget: nonTarget, payments: payments))
        }
        return deals
    }

    // MARK: - writing

    /// What a lead row says of its deals (compared on deal-only days to skip unchanged rows).
    struct LeadFacts: Equatable {
        var manager: String?
        var qualified = false
        var nonTarget = false
        var deals = 0
        var sales = 0
        var revenue = ExactAmount.zero
        var costOfGoods = ExactAmount.zero
        var paid = ExactAmount.zero
        var expected = ExactAmount.zero
    }

    /// A lead and its facts (`row.sales` reads `row.facts.sales`).
    @dynamicMemberLookup
    struct LeadRow {
        var lead: Credits.Lead
        var facts: LeadFacts

        init(lead: Credits.Lead, manager: String?) {
            self.lead = lead
            facts = LeadFacts(manager: manager)
        }

        subscript<T>(dynamicMember path: WritableKeyPath<LeadFacts, T>) -> T {
            get { facts[keyPath: path] }
            set { facts[keyPath: path] = newValue }
        }
    }

    func writeLeads(_ rows: [LeadRow], on connection: PGConnection) async throws {
        guard !rows.isEmpty else { return }
        let projectID = project.id
        try await connection.copyIn("""
            COPY report.leads (project_id, request_id, day, occurred_at, visit_id, duplicate_of, customer_id, manager, product, qualified, non_target,
                               deals, sales, revenue, cost_of_goods, paid, expected, first_channel, first_source, first_campaign, last_channel) FROM STDIN
            """) { writer in
            for row in rows {
                let first = row.lead.credits.first!, last = row.lead.credits.last!
                writer.field(projectID)
                writer.field(row.lead.requestID)
                writer.field(row.lead.day.description)
                writer.field(microseconds: row.lead.occurredAt)
                writer.field(row.lead.visitID)
                writer.field(row.lead.duplicateOf)
                writer.field(row.lead.customerID)
                writer.field(row.manager)
                writer.field(row.lead.product)
                writer.field(row.qualified)
                writer.field(row.nonTarget)
                writer.field(row.deals)
                writer.field(row.sales)
                writer.field(row.revenue.description)
                writer.field(row.costOfGoods.description)
                writer.field(row.paid.description)
                writer.field(row.expected.description)
                writer.field(first.channel)
                writer.field(first.keys.source)
                writer.field(first.keys.campaign)
                writer.field(last.channel)
                try writer.endRow()
            }
        }
    }

    /// A deal of no lead sits on its creation day, the others on their lead's.
    func writeDeals(_ deals: [Deal], leads: [String: Credits.Lead], unknownChannel: String,
                    on connection: PGConnection) async throws {
        guard !deals.isEmpty else { return }
        let projectID = project.id
        let zone = timeZone
        try await connection.copyIn("""
            COPY report.deals (project_id, connection_id, deal_id, day, crm, pipeline, stage, status, created_at, closed_at, amount, revenue, paid,
                               expected, cost_of_goods, manager, product, lead_request_id, link_rule, visit_id, first_touch_channel,
                               last_touch_channel, lead_at, customer_id) FROM STDIN
            """) { writer in
            for deal in deals {
                let lead = deal.lead.flatMap { leads[$0] }
                let day = lead?.day ?? LocalDay.of(micros: deal.createdAt, in: zone)
                writer.field(projectID)
                writer.field(deal.connectionID)
                writer.field(deal.dealID)
                writer.field(day.description)
                writer.field(deal.crm)
                writer.field(deal.pipeline)
                writer.field(deal.stage)
                writer.field(deal.status)
                writer.field(microseconds: deal.createdAt)
                writer.field(microseconds: deal.closedAt)
                writer.field(deal.amount.description)
                writer.field(deal.revenue.description)
                writer.field(deal.paid.description)
                writer.field(deal.expected.description)
                writer.field(deal.costOfGoods.description)
                writer.field(deal.manager)
                writer.field(deal.product)
                writer.field(deal.lead)
                writer.field(deal.rule)
                writer.field(lead?.visitID)
                writer.field(lead?.credits.first?.channel ?? unknownChannel)
                writer.field(lead?.credits.last?.channel ?? unknownChannel)
                writer.field(microseconds: lead?.occurredAt)
                writer.field(deal.customerID)
                try writer.endRow()
            }
        }
    }

    /// "Yandex Direct — Агентство Альфа": the network's name for its utm_source, with the contractor.
    static func label(source: String, contractor: String?, names: [String: String]) -> String {
        (names[source.lowercased()] ?? source) + (contractor.map { " — \($0)" } ?? "")
    }

    static func array(_ values: ArraySlice<ExactAmount>) -> String { "{" + values.map(\.description).joined(separator: ",") + "}" }

    func writeCells(_ cells: [CellKey: Cell], on connection: PGConnection) async throws {
        guard !cells.isEmpty else { return }
        let projectID = project.id
        let models = Self.models
        let names = sourceNames
        try await connection.copyIn("""
            COPY report.cells (project_id, day, channel, contractor, source, medium, campaign, ad, keyword, impressions, clicks, spend, visits,
                               leads, qualified_leads, deals, sales, revenue, cost_of_goods, source_label) FROM STDIN
            """) { writer in
            for (key, cell) in cells {
                writer.field(projectID)
                writer.field(key.day.description)
                writer.field(key.channel)
                writer.field(key.contractor)
                writer.field(key.source)
                writer.field(cell.medium ?? "")
                writer.field(key.campaign)
                writer.field(key.ad)
                writer.field(key.keyword)
                writer.field(cell.impressions)
                writer.field(cell.clicks)
                writer.field(cell.spend.description)
                writer.field(cell.visits)
                for metric in Metric.allCases {
                    writer.field(Self.array(cell.credited[(metric.rawValue * models)..<((metric.rawValue + 1) * models)]))
                }
                writer.field(Self.label(source: key.source, contractor: key.contractor, names: names))
                try writer.endRow()
            }
        }
    }

    func writePayments(_ payments: [PaymentKey: [ExactAmount]], on connection: PGConnection) async throws {
        guard !payments.isEmpty else { return }
        let projectID = project.id
        let models = Self.models
        try await connection.copyIn("""
            COPY report.payment_cells (project_id, day, payment_month, channel, revenue_paid, revenue_expected) FROM STDIN
            """) { writer in
            for (key, values) in payments {
                writer.field(projectID)
                writer.field(key.day.description)
                writer.field(key.month?.description)
                writer.field(key.channel)
                writer.field(Self.array(values[0..<models]))
                writer.field(Self.array(values[models..<(2 * models)]))
                try writer.endRow()
            }
        }
    }
}

/// Changes a value in place (a dictionary entry through its `default:` subscript is modified
/// without copying it out and back).
@inline(__always) func modify<T>(_ value: inout T, _ body: (inout T) -> Void) { body(&value) }
