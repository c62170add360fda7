import Collection
import Collectors
import Domain
import Foundation
import Postgres
import Sandbox
import Settings
import Testing
import VKAds

/// collector-vk-ads and collector-mytarget against the VK Ads / myTarget fake.
@Suite struct VKAdsCollectorTests {
    static func world(_ flavor: VKAdsClient.Flavor) -> FakeVKAds {
        let fake = FakeVKAds(flavor: flavor, clientID: "client-1", clientSecret: "vk-client-secret")
        var campaigns: [(Int64, String)] = []
        for index in 1...3 { campaigns.append((Int64(100 + index), "Plan \(index)")) }
        var groups: [(Int64, String, Int64)] = []
        for index in 1...6 {
            let plan = Int64(100 + (index - 1) % 3 + 1)
            groups.append((Int64(200 + index), "Group \(index)", plan))
        }
        let banners = (1...250).map { index -> FakeVKAds.Banner in
            let parent = flavor == .vkAds ? Int64(200 + (index - 1) % 6 + 1) : Int64(100 + (index - 1) % 3 + 1)
            return FakeVKAds.Banner(id: Int64(5000 + index), name: "Banner \(index)", parent: parent)
        }
        fake.setObjects(campaigns: campaigns, groups: groups, banners: banners)
        var stats: [Int64: [LocalDay: FakeVKAds.Stat]] = [:]
        for banner in banners where banner.id % 3 != 0 {  // a third of the banners never ran
            for d in 1...10 where (banner.id + Int64(d)) % 4 != 0 {
                let day = LocalDay(iso: String(format: "2026-03-%02d", d))!
                let spent = Micros((banner.id % 97 + Int64(d)) * 70_000)
                stats[banner.id, default: [:]][day] = FakeVKAds.Stat(shows: 500 + banner.id % 50, clicks: Int64(d), goals: 1, spent: spent)
            }
        }
        fake.setStats(stats)
        return fake
    }

    func collect(_ fake: FakeVKAds, url: String, databaseURL: String, flavor: VKAdsClient.Flavor = .vkAds,
                 secret: String = "vk-client-secret") async throws -> SpendCollector.Report {
        let settings = Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
            Project(id: "school", name: "School", sources: [
                Source(id: "vk", kind: flavor.rawValue, account: "cabinet-1", baseURL: url,
                       credentials: ["client_id": Secret(.inline("client-1")), "client_secret": Secret(.inline(secret))],
                       options: ["backoff_seconds": "0.01"]),
            ]),
        ])
        let options = try CollectorOptions.parse(["--from", "2026-03-01", "--to", "2026-03-10"])
        return try await CollectorApp.vkAds(flavor: flavor, logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })[0]
    }

    func stored(_ url: String) async throws -> [LocalDay: [String: Micros]] {
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        var totals: [LocalDay: [String: Micros]] = [:]
        for row in try await pool.query("SELECT day::text, campaign_id, sum(cost_micros)::bigint FROM spend.facts GROUP BY 1, 2") {
            totals[LocalDay(iso: try row.decode(String.self, 0))!, default: [:]][try row.decode(String.self, 1)] = Micros(try row.decode(Int64.self, 2))
        }
        await pool.close()
        return totals
    }

    @Test func bannerStatisticsLandExactlyInChunksOf200IdsWithTheTokenReusedAcrossRuns() async throws {
        let fake = Self.world(.vkAds)
        let database = try await TestStack.freshDatabase()
        try await FakeServer.serve(fake.router()) { url in
            let first = try await collect(fake, url: url, databaseURL: database)
            #expect(first.succeeded, "\(first.failures)")
            #expect(try await stored(database) == fake.totals())
            #expect(fake.statCalls == 2)  // 250 banners: 200 + 50 ids
            _ = try await collect(fake, url: url, databaseURL: database)
            #expect(fake.tokensIssued == 1)  // the stored token was reused by the second run
            let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
            let keys = try await pool.query("""
                SELECT bool_and(utm_content = ad_id), bool_and(utm_source = 'vk'), bool_and(ad_group_id <> ''), bool_and(campaign_name IN ('Plan 2', 'Plan 3') AND ad_group_name LIKE 'Group _') FROM spend.facts
                """)[0]
            #expect(try keys.decode(Bool.self, 0))
            #expect(try keys.decode(Bool.self, 1))
            #expect(try keys.decode(Bool.self, 2))
            #expect(try keys.decode(Bool.self, 3))  // names joined from the listings (Plan 1's banners never ran)
            await pool.close()
        }
    }

    @Test func throttlingRevokedTokensAndTheLiveTokenCapAreHandled() async throws {
        let fake = Self.world(.vkAds)
        let database = try await TestStack.freshDatabase()
        try await FakeServer.serve(fake.router()) { url in
            var knobs = FakeVKAds.Knobs()
            knobs.tooManyRequests = 2
            knobs.maxLiveTokens = 1
            fake.setKnobs(knobs)
            #expect(try await collect(fake, url: url, databaseURL: database).succeeded)
            // Revoked: 401, then the refresh token renews it (no new token is created).
            fake.revokeTokens()
            let afterRevoke = try await collect(fake, url: url, databaseURL: database)
            #expect(afterRevoke.succeeded, "\(afterRevoke.failures)")
            // Another deployment holds the only live token: the cap is hit, tokens are deleted, one is created.
            let other = try await TestStack.freshDatabase()
            let capped = try await collect(fake, url: url, databaseURL: other)
            #expect(capped.succeeded, "\(capped.failures)")
            #expect(try await stored(other) == fake.totals())
        }
    }

    @Test func myTargetUsesCampaignsDirectlyAndBadCredentialsFailWithoutTheSecret() async throws {
        let fake = Self.world(.myTarget)
        let database = try await TestStack.freshDatabase()
        try await FakeServer.serve(fake.router()) { url in
            let report = try await collect(fake, url: url, databaseURL: database, flavor: .myTarget)
            #expect(report.succeeded, "\(report.failures)")
            #expect(try await stored(database) == fake.totals())
            let refused = try await collect(fake, url: url, databaseURL: try await TestStack.freshDatabase(), flavor: .myTarget, secret: "wrong-secret")
            #expect(refused.failures.first?.contains("invalid_client") == true)
            #expect(refused.failures.allSatisfy { !$0.contains("wrong-secret") })
        }
    }
}
