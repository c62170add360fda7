import Collection
import Domain
import Logging
import Synchronization
import YandexDirect

/// Yandex Direct as a `SpendSource`: one Reports call per account and chunk, parsed from TSV,
/// then the chunk's campaigns' ad groups and ads for ad titles and link UTM values.
public struct DirectSpendSource: SpendSource {
    public let kind = "yandex_direct"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    public var costsIncludeVAT: Bool { client.configuration.includeVAT }
    let client: DirectReportsClient
    /// Whether to read ads and ad groups for ad titles and link UTM values (`AdGroups.get` and
    /// `Ads.get` cost API units; `options.links: off` skips them).
    var linkLookup: Bool
    /// The ads and groups read so far in this run: a backfill's chunks share campaigns, and
    /// `get` calls cost API units.
    let objects = DirectObjectCache()

    public init(client: DirectReportsClient, refetchWindowDays: Int = 7, maxChunkDays: Int = 31, linkLookup: Bool = true) {
        self.client = client
        self.linkLookup = linkLookup
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = maxChunkDays
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        let body: [UInt8]
        do {
            body = try await client.report(days: days)
        } catch let error as DirectAPIError {
            throw SourceError("\(error)")
        }
        var rows: [SpendRow] = []
        do {
            let summary = try DirectReportParser().parse(body) { row in
                rows.append(SpendRow(
                    day: row.day, campaignID: String(row.campaignID), campaignName: row.campaignName,
                    adGroupID: row.adGroupID.map(String.init), adGroupName: row.adGroupName, adID: row.adID.map(String.init),
                    keywordID: row.criterionID.map(String.init), keyword: row.criterion, impressions: row.impressions,
                    clicks: row.clicks, conversions: row.conversions, cost: row.cost))
            }
            // The request never asks to skip the summary, so a body without it was cut short
            // exactly at a line's end (a torn last line is caught by the parser).
            guard summary.declaredRows != nil else {
                throw SourceError("report: no 'Total rows' line at the end (\(summary.rows) rows read): the body was cut short")
            }
        } catch let error as DirectReportError {
            throw SourceError("report \(error)")
        }
        guard linkLookup else { return rows }
        do {
            return try await withLinks(rows)
        } catch let error as DirectAPIError {
            throw SourceError("ads and ad groups: \(error)")
        }
    }

    /// Fills each row's ad title and the UTM values of its ad's link and its group's tracking
    /// parameters (the ad's own parameters win; Direct appends the group's to every link).
    /// Macros: `{campaign_id}`, `{campaign_name}`, `{ad_id}` / `{banner_id}`, `{gbid}`,
    /// `{keyword}`, `{phrase_id}`; any other one is set per click, so that value stays unknown.
    func withLinks(_ rows: [SpendRow]) async throws -> [SpendRow] {
        let campaignIDs = Set(rows.compactMap { Int64($0.campaignID) })
        guard !campaignIDs.isEmpty else { return rows }
        let (groups, ads) = try await objects.of(campaignIDs, client: client)
        var templates = LinkTemplateCache(syntax: .braces)
        return rows.map { row in
            var row = row
            let ad = row.adID.flatMap(Int64.init).flatMap { ads[$0] }
            let group = row.adGroupID.flatMap(Int64.init).flatMap { groups[$0] }
            if row.adName == nil { row.adName = ad?.title }
            if row.adGroupName == nil { row.adGroupName = group?.name }
            var macros = ["campaign_id": row.campaignID, "campaign_name": row.campaignName]
            if let id = row.adID { macros["ad_id"] = id; macros["banner_id"] = id }
            if let id = row.adGroupID { macros["gbid"] = id }
            if let keyword = row.keyword { macros["keyword"] = keyword }
            if let id = row.keywordID { macros["phrase_id"] = id }
            row.links = templates.resolve([ad?.href, group?.trackingParams], macros: macros)
            return row
        }
    }
}

/// The ad groups and ads of the campaigns one run has read, by id; only campaigns not seen yet
/// are asked for.
final class DirectObjectCache: Sendable {
    private let state = Mutex((campaigns: Set<Int64>(), groups: [Int64: DirectReportsClient.AdGroup](), ads: [Int64: DirectReportsClient.Ad]()))

    func of(_ campaignIDs: Set<Int64>, client: DirectReportsClient)
        async throws -> ([Int64: DirectReportsClient.AdGroup], [Int64: DirectReportsClient.Ad]) {
        let missing = Array(campaignIDs.subtracting(state.withLock { $0.campaigns })).sorted()
        if !missing.isEmpty {
            let groups = try await client.adGroups(campaignIDs: missing)
            let ads = try await client.ads(campaignIDs: missing)
            state.withLock { state in
                state.campaigns.formUnion(missing)
                for group in groups where state.groups[group.id] == nil { state.groups[group.id] = group }
                for ad in ads where state.ads[ad.id] == nil { state.ads[ad.id] = ad }
            }
        }
        return state.withLock { ($0.groups, $0.ads) }
    }
}

