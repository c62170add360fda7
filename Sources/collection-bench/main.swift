import Collection
import Collectors
import BenchSupport
import Domain
import Foundation
import Logging
import Postgres
import Sandbox
import Schema
import Settings
import YandexDirect
import GoogleAds
import Meta
import VKAds
import Hummingbird

// Collection benchmark (release build). Usage: collection-bench [rows] [campaigns] [ads] [days]
//   1. parse + write of a Direct TSV report of `rows` rows (DirectReportParser → SpendCollector
//      range replace) vs a raw COPY of the same rows, into fresh databases of the same server;
//   2. wall time of a `days`-day backfill of `campaigns` × `ads` from the Direct fake (limits off).
// Reads DATABASE_URL (its server is used; databases are created and dropped).

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let rows = arguments.count > 0 ? arguments[0] : 1_000_000
let campaigns = arguments.count > 1 ? arguments[1] : 500
let ads = arguments.count > 2 ? arguments[2] : 20
let days = arguments.count > 3 ? arguments[3] : 90
let serverURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:55432/analytics"
var logger = Logger(label: "bench")
logger.logLevel = .critical

func seconds(_ body: () async throws -> Void) async rethrows -> Double { try await Bench.seconds(body) }
func freshDatabase() async throws -> String { try await Bench.freshDatabase(serverURL: serverURL, logger: logger) }

// A report of `rows` rows over 30 days: 2026-03-01..30.
let start = LocalDay(iso: "2026-03-01")!
var report: [DirectReportRow] = []
report.reserveCapacity(rows)
for index in 0..<rows {
    report.append(DirectReportRow(
        day: start.advanced(by: index % 30), campaignID: Int64(7000 + index / 30 % 500), campaignName: "Campaign \(index / 30 % 500)",
        adGroupID: Int64(index / 30), adGroupName: "Group \(index / 30)", adID: Int64(900_000 + index / 30), criterionID: Int64(index / 30 % 7),
        criterion: "keyword \(index / 30 % 7)", impressions: Int64(index % 1000), clicks: Int64(index % 17), cost: Micros(Int64(index % 5000) * 10_000),
        conversions: index % 3 == 0 ? 1 : nil))
}
var tsv = DirectReportRow.fieldNames.joined(separator: "\t") + "\n"
for row in report {
    tsv += "\(row.day)\t\(row.campaignID)\t\(row.campaignName)\t\(row.adGroupID!)\t\(row.adGroupName!)\t\(row.adID!)\t\(row.criterionID!)\t\(row.criterion!)\t\(row.impressions)\t\(row.clicks)\t\(row.cost.value)\t\(row.conversions.map(String.init) ?? "--")\n"
}
tsv += "Total rows: \(rows)\n"
let body = Array(tsv.utf8)

/// A source whose "API" is the TSV in memory: measures parsing and writing, not HTTP.
struct InMemoryDirect: SpendSource {
    let kind = "yandex_direct"
    let refetchWindowDays = 7
    let maxChunkDays = 31
    let costsIncludeVAT = false
    let body: [UInt8]
    func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        var rows: [SpendRow] = []
        try DirectReportParser().parse(body) { row in
            rows.append(SpendRow(day: row.day, campaignID: String(row.campaignID), campaignName: row.campaignName,
                                 adGroupID: row.adGroupID.map(String.init), adGroupName: row.adGroupName, adID: row.adID.map(String.init),
                                 keywordID: row.criterionID.map(String.init), keyword: row.criterion, impressions: row.impressions,
                                 clicks: row.clicks, conversions: row.conversions, cost: row.cost))
        }
        return rows
    }
}

let account = AdAccount(sourceID: "direct", account: "bench", currency: "RUB", timeZone: TimeZone(identifier: "Europe/Moscow")!, utmSource: "yandex")
let range = DayRange(start, start.advanced(by: 29))!
var ours: [Double] = []
var raw: [Double] = []
for _ in 0..<3 {
    let oursURL = try await freshDatabase()
    let pool = PGPool(PGConfiguration(url: oursURL), logger: logger)
    let collector = SpendCollector(project: .init(id: "bench", reportingCurrency: "RUB"), source: InMemoryDirect(body: body), pool: pool, logger: logger)
    ours.append(try await seconds {
        let result = try await collector.run(accounts: [account], range: range)
        precondition(result.succeeded && result.rowsWritten == rows, "\(result.failures)")
    })
    await pool.close()
    // Raw COPY of the same rows, already parsed, into the same table of another fresh database.
    let rawURL = try await freshDatabase()
    let connection = try await PGConnection.connect(PGConfiguration(url: rawURL), logger: logger)
    let parsed = report
    raw.append(try await seconds {
        try await connection.copyIn("""
            COPY spend.facts (project_id, source_id, account, day, campaign_id, ad_group_id, ad_id, keyword_id, campaign_name,
            ad_group_name, ad_name, keyword, utm_source, utm_medium, utm_campaign, utm_content, utm_term, impressions, clicks,
            conversions, cost_micros, currency, vat_included, spend) FROM STDIN
            """) { writer in
            for row in parsed {
                writer.field("bench"); writer.field("direct"); writer.field("bench"); writer.field(row.day.description)
                writer.field(String(row.campaignID)); writer.field(String(row.adGroupID!)); writer.field(String(row.adID!))
                writer.field(String(row.criterionID!)); writer.field(row.campaignName); writer.field(row.adGroupName); writer.field(nil as String?)
                writer.field(row.criterion); writer.field("yandex"); writer.field(nil as String?); writer.field(row.campaignName)
                writer.field(String(row.adID!)); writer.field(row.criterion); writer.field(row.impressions); writer.field(row.clicks)
                writer.field(row.conversions); writer.field(row.cost.value); writer.field("RUB"); writer.field("f"); writer.field(row.cost.description)
                try writer.endRow()
            }
        }
    })
    await connection.close()
}
let median = { (values: [Double]) in values.sorted()[values.count / 2] }
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; client, PostgreSQL on one host")
print(String(format: "Direct TSV parse + write of %d rows: %.0f rows/s (median of 3) vs raw COPY of the parsed rows %.0f rows/s -> %.0f %%",
             rows, Double(rows) / median(ours), Double(rows) / median(raw), 100 * median(raw) / median(ours)))

// The backfill from the fake, limits off.
let fake = FakeYandexDirect()
fake.addToken("bench-token", login: "bench")
var backfillRows: [DirectReportRow] = []
backfillRows.reserveCapacity(campaigns * ads * days)
for d in 0..<days {
    for c in 0..<campaigns {
        for a in 0..<ads {
            backfillRows.append(DirectReportRow(
                day: start.advanced(by: d - days + 30), campaignID: Int64(7000 + c), campaignName: "Campaign \(c)", adGroupID: Int64(c * 100 + a / 5),
                adGroupName: "Group \(a / 5)", adID: Int64(c * 1000 + a), impressions: 100, clicks: 3, cost: Micros(Int64(c + a + d) * 10_000)))
        }
    }
}
fake.setRows(backfillRows, login: "bench")
// Links as an advertiser sets them: the ads and groups are read and their macros expanded.
var linkKnobs = FakeYandexDirect.Knobs()
linkKnobs.adHref = "https://shop.example/?utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content={ad_id}&utm_term={keyword}"
linkKnobs.trackingParams = "from=direct&pos={position}"
fake.setKnobs(linkKnobs)
let backfillURL = try await freshDatabase()
let settings = Settings(databaseURL: backfillURL, amqpURL: ProcessInfo.processInfo.environment["AMQP_URL"] ?? Settings.defaultAMQPURL, projects: [
    Project(id: "bench", name: "Bench", sources: [
        Source(id: "direct", kind: "yandex_direct", account: "bench", credentials: ["token": Secret(.inline("bench-token"))]),
    ]),
])
let wall = try await FakeServer.serve(fake.router(), logger: logger) { url in
    var configured = settings
    configured.projects[0].sources[0].baseURL = url
    let options = try CollectorOptions.parse(["--from", "\(start.advanced(by: 30 - days))", "--to", "\(start.advanced(by: 29))"])
    return try await seconds {
        let reports = try await CollectorApp.yandexDirect(logger: logger).run(options, settings: configured, logger: logger, print: { _ in })
        precondition(reports.allSatisfy(\.succeeded), "\(reports.flatMap(\.failures))")
    }
}
print(String(format: "Direct backfill of %d days × %d campaigns × %d ads (%d rows) from the fake, limits off: %.1f s wall",
             days, campaigns, ads, backfillRows.count, wall))

// The same backfill from the other networks' fakes, limits off.
let firstDay = start.advanced(by: 30 - days)
let lastDay = start.advanced(by: 29)
func backfill(_ name: String, _ source: Source, _ app: CollectorApp, rowCount: Int, router: Router<BasicRequestContext>) async throws {
    let url = try await freshDatabase()
    let elapsed = try await FakeServer.serve(router, logger: logger) { base in
        var source = source
        source.baseURL = base
        if source.kind == "google_ads" { source.options["token_url"] = base + "/token" }
        let settings = Settings(databaseURL: url, amqpURL: ProcessInfo.processInfo.environment["AMQP_URL"] ?? Settings.defaultAMQPURL,
                                projects: [Project(id: "bench", name: "Bench", sources: [source])])
        let options = try CollectorOptions.parse(["--from", "\(firstDay)", "--to", "\(lastDay)"])
        return try await seconds {
            let reports = try await app.run(options, settings: settings, logger: logger, print: { _ in })
            precondition(reports.allSatisfy(\.succeeded), "\(reports.flatMap(\.failures))")
        }
    }
    print(String(format: "%@ backfill of %d days × %d campaigns × %d ads (%d rows) from the fake, limits off: %.1f s wall",
                 name, days, campaigns, ads, rowCount, elapsed))
}

let google = FakeGoogleAds(refreshToken: "r", developerToken: "d")
var googleRows: [GoogleAdsClient.Row] = []
let meta = FakeMeta(accessToken: "m")
var metaRows: [MetaInsightsClient.Row] = []
let vk = FakeVKAds(flavor: .vkAds, clientID: "c", clientSecret: "s")
var vkStats: [Int64: [LocalDay: FakeVKAds.Stat]] = [:]
var vkBanners: [FakeVKAds.Banner] = []
var vkGroups: [(Int64, String, Int64)] = []
for c in 0..<campaigns {
    vkGroups.append((Int64(c), "Group \(c)", Int64(c)))
    for a in 0..<ads { vkBanners.append(FakeVKAds.Banner(id: Int64(c * 1000 + a), name: "Banner \(a)", parent: Int64(c))) }
}
for d in 0..<days {
    let day = firstDay.advanced(by: d)
    for c in 0..<campaigns {
        for a in 0..<ads {
            let cost = Int64(c + a + d + 1) * 10_000
            googleRows.append(GoogleAdsClient.Row(day: day, campaignID: "\(c)", campaignName: "Campaign \(c)", adGroupID: "\(c)\(a / 5)",
                                                  adGroupName: "Group", adID: "\(c * 1000 + a)", impressions: 100, clicks: 3, costMicros: cost))
            metaRows.append(MetaInsightsClient.Row(day: day, campaignID: "\(c)", campaignName: "Campaign \(c)", adSetID: "\(c)", adSetName: "Set",
                                                   adID: "\(c * 1000 + a)", adName: "Ad", impressions: 100, clicks: 3, spend: Micros(cost), currency: "RUB"))
            vkStats[Int64(c * 1000 + a), default: [:]][day] = FakeVKAds.Stat(shows: 100, clicks: 3, goals: 0, spent: Micros(cost))
        }
    }
}
google.setRows(googleRows, customerID: "1234567890")
var googleKnobs = FakeGoogleAds.Knobs()
googleKnobs.campaignFinalURLSuffix = "utm_source=google&utm_medium=cpc&utm_campaign={campaignid}&utm_content={adgroupid}"
google.setKnobs(googleKnobs)
meta.setRows(metaRows, account: "1234567890")
var metaKnobs = FakeMeta.Knobs()
metaKnobs.urlTags = "utm_source=facebook&utm_medium=paid_social&utm_campaign={{campaign.name}}&utm_content={{ad.id}}"
meta.setKnobs(metaKnobs)
vk.setObjects(campaigns: (0..<campaigns).map { (Int64($0), "Campaign \($0)") }, groups: vkGroups, banners: vkBanners)
vk.setStats(vkStats)
var vkKnobs = FakeVKAds.Knobs()
vkKnobs.utm = "utm_source=vk&utm_medium=cpc&utm_campaign={{campaign_name}}&utm_content={{banner_id}}"
vk.setKnobs(vkKnobs)
try await backfill("Google Ads", Source(id: "google", kind: "google_ads", account: "1234567890", credentials: [
    "developer_token": Secret(.inline("d")), "client_id": Secret(.inline("i")), "client_secret": Secret(.inline("s")), "refresh_token": Secret(.inline("r")),
]), .googleAds(logger: logger), rowCount: googleRows.count, router: google.router())
try await backfill("Meta", Source(id: "meta", kind: "meta", account: "1234567890", credentials: ["access_token": Secret(.inline("m"))],
                                  options: ["page_size": "1000"]), .meta(logger: logger), rowCount: metaRows.count, router: meta.router())
try await backfill("VK Ads", Source(id: "vk", kind: "vk_ads", account: "cabinet", credentials: [
    "client_id": Secret(.inline("c")), "client_secret": Secret(.inline("s")),
]), .vkAds(flavor: .vkAds, logger: logger), rowCount: vkStats.values.map(\.count).reduce(0, +), router: vk.router())
