import Aggregation
import Attribution
import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Sandbox
import Settings
import Testing

/// The aggregator over generated worlds: every model conserves the world's totals, and partitions
/// recomputed from the identity resolver's and the collectors' messages equal a full rebuild
/// after any sequence of updates (issue 6).
@Suite struct ReportWorldTests {
    static let project = Project(
        id: "school", name: "School", timeZone: "Europe/Moscow",
        sources: [Source(id: "amo", kind: "amocrm"), Source(id: "b24", kind: "bitrix24")],
        channels: Channels(rules: [ChannelRule(source: ["yandex"], contractor: "Агентство Альфа")]))

    /// A world linked by the identity resolver, its spend stored as the collectors store it (in
    /// roubles, whatever the account's currency: conversion is the collectors' concern).
    static func linkedWorld(_ world: World) async throws -> LinkBench {
        let bench = try await WorldLinkingTests.feed(try WorldFeed.messages(world), world: world)
        try await bench.pool.withTransaction { try await world.storeSpend(on: $0) }
        return bench
    }

    /// What the world says the report must total, its spend as `storeSpend` stores it.
    static func truth(_ world: World) -> World.Totals {
        var truth = world.truth
        truth.spend = world.storedSpend
        return truth
    }

    static func decimal(_ row: PGRow, _ column: Int) throws -> Decimal { Decimal(string: try row.decode(String.self, column))! }

    @Test(arguments: [UInt64(7), 8, 9])
    func everyModelTotalsTheWorldsLeadsDealsSalesRevenueVisitsAndSpend(seed: UInt64) async throws {
        let world = World(World.Spec(seed: seed, days: 30, people: 220))
        let truth = Self.truth(world)
        let bench = try await Self.linkedWorld(world)
        defer { Task { await bench.pool.close() } }
        try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }

        let totals = try await bench.pool.query("""
            SELECT model, sum(leads)::text, sum(deals)::text, sum(sales)::text, sum(revenue)::text, sum(visits)::text, sum(spend)::text
            FROM mart.channel_report GROUP BY model ORDER BY model
            """)
        #expect(totals.count == 7)
        for row in totals {
            let model = try row.decode(String.self, 0)
            let got = World.Totals(spend: try Self.decimal(row, 6), visits: try Self.decimal(row, 5), leads: try Self.decimal(row, 1),
                                   deals: try Self.decimal(row, 2), sales: try Self.decimal(row, 3), revenue: try Self.decimal(row, 4))
            #expect(got == truth, "model \(model)")
        }
        // Per lead and model the weights sum to exactly 1.
        let sums = try await bench.pool.query("SELECT DISTINCT sum(weight)::text FROM mart.credits GROUP BY lead_request_id, model")
        #expect(try sums.map { try $0.decode(String.self, 0) } == ["1.000000000000000"])
        // Payments: received and expected per model equal the world's, by cohort.
        for row in try await bench.pool.query("""
            SELECT model, sum(revenue_paid)::text, sum(revenue_expected)::text FROM mart.cohort_payments GROUP BY model
            """) {
            #expect(try Self.decimal(row, 1) == truth.revenue)
            #expect(try Self.decimal(row, 2) == world.expectedTruth)
        }
        // One row per deal with its money; the customers are the world's components.
        let deals = try await bench.pool.query("SELECT count(*), sum(revenue)::text, sum(expected)::text FROM mart.deals")[0]
        #expect(try deals.decode(Int.self, 0) == world.deals.count)
        #expect(try Self.decimal(deals, 1) == truth.revenue)
        #expect(try Self.decimal(deals, 2) == world.expectedTruth)
        #expect(try await bench.pool.query("SELECT count(*) FROM mart.customers")[0].decode(Int.self, 0) == world.customerTruth.count)
        let customerRevenue = try await bench.pool.query("SELECT sum(revenue)::text FROM mart.customers")[0]
        #expect(try Self.decimal(customerRevenue, 0) == truth.revenue)
        for row in try await bench.pool.query("SELECT model, sum(revenue)::text, sum(customers)::text FROM mart.ltv_report GROUP BY model") {
            #expect(try Self.decimal(row, 1) == truth.revenue)
            #expect(try Self.decimal(row, 2) == Decimal(world.customerTruth.count))
        }
        // MER is revenue / spend wherever there is spend (0 on a channel that won no customer).
        #expect(try await bench.pool.query("SELECT count(*) FROM mart.ltv_report WHERE spend > 0 AND mer IS NULL")[0].decode(Int.self, 0) == 0)
        #expect(try await bench.pool.query("SELECT count(*) FROM mart.ltv_report WHERE spend > 0")[0].decode(Int.self, 0) > 0)
        // The manager report counts every lead once: non-duplicates as leads, duplicates apart.
        let managers = try await bench.pool.query("SELECT sum(leads)::text, sum(duplicate_leads)::text, sum(sales)::text FROM mart.manager_report")[0]
        #expect(try Self.decimal(managers, 0) == truth.leads)
        #expect(try Self.decimal(managers, 1) == Decimal(world.leads.count) - truth.leads)
        // Spend meets the visits that carry its keys: Direct's tagged rows have both, under the
        // contractor.
        let met = try await bench.pool.query("""
            SELECT count(*) FROM mart.channel_report WHERE model = 'linear' AND source = 'yandex' AND spend > 0 AND visits > 0
              AND channel = 'paid_search' AND contractor = 'Агентство Альфа' AND source_label = 'Yandex Direct — Агентство Альфа'
            """)
        #expect(try met[0].decode(Int.self, 0) > 0)
        // Other networks by name; sources that are no network as they are.
        let labels = Set(try await bench.pool.query("SELECT DISTINCT source || ' → ' || source_label FROM report.cells").map { try $0.decode(String.self, 0) })
        #expect(labels.isSuperset(of: ["vk → VK Ads", "google → Google Ads", "(direct) → (direct)"]), "\(labels)")
    }

    /// The aggregator's view of the database: every report row as text, sorted.
    static func snapshot(_ pool: PGPool) async throws -> [String] {
        var lines: [String] = []
        for table in ["report.credits", "report.leads", "report.deals", "report.cells", "report.payment_cells"] {
            for row in try await pool.query("SELECT t::text FROM \(table) t") { lines.append(table + " " + (try row.decode(String.self, 0))) }
        }
        return lines.sorted()
    }

    /// Takes the `attribution.dirty` messages the resolver left in the outbox and hands them,
    /// with `extra` messages, to the aggregator's handler a few at a time.
    static func aggregate(_ bench: LinkBench, extra: [Envelope] = [], handler: AggregatorHandler) async throws -> Int {
        var envelopes = extra
        for row in try await bench.pool.query("""
            DELETE FROM runtime.outbox WHERE routing_key = 'attribution.dirty' RETURNING id, convert_from(body, 'UTF8')
            """).sorted(by: { try $0.decode(Int64.self, 0) < $1.decode(Int64.self, 0) }) {
            envelopes.append(try Envelope(decoding: Array(try row.decode(String.self, 1).utf8)))
        }
        var index = 0
        while index < envelopes.count {
            let batch = Array(envelopes[index..<min(envelopes.count, index + 3)])
            try await bench.pool.withTransaction { try await handler.handle(batch, on: $0, logger: TestStack.logger) }
            index += 3
        }
        return envelopes.count
    }

    static func spendUpdated(_ world: World, from: LocalDay, to: LocalDay) throws -> Envelope {
        struct Spend: Encodable { let source: String; let account: String; let from: LocalDay; let to: LocalDay; let run: UUID }
        return try Envelope(decoding: Envelope.encode(type: ClusterTopology.spendUpdated, project: world.spec.project,
                                                      payload: Spend(source: "yandex", account: "acc", from: from, to: to, run: UUID())))
    }

    @Test func partitionsRecomputedFromTheMessagesEqualAFullRebuildAfterAnySequenceOfUpdates() async throws {
        // A world with orphan revenue (a won deal that links to nothing).
        let world = try #require((UInt64(31)...60).lazy.map { World(World.Spec(seed: $0, days: 30, people: 200)) }
            .first { $0.deals.contains { $0.truth == nil && $0.status == "won" } })
        let bench = try await Self.linkedWorld(world)
        defer { Task { await bench.pool.close() } }
        let handler = try AggregatorHandler(projects: [Self.project])
        let first = LocalDay(iso: world.spec.start)!
        // From nothing: the resolver's messages and the collectors' spend messages build the mart.
        #expect(try await Self.aggregate(bench, extra: [try Self.spendUpdated(world, from: first, to: first.advanced(by: world.spec.days))],
                                         handler: handler) > 1)
        func rebuilt() async throws -> [String] {
            try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0, readers: bench.pool) }
            return try await Self.snapshot(bench.pool)
        }
        let incremental = try await Self.snapshot(bench.pool)
        #expect(incremental.contains { $0.hasPrefix("report.cells") })
        #expect(incremental == (try await rebuilt()))

        // Random updates: statuses, payments and refunds, deletions, an orphan that gains its
        // lead, late leads and visits, spend re-collected — each followed by what the workers do.
        var random = SplitMix64(seed: 77)
        let leads = world.leads.map(\.tracked.requestID)
        var dealOnlyDays = 0
        for step in 0..<6 {
            var changed: [(String, String)] = []
            try await bench.pool.withTransaction { connection in
                for pick in 0..<4 {
                    // First of all: orphan revenue gains its lead (its creation day loses it).
                    let orphan = step == 0 && pick == 0 ? world.deals.first { $0.truth == nil && $0.status == "won" } : nil
                    let deal = orphan ?? world.deals[random.below(world.deals.count)]
                    changed.append((deal.connection, deal.id))
                    switch orphan == nil ? random.below(5) : 4 {
                    case 0:
                        try await connection.query("""
                            UPDATE crm.deals SET status = 'won', closed_at = coalesce(closed_at, created_at + interval '3 days'), updated_at = now()
                            WHERE project_id = 'school' AND connection_id = $1 AND deal_id = $2
                            """, [deal.connection, deal.id])
                    case 1:
                        try await connection.query("""
                            UPDATE crm.deals SET status = 'lost', updated_at = now() WHERE project_id = 'school' AND connection_id = $1 AND deal_id = $2
                            """, [deal.connection, deal.id])
                    case 2:
                        try await connection.query("""
                            INSERT INTO crm.payments (project_id, connection_id, payment_id, deal_id, kind, amount, currency, paid_at, origin)
                            VALUES ('school', $1, $3, $2, 'received', -1234.5, 'RUB', now(), 'crm_payment')
                            """, [deal.connection, deal.id, "refund-\(step)-\(deal.id)"])
                    case 3:
                        try await connection.query("""
                            UPDATE crm.deals SET is_deleted = true, deleted_at = now() WHERE project_id = 'school' AND connection_id = $1 AND deal_id = $2
                            """, [deal.connection, deal.id])
                    default:
                        // The deal's request-id field now names a lead: an orphan gains its lead,
                        // a linked deal may move to another lead (and day).
                        try await connection.query("""
                            UPDATE crm.deals SET request_id = $3, is_deleted = false WHERE project_id = 'school' AND connection_id = $1 AND deal_id = $2
                            """, [deal.connection, deal.id, leads[random.below(leads.count)]])
                    }
                }
            }
            var envelopes: [Envelope] = []
            struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
            for (connection, group) in Dictionary(grouping: changed, by: \.0) {
                envelopes.append(try Envelope(decoding: Envelope.encode(
                    type: ClusterTopology.dealChanged, project: "school",
                    payload: Changed(connection: connection, crm: connection == "amo" ? "amocrm" : "bitrix24", deals: group.map(\.1)))))
            }
            // A late visit and lead of someone new, on a random day.
            let at = Timestamp.format(Date(timeIntervalSince1970: Double(world.startMicros) / 1_000_000 + Double(random.below(world.spec.days * 86_400))))
            envelopes.append(try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: "school", payload: TrackedBatch(
                visits: [TrackedVisit(visitID: "late-v\(step)", clientID: "late-c\(step)", occurredAt: at, landingURL: "https://school.example/?utm_source=vk",
                                      referrerKind: "none", utmSource: "vk", utmMedium: "cpc", traffic: "paid", receivedAt: at)],
                leads: [TrackedLead(requestID: "late-r\(step)", visitID: "late-v\(step)", occurredAt: at, kind: "form", phone: "+7999000000\(step)",
                                    receivedAt: at)]))))
            try await bench.handle(envelopes)
            // Days where only deals changed are recomputed from the stored credits and visits.
            let dirty = try await bench.pool.query("SELECT convert_from(body, 'UTF8') FROM runtime.outbox WHERE routing_key = 'attribution.dirty'")
                .map { try Envelope(decoding: Array(try $0.decode(String.self, 0).utf8)) }
            dealOnlyDays += try AggregatorHandler.partitions(of: dirty)["school"]?.dealsOnly.count ?? 0
            // Spend of two days re-collected with new figures.
            let day = first.advanced(by: random.below(world.spec.days))
            try await bench.pool.query("""
                UPDATE spend.facts SET spend = spend + 1.25, clicks = clicks + 1 WHERE project_id = 'school' AND day BETWEEN $1::date AND $2::date
                """, [day.description, day.advanced(by: 1).description])
            _ = try await Self.aggregate(bench, extra: [try Self.spendUpdated(world, from: day, to: day.advanced(by: 1))], handler: handler)
            let now = try await Self.snapshot(bench.pool)
            #expect(now == (try await rebuilt()), "after step \(step)")
        }
        #expect(dealOnlyDays > 5)
    }

    @Test func replicasRecomputingOverlappingPartitionsAtOnceGiveTheRowsOfOneRebuild() async throws {
        let world = World(World.Spec(seed: 5, days: 20, people: 150))
        let bench = try await Self.linkedWorld(world)
        defer { Task { await bench.pool.close() } }
        let handler = try AggregatorHandler(projects: [Self.project])
        let first = LocalDay(iso: world.spec.start)!
        // Three replicas, each with the whole month in overlapping slices and a full rebuild
        // racing them: partition locks serialise them, nothing deadlocks, nothing is lost.
        let slices = [(0, 14), (7, 21), (3, 20)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, slice) in slices.enumerated() {
                group.addTask {
                    for _ in 0..<2 {
                        let envelope = try Self.spendUpdated(world, from: first.advanced(by: slice.0), to: first.advanced(by: slice.1))
                        try await bench.pool.withTransaction { try await handler.handle([envelope], on: $0, logger: TestStack.logger) }
                    }
                    if index == 0 {
                        try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let raced = try await Self.snapshot(bench.pool)
        try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }
        #expect(raced == (try await Self.snapshot(bench.pool)))
        #expect(raced.contains { $0.hasPrefix("report.deals") })
    }
}
