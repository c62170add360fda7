import Collection
import Collectors
import Domain
import Foundation
import Meta
import Postgres
import Sandbox
import Settings
import Testing

/// collector-meta against the Meta fake, on a real PostgreSQL.
@Suite struct MetaCollectorTests {
    static let token = "EAAGsecret-meta-token"

    static func rows() -> [MetaInsightsClient.Row] {
        var rows: [MetaInsightsClient.Row] = []
        for d in 1...8 {
            let day = LocalDay(iso: String(format: "2026-03-%02d", d))!
            for c in 1...2 {
                for a in 1...3 {
                    let spend = Micros(Int64(d) * 1_000_000 + Int64(c) * 100_000 + Int64(a) * 10_000)
                    rows.append(MetaInsightsClient.Row(
                        day: day, campaignID: "12021000000000\(c)", campaignName: "Spring \(c)", adSetID: "12022000000000\(c)",
                        adSetName: "Set \(c)", adID: "1202300000\(c)\(a)", adName: "Video \(a)", impressions: Int64(3000 + d * a),
                        clicks: Int64(d + a), spend: spend, currency: "USD"))
                }
            }
        }
        return rows
    }

    struct World {
        let fake = FakeMeta(accessToken: MetaCollectorTests.token)
        let databaseURL: String
        let pool: PGPool

        static func make() async throws -> World {
            let url = try await TestStack.freshDatabase()
            let world = World(databaseURL: url, pool: PGPool(PGConfiguration(url: url), logger: TestStack.logger))
            world.fake.setRows(MetaCollectorTests.rows(), account: "1234567890")
            // Rates at most 7 days old cover every day (a missing one fails the chunk: see the framework's tests).
            try await ExchangeRateStore.store([.init(currency: "USD", day: LocalDay(iso: "2026-02-28")!, rate: Decimal(string: "90.25")!),
                                               .init(currency: "USD", day: LocalDay(iso: "2026-03-06")!, rate: Decimal(string: "90.25")!)],
                                              target: "RUB", origin: "test", pool: world.pool)
            return world
        }

        func collect(baseURL: String, token: String = MetaCollectorTests.token, currency: String = "USD") async throws -> SpendCollector.Report {
            let settings = Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
                Project(id: "school", name: "School", sources: [
                    Source(id: "meta", kind: "meta", account: "act_1234567890", baseURL: baseURL,
                           credentials: ["access_token": Secret(.inline(token))],
                           options: ["currency": currency, "page_size": "7", "backoff_seconds": "0.01", "poll_seconds": "0.01", "chunk_days": "4"]),
                ]),
            ])
            let options = try CollectorOptions.parse(["--from", "2026-03-01", "--to", "2026-03-08"])
            return try await CollectorApp.meta(logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })[0]
        }

        func stored() async throws -> [LocalDay: [String: Micros]] {
            var totals: [LocalDay: [String: Micros]] = [:]
            for row in try await pool.query("SELECT day::text, campaign_id, sum(cost_micros)::bigint FROM spend.facts GROUP BY 1, 2") {
                totals[LocalDay(iso: try row.decode(String.self, 0))!, default: [:]][try row.decode(String.self, 1)] = Micros(try row.decode(Int64.self, 2))
            }
            return totals
        }
    }

    @Test func pagedInsightsLandExactlyAndConvertAtTheDatedRate() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            #expect(try await world.stored() == world.fake.totals(account: "1234567890"))
            #expect(world.fake.pagesServed >= 2 * 4)  // 24 rows a chunk, 7 a page
            let check = try await world.pool.query("SELECT count(*), sum(spend) = sum(cost_micros) * 90.25 / 1000000, bool_and(utm_source = 'facebook') FROM spend.facts")[0]
            #expect(try check.decode(Int.self, 0) == 48)
            #expect(try check.decode(Bool.self, 1))
            #expect(try check.decode(Bool.self, 2))
        }
        await world.pool.close()
    }

    @Test func rateLimitsAreWaitedOutAndRefusedSynchronousCallsBecomeAsyncReports() async throws {
        let world = try await World.make()
        var knobs = FakeMeta.Knobs()
        knobs.failures = [.init(code: 17, subcode: 2_446_079), .init(code: 613, subcode: 1_487_742), .init(code: 80000),
                          .init(code: 2, subcode: 1_504_043, transient: true, status: 500)]
        knobs.refuseSynchronous = true
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            #expect(world.fake.asyncRuns == 2)
            #expect(try await world.stored() == world.fake.totals(account: "1234567890"))
        }
        await world.pool.close()
    }

    @Test func anExpiredTokenOrAForeignCurrencyFailsWithoutWriting() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let expired = try await world.collect(baseURL: url, token: "EAAGother-secret")
            #expect(expired.failures.count == 2)
            #expect(expired.failures.allSatisfy { $0.contains("190") && $0.contains("invalid or expired") && !$0.contains("EAAGother-secret") })
            let wrongCurrency = try await world.collect(baseURL: url, currency: "EUR")
            #expect(wrongCurrency.failures.first?.contains("Meta reports USD") == true)
            #expect(try await world.pool.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 0)
        }
        await world.pool.close()
    }
}
