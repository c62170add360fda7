import Domain
import Foundation

/// One ad account of a project at one network, as a collector run sees it.
public struct AdAccount: Sendable, Hashable {
    /// The configured source (`core.sources.source_id`).
    public var sourceID: String
    /// The account at the network (login, customer id, cabinet id).
    public var account: String
    /// The account's currency (ISO 4217).
    public var currency: String
    /// The account's own time zone: its statistics days are days in this zone.
    public var timeZone: TimeZone
    /// The `utm_source` visits from this account carry (`yandex`, `vk`, `google`).
    public var utmSource: String
    /// What visits carry in `utm_campaign`: the campaign's name (default), its id, or whatever
    /// the network's own link settings say (`network`, falling back to the name where the links
    /// say nothing or set it per click). See domain.md definition 2.
    public var campaignTag: CampaignTag

    public enum CampaignTag: String, Sendable, Hashable { case name, id, network }

    public init(
        sourceID: String, account: String, currency: String, timeZone: TimeZone, utmSource: String,
        campaignTag: CampaignTag = .name
    ) {
        self.sourceID = sourceID
        self.account = account
        self.currency = currency
        self.timeZone = timeZone
        self.utmSource = utmSource
        self.campaignTag = campaignTag
    }
}

/// A row of daily statistics at the finest grain a network gives, before conversion.
public struct SpendRow: Sendable, Equatable {
    public var day: LocalDay
    public var campaignID: String
    public var campaignName: String
    public var adGroupID: String?
    public var adGroupName: String?
    public var adID: String?
    public var adName: String?
    public var keywordID: String?
    public var keyword: String?
    public var impressions: Int64
    public var clicks: Int64
    public var conversions: Int64?
    /// Cost in the account currency, exactly as reported.
    public var cost: Micros
    /// The campaign's UTM values where the network knows them (override the defaults).
    public var utmMedium: String?
    public var utmCampaign: String?
    /// Per-row overrides of the account's defaults (a manual-cost sheet mixes sources,
    /// currencies and VAT treatments).
    public var utmSource: String?
    /// What visits carry in `utm_content` when it is not the ad id (Google: the ad group id).
    public var utmContent: String?
    public var currency: String?
    public var vatIncluded: Bool?
    /// The UTM values the network's own link settings give this row, macros expanded.
    public var links: LinkTags?

    public init(
        day: LocalDay, campaignID: String, campaignName: String, adGroupID: String? = nil, adGroupName: String? = nil,
        adID: String? = nil, adName: String? = nil, keywordID: String? = nil, keyword: String? = nil,
        impressions: Int64, clicks: Int64, conversions: Int64? = nil, cost: Micros, utmMedium: String? = nil,
        utmCampaign: String? = nil, utmSource: String? = nil, utmContent: String? = nil, currency: String? = nil,
        vatIncluded: Bool? = nil, links: LinkTags? = nil
    ) {
        self.links = links
        self.utmSource = utmSource
        self.utmContent = utmContent
        self.currency = currency
        self.vatIncluded = vatIncluded
        self.day = day
        self.campaignID = campaignID
        self.campaignName = campaignName
        self.adGroupID = adGroupID
        self.adGroupName = adGroupName
        self.adID = adID
        self.adName = adName
        self.keywordID = keywordID
        self.keyword = keyword
        self.impressions = impressions
        self.clicks = clicks
        self.conversions = conversions
        self.cost = cost
        self.utmMedium = utmMedium
        self.utmCampaign = utmCampaign
    }
}

/// A network's API as the collection framework uses it: one account, one chunk of days.
public protocol SpendSource: Sendable {
    /// `yandex_direct`, `vk_ads`, ...
    var kind: String { get }
    /// Days re-fetched by default, ending today (networks revise recent figures).
    var refetchWindowDays: Int { get }
    /// Longest date range one request may cover.
    var maxChunkDays: Int { get }
    /// Whether the costs this source returns include VAT.
    var costsIncludeVAT: Bool { get }

    /// Fetches every row of `account` for `days`.
    /// - Throws: `SourceError` naming what failed; nothing of the chunk is written when it throws
    ///   (a later run fetches the chunk again).
    func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow]
}

/// A failure of a source call, written for the operator: which source, account, dates and
/// (for bad data) line.
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
