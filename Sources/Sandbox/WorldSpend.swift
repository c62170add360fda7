import Domain
import Foundation
import GoogleAds
import Meta
import Runtime
import VKAds
import YandexDirect

/// The paid side of the world: the ad accounts, their campaigns, ad groups and ads (ids as
/// each network gives them), the daily spend in each network's own units, and the link
/// settings that make a click's visit carry the keys of its spend row (domain.md definitions
/// 1–2): `utm_source` the account's, `utm_campaign` the campaign's name, `utm_content` the ad
/// id (Google Ads: the ad group id), `utm_term` the keyword (Direct).
extension World {
    /// An ad account as a project configures it: the collector kind, the source id, the
    /// account, the `utm_source` its spend is keyed by, and the account's currency.
    public struct AdAccount: Sendable {
        public var kind: String
        public var sourceID: String
        public var account: String
        public var utmSource: String
        public var currency: String
    }

    /// The world's accounts, one per paid channel (`paidChannels`). Meta bills in US dollars:
    /// its spend needs `rates` to reach the reporting currency (roubles).
    public static let adAccounts: [AdAccount] = [
        AdAccount(kind: "yandex_direct", sourceID: "direct", account: "school-direct", utmSource: "yandex", currency: "RUB"),
        AdAccount(kind: "vk_ads", sourceID: "vk", account: "school-vk", utmSource: "vk", currency: "RUB"),
        AdAccount(kind: "google_ads", sourceID: "google", account: "123-456-7890", utmSource: "google", currency: "RUB"),
        AdAccount(kind: "meta", sourceID: "meta", account: "act_1234567890", utmSource: "facebook", currency: "USD"),
        AdAccount(kind: "mytarget", sourceID: "mytarget", account: "school-mt", utmSource: "mytarget", currency: "RUB"),
    ]

    /// The account whose spend is keyed by this `utm_source`.
    public static func account(_ utmSource: String) -> AdAccount { adAccounts.first { $0.utmSource == utmSource }! }

    /// One ad of a paid campaign, with the network's ids.
    public struct PaidAd: Sendable, Hashable {
        /// The account's `utm_source`.
        public var source: String
        public var campaignID: String
        /// What visits carry in `utm_campaign`.
        public var campaignName: String
        /// nil in myTarget (banners sit in campaigns).
        public var groupID: String?
        public var groupName: String?
        public var adID: String
        public var adName: String
        /// What visits from this ad carry in `utm_content`: the ad id; Google Ads: the ad group id.
        public var content: String
    }

    public static let adsPerCampaign = 3

    /// Direct's keywords (criterion id, text): Direct visits carry the text in `utm_term`.
    public static let keywords: [(id: Int64, text: String)] = [(31_001, "курсы python"), (31_002, "обучение дизайну"), (31_003, "английский онлайн")]

    /// Every paid ad, campaign by campaign in `paidChannels` order.
    public static let paidAds: [PaidAd] = {
        var ads: [PaidAd] = []
        for channel in paidChannels {
            for (index, campaign) in channel.campaigns.enumerated() {
                let c = Int64(index + 1)
                for a in 1...Int64(adsPerCampaign) {
                    let ad: PaidAd
                    switch channel.source {
                    case "yandex":
                        let id = 16_100_000_000 + c * 10 + a
                        ad = PaidAd(source: "yandex", campaignID: String(70_100_000 + c), campaignName: campaign,
                                    groupID: String(5_100_000_000 + c * 10), groupName: campaign + " — группа", adID: String(id),
                                    adName: FakeYandexDirect.title(ofAd: id), content: String(id))
                    case "vk":
                        ad = PaidAd(source: "vk", campaignID: String(2_000_000 + c), campaignName: campaign, groupID: String(3_000_000 + c * 10),
                                    groupName: campaign + " / аудитория", adID: String(4_000_000 + c * 10 + a),
                                    adName: "\(campaign) баннер \(a)", content: String(4_000_000 + c * 10 + a))
                    case "google":
                        let group = String(150_000_000_000 + c * 10 + a)
                        ad = PaidAd(source: "google", campaignID: String(21_000_000_000 + c), campaignName: campaign, groupID: group,
                                    groupName: "\(campaign) группа \(a)", adID: String(700_000_000_000 + c * 10 + a),
                                    adName: "\(campaign) ad \(a)", content: group)
                    case "facebook":
                        let id = String(120_210_000_000_200_000 + c * 10 + a)
                        ad = PaidAd(source: "facebook", campaignID: String(120_210_000_000_000_000 + c), campaignName: campaign,
                                    groupID: String(120_210_000_000_100_000 + c * 10), groupName: campaign + " adset", adID: id,
                                    adName: "\(campaign) reel \(a)", content: id)
                    default:  // mytarget
                        ad = PaidAd(source: channel.source, campaignID: String(5_000_000 + c), campaignName: campaign, groupID: nil, groupName: nil,
                                    adID: String(6_000_000 + c * 10 + a), adName: "\(campaign) banner \(a)", content: String(6_000_000 + c * 10 + a))
                    }
                    ads.append(ad)
                }
            }
        }
        return ads
    }()

    static let adsByCampaign: [String: [PaidAd]] = Dictionary(grouping: paidAds) { $0.source + "\u{0}" + $0.campaignName }
    static let adsByContent: [String: PaidAd] = Dictionary(uniqueKeysWithValues: paidAds.map { ($0.source + "\u{0}" + $0.content, $0) })

    /// The ads of one campaign of one source.
    public static func ads(of source: String, campaign: String) -> [PaidAd] { adsByCampaign[source + "\u{0}" + campaign] ?? [] }

    /// A day of one ad (and keyword, in Direct) as its network reports it.
    public struct SpendRow: Sendable, Equatable {
        public var day: LocalDay
        public var ad: PaidAd
        public var keywordID: Int64?
        public var keyword: String?
        public var impressions: Int64
        public var clicks: Int64
        /// In the account's currency, VAT-free: Direct in arbitrary micros (VAT taken out),
        /// Google in micros of whole kopecks, VK Ads and myTarget in kopecks, Meta in cents.
        public var cost: Micros
        public var account: AdAccount { World.account(ad.source) }
    }

    /// A day's exchange rate to roubles (the central bank's, four places).
    public struct Rate: Sendable {
        public var day: LocalDay
        public var currency: String
        public var rate: Decimal
    }

    /// US dollar rates for every day of the world and the week before it.
    public var rates: [Rate] {
        var random = SplitMix64(seed: spec.seed ^ 0x0052_4154_4553)
        let first = LocalDay(iso: spec.start)!
        var tenThousandths: Int64 = 880_000
        return (-7..<spec.days).map { offset in
            tenThousandths += Int64(random.below(4001)) - 2000
            return Rate(day: first.advanced(by: offset), currency: "USD", rate: Decimal(tenThousandths) / 10_000)
        }
    }

    /// `rates` as `analytics rates load` takes them.
    public var ratesCSV: String {
        "date,currency,rate\n" + rates.map { "\($0.day),\($0.currency),\($0.rate)" }.joined(separator: "\n") + "\n"
    }

    /// The spend every report must show: roubles per (`utm_source`, `utm_campaign`, day), exact
    /// (definition 15) — Meta's dollars at the day's rate.
    public var spendTruth: [SpendKey: Decimal] {
        var rate: [String: Decimal] = [:]  // "USD 2026-03-01" → roubles
        for day in rates { rate["\(day.currency) \(day.day)"] = day.rate }
        var totals: [SpendKey: Decimal] = [:]
        for row in spend {
            let currency = row.account.currency
            let roubles = currency == "RUB" ? row.cost.decimal : row.cost.decimal * rate["\(currency) \(row.day)"]!
            totals[SpendKey(source: row.ad.source, campaign: row.ad.campaignName, day: row.day), default: 0] += roubles
        }
        return totals
    }

    public struct SpendKey: Hashable, Sendable, CustomStringConvertible {
        public var source: String
        public var campaign: String
        public var day: LocalDay
        public init(source: String, campaign: String, day: LocalDay) {
            self.source = source
            self.campaign = campaign
            self.day = day
        }
        public var description: String { "\(source)/\(campaign)/\(day)" }
    }

    /// Daily rows for every ad of the world (and keyword, in Direct): every tracked click is a
    /// click of its ad on its day, plus clicks that never reached the site; CPC networks charge
    /// per click, CPM networks per thousand impressions — at prices of the Russian market for
    /// education (Direct 70–230 ₽ a click, VK and myTarget 270–720 ₽ per thousand).
    static func spendRows(spec: Spec, visits: [TrackedVisit]) -> [SpendRow] {
        var random = SplitMix64(seed: spec.seed ^ 0x0053_5045_4E44)
        let moscow = TimeZone(identifier: "Europe/Moscow")!
        let first = LocalDay(iso: spec.start)!
        var seen: [String: Int64] = [:]
        for visit in visits {
            guard let source = visit.utmSource, let content = visit.utmContent, adsByContent[source + "\u{0}" + content] != nil,
                  let at = Timestamp.parse(visit.occurredAt) else { continue }
            let day = LocalDay(at, in: moscow)
            seen["\(source)\u{0}\(content)\u{0}\(visit.utmTerm ?? "")\u{0}\(day)", default: 0] += 1
        }
        var rows: [SpendRow] = []
        for ad in paidAds {
            let keywords: [(id: Int64, text: String)?] = ad.source == "yandex" ? Self.keywords.map { $0 } : [nil]
            for offset in 0..<spec.days {
                let day = first.advanced(by: offset)
                for keyword in keywords {
                    let tracked = seen["\(ad.source)\u{0}\(ad.content)\u{0}\(keyword?.text ?? "")\u{0}\(day)"] ?? 0
                    let clicks = tracked + (tracked > 0 ? Int64(random.below(Int(tracked / 4) + 1)) : (random.unit() < 0.3 ? 1 : 0))
                    let cost: Micros
                    let impressions: Int64
                    switch ad.source {
                    case "yandex":
                        impressions = clicks * Int64(15 + random.below(40)) + Int64(20 + random.below(150))
                        // VAT taken out of whole kopecks: any number of micros.
                        cost = Micros(clicks * Int64(70_000_000 + random.below(160_000_000)))
                    case "google":
                        impressions = clicks * Int64(15 + random.below(40)) + Int64(20 + random.below(150))
                        cost = Micros(clicks * Int64(60 + random.below(180)) * 1_000_000 + clicks * Int64(random.below(100)) * 10_000)
                    case "facebook":
                        impressions = clicks * Int64(60 + random.below(120)) + Int64(300 + random.below(700))
                        cost = Micros(impressions * Int64(900 + random.below(1800)) / 1000 * 10_000)  // cents
                    default:  // vk, mytarget: CPM in kopecks
                        impressions = clicks * Int64(60 + random.below(120)) + Int64(300 + random.below(700))
                        cost = Micros(impressions * Int64(27_000 + random.below(45_000)) / 1000 * 10_000)
                    }
                    rows.append(SpendRow(day: day, ad: ad, keywordID: keyword?.id, keyword: keyword?.text, impressions: impressions,
                                         clicks: clicks, cost: cost))
                }
            }
        }
        return rows
    }

    // MARK: - loading the ad networks' fakes

    /// The link settings the world's ads carry, as each network writes them (with its macros).
    public static let linkSettings: [String: String] = [
        "yandex": "https://school.example/?utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_name}&utm_content={ad_id}&utm_term={keyword}",
        "vk": "utm_source=vk&utm_medium=cpm&utm_campaign={{ad_plan_name}}&utm_content={{banner_id}}",
        // Each campaign's suffix names it (`{name}` here): Google has no campaign-name macro.
        "google": "utm_source=google&utm_medium=cpc&utm_campaign={name}&utm_content={adgroupid}",
        "facebook": "utm_source=facebook&utm_medium=paid_social&utm_campaign={{campaign.name}}&utm_content={{ad.id}}",
        "mytarget": "utm_source=mytarget&utm_medium=cpm&utm_campaign={{campaign_name}}&utm_content={{banner_id}}",
    ]

    func rows(of source: String) -> [SpendRow] { spend.filter { $0.ad.source == source } }

    /// Direct's statistics of the world's account (costs without VAT) and its ads' links.
    public func load(into fake: FakeYandexDirect, knobs: FakeYandexDirect.Knobs = .init()) {
        var knobs = knobs
        knobs.adHref = Self.linkSettings["yandex"]
        fake.setKnobs(knobs)
        fake.setRows(rows(of: "yandex").map { row in
            DirectReportRow(day: row.day, campaignID: Int64(row.ad.campaignID)!, campaignName: row.ad.campaignName, adGroupID: Int64(row.ad.groupID!),
                            adGroupName: row.ad.groupName, adID: Int64(row.ad.adID)!, criterionID: row.keywordID, criterion: row.keyword,
                            impressions: row.impressions, clicks: row.clicks, cost: row.cost)
        }, login: Self.account("yandex").account)
    }

    /// Google Ads rows of the world's customer and its campaigns' final-URL suffix.
    public func load(into fake: FakeGoogleAds, knobs: FakeGoogleAds.Knobs = .init()) {
        var knobs = knobs
        for ad in Self.paidAds where ad.source == "google" {
            knobs.campaignFinalURLSuffixes[ad.campaignID] = Self.linkSettings["google"]!.replacingOccurrences(of: "{name}", with: ad.campaignName)
        }
        fake.setKnobs(knobs)
        fake.setRows(rows(of: "google").map { row in
            GoogleAdsClient.Row(day: row.day, campaignID: row.ad.campaignID, campaignName: row.ad.campaignName, adGroupID: row.ad.groupID!,
                                adGroupName: row.ad.groupName!, adID: row.ad.adID, adName: row.ad.adName, impressions: row.impressions,
                                clicks: row.clicks, costMicros: row.cost.value)
        }, customerID: Self.account("google").account.replacingOccurrences(of: "-", with: ""))
    }

    /// Meta insights of the world's ad account (in dollars) and its creatives' URL tags.
    public func load(into fake: FakeMeta, knobs: FakeMeta.Knobs = .init()) {
        var knobs = knobs
        knobs.urlTags = Self.linkSettings["facebook"]
        fake.setKnobs(knobs)
        fake.setRows(rows(of: "facebook").map { row in
            MetaInsightsClient.Row(day: row.day, campaignID: row.ad.campaignID, campaignName: row.ad.campaignName, adSetID: row.ad.groupID!,
                                   adSetName: row.ad.groupName!, adID: row.ad.adID, adName: row.ad.adName, impressions: row.impressions,
                                   clicks: row.clicks, spend: row.cost, currency: "USD")
        }, account: String(Self.account("facebook").account.dropFirst("act_".count)))
    }

    /// VK Ads (ad plans, ad groups, banners) or myTarget (campaigns, banners) objects, daily
    /// banner statistics and the UTM setting of each ad group (VK Ads) or campaign (myTarget).
    public func load(into fake: FakeVKAds, flavor: VKAdsClient.Flavor, knobs: FakeVKAds.Knobs = .init()) {
        let source = flavor == .vkAds ? "vk" : "mytarget"
        var knobs = knobs
        knobs.utm = Self.linkSettings[source]
        fake.setKnobs(knobs)
        let ads = Self.paidAds.filter { $0.source == source }
        var campaigns: [(Int64, String)] = []
        var groups: [(Int64, String, Int64)] = []
        for ad in ads where !campaigns.contains(where: { $0.0 == Int64(ad.campaignID)! }) { campaigns.append((Int64(ad.campaignID)!, ad.campaignName)) }
        if flavor == .vkAds {
            for ad in ads where !groups.contains(where: { $0.0 == Int64(ad.groupID!)! }) {
                groups.append((Int64(ad.groupID!)!, ad.groupName!, Int64(ad.campaignID)!))
            }
        }
        let banners = ads.map { FakeVKAds.Banner(id: Int64($0.adID)!, name: $0.adName, parent: Int64(flavor == .vkAds ? $0.groupID! : $0.campaignID)!) }
        fake.setObjects(campaigns: campaigns, groups: groups, banners: banners)
        var stats: [Int64: [LocalDay: FakeVKAds.Stat]] = [:]
        for row in rows(of: source) {
            stats[Int64(row.ad.adID)!, default: [:]][row.day] = FakeVKAds.Stat(shows: row.impressions, clicks: row.clicks, goals: 0, spent: row.cost)
        }
        fake.setStats(stats)
    }
}
