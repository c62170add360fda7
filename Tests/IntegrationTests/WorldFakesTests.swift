import Collection
import Collectors
import DealSync
import Domain
import Foundation
import Postgres
import Sandbox
import Settings
import Testing
import VKAds

/// The generated world loaded into the fakes: every collector and deal-sync read it back as the
/// world says, and the spend rows carry the keys the world's paid visits carry (domain.md
/// definitions 1–2), so spend and visits meet.
@Suite struct WorldFakesTests {
    static let world = World(World.Spec(seed: 11, days: 12, people: 400))

    static func period(_ world: World) -> (from: String, to: String) {
        let first = LocalDay(iso: world.spec.start)!
        return (first.description, first.advanced(by: world.spec.days - 1).description)
    }

    @Test func theWorldsSpendCollectedFromEveryNetworkIsItsTruthInRoublesAndMeetsItsPaidVisits() async throws {
        let world = Self.world
        let databaseURL = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: databaseURL), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        let rates = world.rates.map { ExchangeRateStore.Rate(currency: $0.currency, day: $0.day, rate: $0.rate) }
        _ = try await ExchangeRateStore.store(rates, target: "RUB", origin: "cbr", pool: pool)

        let direct = FakeYandexDirect()
        direct.addToken("direct-token-secret", login: "school-direct")
        world.load(into: direct)
        let google = FakeGoogleAds(refreshToken: "1//refresh-secret", developerToken: "dev-secret")
        world.load(into: google)
        let meta = FakeMeta(accessToken: "meta-token-secret")
        world.load(into: meta)
        let vk = FakeVKAds(flavor: .vkAds, clientID: "vk-client", clientSecret: "vk-secret")
        world.load(into: vk, flavor: .vkAds)
        let myTarget = FakeVKAds(flavor: .myTarget, clientID: "mt-client", clientSecret: "mt-secret")
        world.load(into: myTarget, flavor: .myTarget)

        try await FakeServer.serve(direct.router()) { directURL in
            try await FakeServer.serve(google.router()) { googleURL in
                try await FakeServer.serve(meta.router()) { metaURL in
                    try await FakeServer.serve(vk.router()) { vkURL in
                        try await FakeServer.serve(myTarget.router()) { myTargetURL in
                            let fast = ["backoff_seconds": "0.01"]
                            let sources = [
                                Source(id: "direct", kind: "yandex_direct", account: "school-direct", baseURL: directURL,
                                       credentials: ["token": Secret(.inline("direct-token-secret"))], options: fast.merging(["default_retry_in": "0.01"]) { a, _ in a }),
                                Source(id: "google", kind: "google_ads", account: "123-456-7890", baseURL: googleURL,
                                       credentials: ["developer_token": Secret(.inline("dev-secret")), "client_id": Secret(.inline("id")),
                                                     "client_secret": Secret(.inline("client-secret")), "refresh_token": Secret(.inline("1//refresh-secret"))],
                                       options: fast.merging(["token_url": googleURL + "/token"]) { a, _ in a }),
                                Source(id: "meta", kind: "meta", account: "act_1234567890", baseURL: metaURL,
                                       credentials: ["access_token": Secret(.inline("meta-token-secret"))],
                                       options: fast.merging(["currency": "USD", "poll_seconds": "0.01"]) { a, _ in a }),
                                Source(id: "vk", kind: "vk_ads", account: "school-vk", baseURL: vkURL,
                                       credentials: ["client_id": Secret(.inline("vk-client")), "client_secret": Secret(.inline("vk-secret"))], options: fast),
                                Source(id: "mytarget", kind: "mytarget", account: "school-mt", baseURL: myTargetURL,
                                       credentials: ["client_id": Secret(.inline("mt-client")), "client_secret": Secret(.inline("mt-secret"))], options: fast),
                            ]
                            let settings = Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
                                Project(id: "school", name: "School", timeZone: "Europe/Moscow", currency: "RUB", sources: sources),
                            ])
                            let (from, to) = Self.period(world)
                            let options = try CollectorOptions.parse(["--from", from, "--to", to])
                            let apps = [CollectorApp.yandexDirect(logger: TestStack.logger), .googleAds(logger: TestStack.logger),
                                        .meta(logger: TestStack.logger), .vkAds(flavor: .vkAds, logger: TestStack.logger),
                                        .vkAds(flavor: .myTarget, logger: TestStack.logger)]
                            for app in apps {
                                for report in try await app.run(options, settings: settings, logger: TestStack.logger, print: { _ in }) {
                                    #expect(report.succeeded, "\(app.kind): \(report.failures)")
                                    #expect(report.rowsWritten > 0, "\(app.kind) wrote nothing: \(report)")
                                }
                            }
                        }
                    }
                }
            }
        }

        // Every (source, campaign, day) holds the world's spend in roubles exactly — Meta's
        // dollars at the day's rate, nothing rounded.
        var stored: [World.SpendKey: Decimal] = [:]
        for row in try await pool.query("SELECT utm_source, utm_campaign, day::text, sum(spend) FROM spend.facts GROUP BY 1, 2, 3") {
            let key = World.SpendKey(source: try row.decode(String.self, 0), campaign: try row.decode(String.self, 1),
                                     day: LocalDay(iso: try row.decode(String.self, 2))!)
            stored[key] = try row.decode(Decimal.self, 3)
        }
        let truth = world.spendTruth
        #expect(Set(truth.keys.map(\.source)) == ["yandex", "vk", "google", "facebook", "mytarget"])
        #expect(stored.count == truth.count)
        for (key, amount) in truth where stored[key] != amount {
            Issue.record("\(key): stored \(stored[key].map { "\($0)" } ?? "nothing"), the world says \(amount)")
        }
        // The rows keep each network's own units beside the roubles.
        let metaCurrencies = try await pool.query("SELECT DISTINCT currency FROM spend.facts WHERE utm_source = 'facebook'").map { try $0.decode(String.self, 0) }
        #expect(metaCurrencies == ["USD"])

        // Every paid visit's keys — source, campaign, ad (utm_content) and, in Direct, keyword —
        // are the keys of a spend row.
        var keys = Set<[String]>()
        for row in try await pool.query("SELECT DISTINCT utm_source, utm_campaign, utm_content, coalesce(utm_term, '') FROM spend.facts") {
            keys.insert(try (0..<4).map { try row.decode(String.self, $0) })
        }
        let paid = Set(World.paidChannels.map(\.source))
        let paidVisits = world.visits.filter { paid.contains($0.utmSource ?? "") }
        #expect(paidVisits.count > 500)
        let unmet = paidVisits.filter { !keys.contains([$0.utmSource!, $0.utmCampaign ?? "", $0.utmContent ?? "", $0.utmTerm ?? ""]) }
        #expect(unmet.count == 0, "\(unmet.count) paid visits meet no spend row, e.g. \(unmet.prefix(3).map(\.landingURL))")
        // And the networks' link settings say the same where they name a value.
        let disagreeing = try await pool.query("""
            SELECT count(*) FROM spend.facts
            WHERE link_utm_source IS DISTINCT FROM utm_source OR (link_utm_campaign IS NOT NULL AND link_utm_campaign <> utm_campaign)
               OR link_utm_content IS DISTINCT FROM utm_content OR (link_utm_term IS NOT NULL AND link_utm_term <> utm_term)
            """)[0].decode(Int.self, 0)
        #expect(disagreeing == 0)
        let audit = try await LinkTagAudit.campaigns(project: "school", source: nil, from: LocalDay(iso: Self.period(world).from)!,
                                                     to: LocalDay(iso: Self.period(world).to)!, pool: pool)
        #expect(!audit.isEmpty)
        #expect(audit.filter(\.disagrees).isEmpty, "\(audit.filter(\.disagrees))")
    }

    @Test func theWorldsDealsSyncedFromBothCRMFakesAreTheDealsTheWorldStores() async throws {
        let world = Self.world
        let amo = FakeAmoCRM(longLivedToken: "amo-long-lived-secret")
        world.load(into: amo)
        let bitrix = FakeBitrix24(code: "b24-webhook-secret", applicationToken: "b24-app-token")
        world.load(into: bitrix)
        let synced = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: synced), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        try await FakeServer.serve(amo.router()) { amoURL in
            try await FakeServer.serve(bitrix.router()) { bitrixURL in
                let limits = ["requests_per_second": "0", "backoff_seconds": "0.01"]
                let project = Project(id: "school", name: "School", timeZone: "Europe/Moscow", currency: "RUB", sources: [
                    Source(id: "amo", kind: "amocrm", baseURL: amoURL, credentials: ["token": Secret(.inline("amo-long-lived-secret"))],
                           options: World.crmOptions["amo"]!.merging(limits) { a, _ in a }),
                    Source(id: "b24", kind: "bitrix24", credentials: ["webhook_url": Secret(.inline("\(bitrixURL)/rest/1/b24-webhook-secret/"))],
                           options: World.crmOptions["b24"]!.merging(limits) { a, _ in a }),
                ])
                for source in project.sources {
                    let connection = try CRMConnection.make(source, project: project, pool: pool, logger: TestStack.logger)
                    let catalog = try await connection.engine.syncCatalog()
                    let result = try await connection.engine.poll(catalog: catalog)
                    #expect(result.problems.isEmpty, "\(source.id): \(result.problems)")
                }
            }
        }
        // The same world stored directly (as the identity tests do).
        let direct = try await TestStack.freshDatabase()
        let directPool = PGPool(PGConfiguration(url: direct), logger: TestStack.logger)
        defer { Task { await directPool.close() } }
        try await directPool.withTransaction { try await world.storeCRM(on: $0) }

        let dealSQL = """
            SELECT d.connection_id || '/' || d.deal_id, d.status, d.amount::text, coalesce(d.request_id, ''), coalesce(d.visit_id, ''),
                   (extract(epoch FROM d.created_at))::int8, array_to_string(c.phones, ','), array_to_string(c.emails, ',')
            FROM crm.deals d JOIN crm.contacts c ON c.connection_id = d.connection_id AND c.contact_id = d.contact_ids[1]
            WHERE NOT d.is_deleted ORDER BY 1
            """
        func rows(_ pool: PGPool) async throws -> [[String]] {
            try await pool.query(dealSQL).map { row in
                [try row.decode(String.self, 0), try row.decode(String.self, 1), "\(Decimal(string: try row.decode(String.self, 2))!)",
                 try row.decode(String.self, 3), try row.decode(String.self, 4), String(try row.decode(Int64.self, 5)),
                 try row.decode(String.self, 6), try row.decode(String.self, 7)]
            }
        }
        let fromFakes = try await rows(pool)
        let stored = try await rows(directPool)
        #expect(fromFakes.count == world.deals.count)
        #expect(Set(world.deals.map(\.crm)) == [.amocrm, .bitrix24])
        #expect(fromFakes == stored)

        // Payments: every received payment, refunds negative, on its own time; expected
        // instalments (Bitrix24 `paid` N) are not revenue.
        var received: [String: [String]] = [:]
        for row in try await pool.query("""
            SELECT connection_id || '/' || deal_id, (extract(epoch FROM paid_at))::int8, amount::text FROM crm.deal_payments
            WHERE kind = 'received' ORDER BY 1, 2, 3
            """) {
            received[try row.decode(String.self, 0), default: []].append("\(try row.decode(Int64.self, 1)) \(Decimal(string: try row.decode(String.self, 2))!)")
        }
        var truth: [String: [String]] = [:]
        for deal in world.deals where deal.status == "won" {
            for payment in deal.payments.filter(\.paid) {
                truth["\(deal.connection)/\(deal.id)", default: []].append("\(payment.at / 1_000_000) \(Decimal(payment.amount) / 100)")
            }
            truth["\(deal.connection)/\(deal.id)"]?.sort()
        }
        received = received.mapValues { $0.sorted() }
        #expect(!truth.isEmpty)
        #expect(received == truth)
        let refunds = truth.values.joined().filter { $0.contains(" -") }.count
        #expect(refunds > 0)
    }
}
