import Collection
import Collectors
import Domain
import Foundation
import GoogleAds
import Postgres
import Sandbox
import Settings
import Testing

/// collector-google-ads against the Google Ads fake, on a real PostgreSQL.
@Suite struct GoogleAdsCollectorTests {
    static let customer = "1234567890"

    static func rows() -> [GoogleAdsClient.Row] {
        var rows: [GoogleAdsClient.Row] = []
        for d in 1...9 {
            for c in 1...3 {
                for g in 1...2 {
                    let day = LocalDay(iso: String(format: "2026-03-%02d", d))!
                    let idle = d == 4 && c == 3  // all-zero rows: the API omits them
                    rows.append(GoogleAdsClient.Row(
                        day: day, campaignID: "2233445\(c)", campaignName: "Search \(c)", adGroupID: "77\(c)\(g)",
                        adGroupName: "Group \(g)", adID: "9\(c)\(g)", adName: g == 1 ? "Ad \(c)-\(g)" : nil,
                        impressions: idle ? 0 : Int64(1000 + d), clicks: idle ? 0 : Int64(d + c),
                        costMicros: idle ? 0 : Int64(d * 1_000_000 + c * 10_000 + g), conversions: g == 1 ? 1.5 : nil))
                }
            }
        }
        return rows
    }

    struct World {
        let fake = FakeGoogleAds(refreshToken: "1//refresh-secret", developerToken: "dev-secret")
        let databaseURL: String

        static func make() async throws -> World {
            let world = World(databaseURL: try await TestStack.freshDatabase())
            world.fake.setRows(GoogleAdsCollectorTests.rows(), customerID: GoogleAdsCollectorTests.customer)
            var knobs = FakeGoogleAds.Knobs()
            knobs.batchSize = 7
            world.fake.setKnobs(knobs)
            return world
        }

        func collect(baseURL: String, refreshToken: String = "1//refresh-secret") async throws -> SpendCollector.Report {
            let settings = Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
                Project(id: "school", name: "School", sources: [
                    Source(id: "google", kind: "google_ads", account: "123-456-7890", baseURL: baseURL,
                           credentials: ["developer_token": Secret(.inline("dev-secret")), "client_id": Secret(.inline("id")),
                                         "client_secret": Secret(.inline("client-secret")), "refresh_token": Secret(.inline(refreshToken))],
                           options: ["token_url": baseURL + "/token", "api_version": "v23", "backoff_seconds": "0.01", "chunk_days": "5",
                                     "login_customer_id": "111-222-3333"]),
                ]),
            ])
            let options = try CollectorOptions.parse(["--from", "2026-03-01", "--to", "2026-03-09"])
            return try await CollectorApp.googleAds(logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })[0]
        }

        func query(_ sql: String) async throws -> PGRows {
            let connection = try await PGConnection.connect(PGConfiguration(url: databaseURL), logger: TestStack.logger)
            defer { Task { await connection.close() } }
            return try await connection.query(sql)
        }

        func stored() async throws -> [LocalDay: [String: Int64]] {
            var totals: [LocalDay: [String: Int64]] = [:]
            for row in try await query("SELECT day::text, campaign_id, sum(cost_micros)::bigint FROM spend.facts GROUP BY 1, 2") {
                totals[LocalDay(iso: try row.decode(String.self, 0))!, default: [:]][try row.decode(String.self, 1)] = try row.decode(Int64.self, 2)
            }
            return totals
        }
    }

    @Test func totalsEqualTheFakeAcrossBatchesWithAdGroupsAsUTMContent() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            var expected = world.fake.totals(customerID: Self.customer)
            for (day, campaigns) in expected { expected[day] = campaigns.filter { $0.value != 0 } }
            #expect(try await world.stored() == expected)
            let check = try await world.query("""
                SELECT count(*), bool_and(utm_content = ad_group_id), bool_and(utm_source = 'google'), bool_and(NOT vat_included),
                       sum(conversions), bool_and(spend * 1000000 = cost_micros)
                FROM spend.facts
                """)[0]
            #expect(try check.decode(Int.self, 0) == 9 * 3 * 2 - 2)
            #expect(try check.decode(Bool.self, 1))
            #expect(try check.decode(Bool.self, 2))
            #expect(try check.decode(Bool.self, 3))
            #expect(try check.decode(Int.self, 4) == 2 * (9 * 3 - 1))  // 1.5 rounds to 2 per ad-group-1 row
            #expect(try check.decode(Bool.self, 5))
        }
    }

    @Test func quotaAndServerErrorsAreRetriedAndExpiredTokensRefreshed() async throws {
        let world = try await World.make()
        var knobs = FakeGoogleAds.Knobs()
        knobs.batchSize = 7
        knobs.errorStatuses = [429, 503, 500]
        knobs.tokenLifetimeCalls = 1
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            #expect(world.fake.tokensIssued >= 2)
            #expect(try await world.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 52)
        }
    }

    @Test func invalidRequestsBadRefreshTokensAndBrokenStreamsFailWithoutWriting() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            var knobs = FakeGoogleAds.Knobs()
            knobs.errorStatuses = [400, 403]
            world.fake.setKnobs(knobs)
            let refused = try await world.collect(baseURL: url)
            #expect(refused.failures.count == 2)
            #expect(refused.failures[0].contains("INVALID_ARGUMENT"))
            #expect(refused.failures[1].contains("PERMISSION_DENIED"))
            #expect(world.fake.streamCalls == 2)  // neither is retried
            let badGrant = try await world.collect(baseURL: url, refreshToken: "1//revoked")
            #expect(badGrant.failures.first?.contains("refused the refresh token") == true)
            #expect(badGrant.failures.allSatisfy { !$0.contains("1//revoked") && !$0.contains("client-secret") })
            var broken = FakeGoogleAds.Knobs()
            broken.failMidStream = true
            world.fake.setKnobs(broken)
            let midStream = try await world.collect(baseURL: url)
            #expect(midStream.failures.count == 2)
            #expect(midStream.failures[0].contains("INTERNAL"))
            #expect(try await world.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 0)
        }
    }
}
