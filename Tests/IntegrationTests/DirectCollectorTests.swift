import AMQP
import Collection
import Collectors
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Sandbox
import Settings
import Testing
import YandexDirect

/// collector-yandex-direct against the Direct fake, on a real PostgreSQL.
@Suite struct DirectCollectorTests {
    static let token = "y0_AgAAAAsecret-token"
    static func day(_ text: String) -> LocalDay { LocalDay(iso: text)! }

    /// 10 days × 3 campaigns × 2 groups × 2 keywords; costs with kopecks.
    static func rows() -> [DirectReportRow] {
        var rows: [DirectReportRow] = []
        for d in 1...10 {
            for c in 1...3 {
                for g in 1...2 {
                    for k in 1...2 {
                        let cost = Int64(d * 1_000 + c * 137 + g * 11 + k) * 10_000  // whole kopecks
                        rows.append(DirectReportRow(
                            day: day(String(format: "2026-03-%02d", d)), campaignID: Int64(7000 + c), campaignName: "Campaign \(c)",
                            adGroupID: Int64(c * 100 + g), adGroupName: "Group \(g)", adID: Int64(c * 1000 + g), criterionID: Int64(k),
                            criterion: "keyword \(k)", impressions: Int64(100 + d), clicks: Int64(d), cost: Micros(cost),
                            conversions: k == 1 ? 1 : nil))
                    }
                }
            }
        }
        // A Campaign Wizard campaign: no groups, ads or keywords.
        rows.append(DirectReportRow(day: day("2026-03-05"), campaignID: 7999, campaignName: "Wizard", impressions: 50, clicks: 2,
                                    cost: Micros(decimal: "99.99")!))
        return rows
    }

    struct World {
        let fake = FakeYandexDirect()
        let databaseURL: String
        let logger = TestStack.logger

        static func make() async throws -> World {
            let world = World(databaseURL: try await TestStack.freshDatabase())
            world.fake.addToken(token, login: "school-login")
            world.fake.setRows(rows(), login: "school-login")
            return world
        }

        func settings(baseURL: String, options: [String: String] = [:], token: String = DirectCollectorTests.token) -> Settings {
            var all = ["default_retry_in": "0.01", "backoff_seconds": "0.01", "chunk_days": "5"]
            for (key, value) in options { all[key] = value }
            return Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
                Project(id: "school", name: "School", timeZone: "Europe/Moscow", currency: "RUB", sources: [
                    Source(id: "direct", kind: "yandex_direct", account: "school-login", baseURL: baseURL,
                           credentials: ["token": Secret(.inline(token))], options: all),
                ]),
            ])
        }

        func collect(_ settings: Settings, from: String = "2026-03-01", to: String = "2026-03-10") async throws -> SpendCollector.Report {
            let options = try CollectorOptions.parse(["--from", from, "--to", to])
            return try await CollectorApp.yandexDirect(logger: logger).run(options, settings: settings, logger: logger, print: { _ in })[0]
        }

        func stored() async throws -> [LocalDay: [Int64: Micros]] {
            let connection = try await PGConnection.connect(PGConfiguration(url: databaseURL), logger: logger)
            var totals: [LocalDay: [Int64: Micros]] = [:]
            for row in try await connection.query("SELECT day::text, campaign_id, sum(cost_micros) FROM spend.facts GROUP BY 1, 2") {
                totals[LocalDay(iso: try row.decode(String.self, 0))!, default: [:]][Int64(try row.decode(String.self, 1))!] = Micros(try row.decode(Int64.self, 2))
            }
            await connection.close()
            return totals
        }

        func query(_ sql: String) async throws -> PGRows {
            let connection = try await PGConnection.connect(PGConfiguration(url: databaseURL), logger: logger)
            defer { Task { await connection.close() } }
            return try await connection.query(sql)
        }
    }

    @Test func totalsPerDayAndCampaignEqualTheFakeToTheKopeckAndRerunsChangeNothing() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(world.settings(baseURL: url))
            #expect(report.succeeded, "\(report.failures)")
            #expect(report.chunksDone == 2)
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            // IncludeVAT NO and RUB: spend equals cost exactly; report keys for visits.
            let check = try await world.query("""
                SELECT count(*), sum(spend) = sum(cost_micros) / 1000000.0, bool_and(vat_included = false),
                       count(*) FILTER (WHERE utm_source = 'yandex' AND utm_campaign = campaign_name), count(*) FILTER (WHERE ad_group_id = '')
                FROM spend.facts
                """)[0]
            #expect(try check.decode(Int.self, 0) == 121)
            #expect(try check.decode(Bool.self, 1))
            #expect(try check.decode(Bool.self, 2))
            #expect(try check.decode(Int.self, 3) == 121)
            #expect(try check.decode(Int.self, 4) == 1)
            // Re-running changes nothing; revised figures replace the stored ones.
            _ = try await world.collect(world.settings(baseURL: url))
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            var revised = DirectCollectorTests.rows()
            revised[0].cost = Micros(decimal: "1.00")!
            world.fake.setRows(revised, login: "school-login")
            _ = try await world.collect(world.settings(baseURL: url))
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            #expect(try await world.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 121)
        }
    }

    @Test func spendUpdatedEventsReachTheAggregatorsQueueAndAnUnknownAccountIsRefused() async throws {
        let world = try await World.make()
        let before = (try? await AMQPAdmin.queueStatus(ClusterTopology.aggregatorQueue, configuration: TestStack.amqp).messages) ?? 0
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(world.settings(baseURL: url))
            #expect(report.succeeded)
            // Two chunks, two events, published after the run through the outbox.
            #expect(try await world.query("SELECT count(*) FROM runtime.outbox")[0].decode(Int.self, 0) == 0)
            let arrived = await TestStack.eventually(seconds: 30) {
                ((try? await AMQPAdmin.queueStatus(ClusterTopology.aggregatorQueue, configuration: TestStack.amqp).messages) ?? 0) >= before + 2
            }
            #expect(arrived)
            let options = try CollectorOptions.parse(["--account", "someone-else"])
            await #expect(throws: (any Error).self) {
                _ = try await CollectorApp.yandexDirect(logger: TestStack.logger).run(
                    options, settings: world.settings(baseURL: url), logger: TestStack.logger, print: { _ in })
            }
        }
    }

    @Test func offlineReportsArePolledAndRetryableErrorsRetried() async throws {
        let world = try await World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.offlinePolls = 3
        knobs.errorCodes = [1000, 56, 9000, 506]
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(world.settings(baseURL: url))
            #expect(report.succeeded, "\(report.failures)")
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
        }
    }

    @Test func badTokenAndExhaustedUnitsStopWithoutLeakingTheToken() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let badToken = try await world.collect(world.settings(baseURL: url, token: "y0_wrong-secret"))
            #expect(!badToken.succeeded)
            #expect(badToken.failures.allSatisfy { $0.contains("error 53") && $0.contains("yandex_direct account school-login") })
            #expect(badToken.failures.allSatisfy { !$0.contains("y0_wrong-secret") })
            var knobs = FakeYandexDirect.Knobs()
            knobs.errorCodes = [152]
            world.fake.setKnobs(knobs)
            let noUnits = try await world.collect(world.settings(baseURL: url), from: "2026-03-01", to: "2026-03-05")
            #expect(noUnits.failures.count == 1)
            #expect(noUnits.failures[0].contains("error 152"))
            #expect(world.fake.requests.isEmpty)  // 152 is not hot-looped: one call, no report served
            #expect(try await world.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 0)
        }
    }

    @Test func aMalformedRowFailsOnlyItsChunkNamingTheLineAndTruncationIsCaught() async throws {
        let world = try await World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.malformedDay = Self.day("2026-03-07")
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(world.settings(baseURL: url))
            #expect(report.chunksDone == 1)
            #expect(report.failures.count == 1)
            #expect(report.failures[0].contains("2026-03-06..2026-03-10"))
            #expect(report.failures[0].contains("Cost"))
            #expect(report.failures[0].contains("line "))
            let days = try await world.query("SELECT min(day)::text, max(day)::text FROM spend.facts")[0]
            #expect(try days.decode(String.self, 0) == "2026-03-01")
            #expect(try days.decode(String.self, 1) == "2026-03-05")
            var truncated = FakeYandexDirect.Knobs()
            truncated.truncate = true
            world.fake.setKnobs(truncated)
            let cut = try await world.collect(world.settings(baseURL: url), from: "2026-03-06", to: "2026-03-10")
            #expect(cut.failures.first?.contains("truncated") == true)
        }
    }

    @Test func agencyTokensSendClientLoginAndVATIsRemovedWhenCostsIncludeIt() async throws {
        let world = try await World.make()
        world.fake.addAgencyToken("agency-token")
        try await FakeServer.serve(world.fake.router()) { url in
            let settings = world.settings(baseURL: url, options: ["client_login": "school-login", "include_vat": "true"], token: "agency-token")
            let report = try await world.collect(settings)
            #expect(report.succeeded, "\(report.failures)")
            #expect(world.fake.requests.allSatisfy { $0.login == "school-login" })
            // Costs arrive with 22 % VAT (rounded to the kopeck by Direct); spend is without VAT
            // and within half a kopeck per row of the VAT-free figure.
            let row = try await world.query("""
                SELECT bool_and(vat_included), sum(cost_micros), sum(spend), count(*) FROM spend.facts
                """)[0]
            #expect(try row.decode(Bool.self, 0))
            let fakeTotal = world.fake.totals(login: "school-login").values.flatMap(\.values).reduce(Micros.zero, +)
            let spend = try row.decode(Decimal.self, 2)
            let difference = abs(NSDecimalNumber(decimal: spend - fakeTotal.decimal).doubleValue)
            #expect(difference <= 0.005 * Double(try row.decode(Int.self, 3)))
            #expect(try row.decode(Int64.self, 1) > fakeTotal.value)
        }
    }

    /// A YAML configuration file for the executable; the token comes from DIRECT_TOKEN.
    static func configFile(url: String, options: String) throws -> String {
        let path = "/tmp/\(TestStack.unique("direct")).yaml"
        try """
            projects:
              - id: school
                name: School
                time_zone: Europe/Moscow
                currency: RUB
                sources:
                  - id: direct
                    kind: yandex_direct
                    account: school-login
                    base_url: \(url)
                    credentials: {token: {env: DIRECT_TOKEN}}
                    options: \(options)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aBackfillKilledMidwayResumesWithoutRefetchingFinishedChunks() async throws {
        let world = try await World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.offlinePolls = 1  // every report is built offline: one 201 with retryIn 1 s, then 200
        knobs.retryIn = 1
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let config = try Self.configFile(url: url, options: #"{chunk_days: "1"}"#)
            let arguments = ["--from", "2026-03-01", "--to", "2026-03-10", "--config", config]
            let environment = ["DATABASE_URL": world.databaseURL, "DIRECT_TOKEN": Self.token]
            let first = try ChildProcess("collector-yandex-direct", arguments: arguments, environment: environment)
            let progressed = await TestStack.eventually(seconds: 60) {
                ((try? await world.query("SELECT count(*) FROM spend.chunks WHERE status = 'done'")[0].decode(Int.self, 0)) ?? 0) >= 2
            }
            #expect(progressed, "\(first.log)")
            first.signal(SIGKILL)
            _ = await first.waitForExit(seconds: 10)
            let done = try await world.query("SELECT first_day::text FROM spend.chunks WHERE status = 'done' ORDER BY 1").map { try $0.decode(String.self, 0) }
            #expect(done.count >= 2 && done.count < 10)
            let served = world.fake.requests.count
            var quick = FakeYandexDirect.Knobs()
            quick.offlinePolls = 0
            world.fake.setKnobs(quick)
            let second = try ChildProcess("collector-yandex-direct", arguments: arguments, environment: environment)
            #expect(await second.waitForExit(seconds: 120) == 0, "\(second.log)")
            let refetched = world.fake.requests.dropFirst(served).map { "\($0.from)" }
            #expect(Set(refetched).isDisjoint(with: done), "refetched \(refetched), done before \(done)")
            #expect(refetched.count + done.count <= 11)  // at most the chunk in flight at the kill is fetched twice
            #expect(second.log.contains("chunks already done"))
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            #expect(try await world.query("SELECT count(*) FROM spend.runs")[0].decode(Int.self, 0) == 1)
        }
    }

    @Test func theExecutableExitsNonZeroWhenAChunkFails() async throws {
        let world = try await World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.malformedDay = Self.day("2026-03-02")
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let config = try Self.configFile(url: url, options: #"{chunk_days: "5", default_retry_in: "0.01", backoff_seconds: "0.01"}"#)
            let run = try ChildProcess("collector-yandex-direct", arguments: ["--from", "2026-03-01", "--to", "2026-03-10", "--config", config],
                                       environment: ["DATABASE_URL": world.databaseURL, "DIRECT_TOKEN": Self.token])
            let status = await run.waitForExit(seconds: 120)
            #expect(status == 1, "\(run.log)")
            #expect(run.log.contains("[direct] 2/2 chunks"))
            #expect(run.log.contains("FAILED"))
            #expect(run.log.contains("2026-03-01..2026-03-05"))
            #expect(!run.log.contains(Self.token))
        }
    }
}
