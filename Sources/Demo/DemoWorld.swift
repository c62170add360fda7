import Domain
import Foundation
import Logging
import Sandbox

/// The main job's world: a month of an online school (three products, a webinar spike, five
/// paid networks with contractors plus SEO, direct and e-mail, two amoCRM pipelines and a
/// Bitrix24 portal, duplicate leads, instalments, refunds), the costs no network reports, the
/// deployment configuration that points every source at its fake, and the totals the report
/// must show — known by construction.
public struct DemoWorld: Sendable {
    public let world: World

    public init(seed: UInt64 = 2026, people: Int = 6000, days: Int = 31, start: String = "2026-03-01") {
        var spec = World.Spec(seed: seed, days: days, people: people)
        spec.start = start
        world = World(spec)
    }

    public var project: String { world.spec.project }
    public var firstDay: LocalDay { LocalDay(iso: world.spec.start)! }
    public var lastDay: LocalDay { firstDay.advanced(by: world.spec.days - 1) }

    /// A line of the cost sheet: a day's cost or a month's (spread over its days), in roubles.
    struct Cost {
        var day: String = ""
        var month: String = ""
        var source: String
        var medium: String
        var campaign: String = ""
        var roubles: Int
    }

    /// Costs typed into a sheet (the manual-costs collector reads it): the SEO studio's monthly
    /// fee for organic search from Yandex and Google, spread over the month's days, and the
    /// newsletter service per issue.
    var costs: [Cost] {
        let month = String(firstDay.description.prefix(7))
        return [Cost(month: month, source: "yandex.ru", medium: "organic", roubles: 240_000),
                Cost(month: month, source: "google.com", medium: "organic", roubles: 90_000)]
            + stride(from: 2, to: world.spec.days, by: 7).map {
                Cost(day: firstDay.advanced(by: $0).description, source: "newsletter", medium: "email", campaign: "march_digest", roubles: 3_500)
            }
    }

    /// The sheet as a spreadsheet exports it (decimal commas, Russian VAT flags); amounts without
    /// VAT (the studio is self-employed).
    public var costSheet: String {
        (["date,month,source,medium,campaign,amount,vat"] + costs.map { "\($0.day),\($0.month),\($0.source),\($0.medium),\($0.campaign),\"\($0.roubles),00\",нет" })
            .joined(separator: "\n") + "\n"
    }

    /// The cost sheet's spend per day, as the manual-costs collector spreads a month's line
    /// (evenly to the micro, the remainder on the first days).
    public var dailyCosts: [LocalDay: Decimal] {
        var days: [LocalDay: Decimal] = [:]
        for cost in costs {
            if let day = LocalDay(iso: cost.day) {
                days[day, default: 0] += Decimal(cost.roubles)
            } else if let first = LocalDay(iso: cost.month + "-01") {
                let month = first.daysOfMonth
                for (day, share) in zip(month, Micros(Int64(cost.roubles) * 1_000_000).spread(over: month.count, minorDigits: 6)) {
                    days[day, default: 0] += Decimal(share.value) / 1_000_000
                }
            }
        }
        return days
    }

    /// The world's truth with the cost sheet's spend.
    public var truth: World.Totals {
        var truth = world.truth
        truth.spend += Decimal(costs.map(\.roubles).reduce(0, +))
        return truth
    }

    /// The secrets the configuration references by environment variable, and their values
    /// (the fakes accept exactly these). `DEMO_B24_WEBHOOK_URL` is the Bitrix24 fake's own
    /// (`SandboxURLs.bitrixWebhook`).
    public static let secrets: [String: String] = [
        "DEMO_INGEST_KEY": "demo-ingest-key", "DEMO_SITE_KEY": "demo-site-key",
        "DEMO_DIRECT_TOKEN": "demo-direct-token", "DEMO_VK_CLIENT_SECRET": "demo-vk-secret", "DEMO_MT_CLIENT_SECRET": "demo-mt-secret",
        "DEMO_GOOGLE_DEVELOPER_TOKEN": "demo-google-developer", "DEMO_GOOGLE_CLIENT_SECRET": "demo-google-client-secret",
        "DEMO_GOOGLE_REFRESH_TOKEN": "1//demo-google-refresh", "DEMO_META_TOKEN": "demo-meta-token",
        "DEMO_AMO_TOKEN": "demo-amo-long-lived-token", "DEMO_AMO_WEBHOOK_SECRET": "demo-amo-webhook",
        "DEMO_B24_APP_TOKEN": "demo-b24-app-token",
    ]

    /// The deployment configuration: every source at its fake, secrets by reference.
    public func configuration(urls: SandboxURLs, costSheetPath: String) -> String {
        let amo = World.crmOptions["amo"]!.merging(["poll_seconds": "2", "requests_per_second": "0", "account_id": "29000001"]) { a, _ in a }
        let b24 = World.crmOptions["b24"]!.merging(["poll_seconds": "2", "requests_per_second": "0"]) { a, _ in a }
        func options(_ values: [String: String]) -> String {
            "{" + values.keys.sorted().map { "\($0): \"\(values[$0]!)\"" }.joined(separator: ", ") + "}"
        }
        return """
            # The main job's deployment: an online school whose sources are the sandbox's fakes.
            # Written by the demo; secrets are references to the environment, as in production.
            log_level: info
            log_format: text
            projects:
              - id: \(project)
                name: Онлайн-школа «Код и дизайн»
                time_zone: Europe/Moscow
                currency: RUB
                ingest_key: {env: DEMO_INGEST_KEY}
                site_key: {env: DEMO_SITE_KEY}
                site_domains: [school.example]
                channels:
                  rules:
                    - {source: [yandex], campaign: ["brand*"], contractor: Агентство Альфа}
                    - {source: [yandex], contractor: Фрилансер Иванов}
                    - {source: [google], contractor: Агентство Альфа}
                    - {source: [vk, mytarget], contractor: Таргетолог Петрова}
                    - {source: [facebook], contractor: In-house}
                    - {source: [yandex.ru, google.com], contractor: Студия Бета}
                    - {source: [newsletter], contractor: Unisender}
                attribution:
                  half_life_days: 7
                  default_model: last_non_direct
                sources:
                  - id: direct
                    kind: yandex_direct
                    account: school-direct
                    base_url: \(urls.direct)
                    credentials: {token: {env: DEMO_DIRECT_TOKEN}}
                    options: {utm_source: yandex, backoff_seconds: "0.2", default_retry_in: "0.2"}
                  - id: vk
                    kind: vk_ads
                    account: school-vk
                    base_url: \(urls.vk)
                    credentials: {client_id: {value: demo-vk-client}, client_secret: {env: DEMO_VK_CLIENT_SECRET}}
                    options: {utm_source: vk, backoff_seconds: "0.2"}
                  - id: mytarget
                    kind: mytarget
                    account: school-mt
                    base_url: \(urls.myTarget)
                    credentials: {client_id: {value: demo-mt-client}, client_secret: {env: DEMO_MT_CLIENT_SECRET}}
                    options: {utm_source: mytarget, backoff_seconds: "0.2"}
                  - id: google
                    kind: google_ads
                    account: 123-456-7890
                    base_url: \(urls.google)
                    credentials:
                      developer_token: {env: DEMO_GOOGLE_DEVELOPER_TOKEN}
                      client_id: {value: demo-google-client}
                      client_secret: {env: DEMO_GOOGLE_CLIENT_SECRET}
                      refresh_token: {env: DEMO_GOOGLE_REFRESH_TOKEN}
                    options: {utm_source: google, token_url: "\(urls.google)/token", backoff_seconds: "0.2"}
                  - id: meta
                    kind: meta
                    account: act_1234567890
                    base_url: \(urls.meta)
                    credentials: {access_token: {env: DEMO_META_TOKEN}}
                    options: {utm_source: facebook, currency: USD, poll_seconds: "0.2", backoff_seconds: "0.2"}
                  - id: costs
                    kind: manual_costs
                    account: seo-and-email-sheet
                    options: {file: "\(costSheetPath)"}
                  - id: amo
                    kind: amocrm
                    base_url: \(urls.amo)
                    credentials: {token: {env: DEMO_AMO_TOKEN}, webhook_secret: {env: DEMO_AMO_WEBHOOK_SECRET}}
                    options: \(options(amo))
                  - id: b24
                    kind: bitrix24
                    credentials: {webhook_url: {env: DEMO_B24_WEBHOOK_URL}, application_token: {env: DEMO_B24_APP_TOKEN}}
                    options: \(options(b24))

            """
    }
}

/// Where the sandbox's fakes listen.
public struct SandboxURLs: Sendable {
    public var direct: String
    public var vk: String
    public var myTarget: String
    public var google: String
    public var meta: String
    public var amo: String
    public var bitrix: String

    /// Bitrix24's inbound webhook URL (`https://<portal>/rest/<user>/<code>/`) on the fake.
    public var bitrixWebhook: String { bitrix + "/rest/1/" + SandboxFakes.bitrixCode + "/" }
}

/// The sandbox: every external API's fake loaded with the world, serving on loopback.
public final class SandboxFakes: Sendable {
    static let bitrixCode = "demo-b24-code"
    public let urls: SandboxURLs
    public let amo: FakeAmoCRM
    public let bitrix: FakeBitrix24
    let running: [FakeServer.Running]

    init(urls: SandboxURLs, amo: FakeAmoCRM, bitrix: FakeBitrix24, running: [FakeServer.Running]) {
        self.urls = urls
        self.amo = amo
        self.bitrix = bitrix
        self.running = running
    }

    /// Loads the world into the fakes and starts them.
    public static func start(_ demo: DemoWorld) async throws -> SandboxFakes {
        let world = demo.world
        let secrets = DemoWorld.secrets
        let direct = FakeYandexDirect()
        direct.addToken(secrets["DEMO_DIRECT_TOKEN"]!, login: "school-direct")
        world.load(into: direct)
        let google = FakeGoogleAds(refreshToken: secrets["DEMO_GOOGLE_REFRESH_TOKEN"]!, developerToken: secrets["DEMO_GOOGLE_DEVELOPER_TOKEN"]!)
        world.load(into: google)
        let meta = FakeMeta(accessToken: secrets["DEMO_META_TOKEN"]!)
        world.load(into: meta)
        let vk = FakeVKAds(flavor: .vkAds, clientID: "demo-vk-client", clientSecret: secrets["DEMO_VK_CLIENT_SECRET"]!)
        world.load(into: vk, flavor: .vkAds)
        let myTarget = FakeVKAds(flavor: .myTarget, clientID: "demo-mt-client", clientSecret: secrets["DEMO_MT_CLIENT_SECRET"]!)
        world.load(into: myTarget, flavor: .myTarget)
        let amo = FakeAmoCRM(longLivedToken: secrets["DEMO_AMO_TOKEN"]!)
        world.load(into: amo)
        let bitrix = FakeBitrix24(code: bitrixCode, applicationToken: secrets["DEMO_B24_APP_TOKEN"]!)
        world.load(into: bitrix)
        var running: [FakeServer.Running] = []
        var quiet = Logger(label: "sandbox")
        quiet.logLevel = .critical
        do {
            for router in [direct.router(), vk.router(), myTarget.router(), google.router(), meta.router(), amo.router(), bitrix.router()] {
                running.append(try await FakeServer.start(router, logger: quiet))
            }
        } catch {
            running.forEach { $0.stop() }
            throw error
        }
        let urls = SandboxURLs(direct: running[0].url, vk: running[1].url, myTarget: running[2].url, google: running[3].url, meta: running[4].url,
                               amo: running[5].url, bitrix: running[6].url)
        return SandboxFakes(urls: urls, amo: amo, bitrix: bitrix, running: running)
    }

    public func stop() { running.forEach { $0.stop() } }
}
