import Collection
import Domain
import Logging
import Meta
import Synchronization
import Settings

/// Meta as a `SpendSource`: ad-level daily insights; `spend` is taken as entered in the ad
/// account's currency without VAT (Meta bills VAT separately).
public struct MetaSpendSource: SpendSource {
    public let kind = "meta"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    public let costsIncludeVAT = false
    let client: MetaInsightsClient
    /// Whether to read the ads' creative URL tags (`options.links: off` skips it).
    var linkLookup: Bool
    /// The URL tags read in this run, per account: a backfill's chunks list the same ads.
    let urlTags = MetaURLTagCache()

    public init(client: MetaInsightsClient, refetchWindowDays: Int = 28, maxChunkDays: Int = 31, linkLookup: Bool = true) {
        self.client = client
        self.linkLookup = linkLookup
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = maxChunkDays
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        do {
            let rows = try await client.rows(account: account.account, days: days)
            let tags = linkLookup && !rows.isEmpty ? try await urlTags.of(account.account, client: client) : [:]
            var templates = LinkTemplateCache(syntax: .doubleBraces)
            return try rows.map { row in
                if let currency = row.currency, currency != account.currency {
                    throw SourceError("Meta reports \(currency) for account \(account.account), configured as \(account.currency)")
                }
                return SpendRow(day: row.day, campaignID: row.campaignID, campaignName: row.campaignName, adGroupID: row.adSetID,
                                adGroupName: row.adSetName, adID: row.adID, adName: row.adName, impressions: row.impressions,
                                clicks: row.clicks, cost: row.spend, links: Self.links(row, urlTags: tags[row.adID], &templates))
            }
        } catch let error as MetaError {
            throw SourceError("\(error)")
        }
    }

    /// The UTM values of the ad creative's URL tags. Macros: `{{campaign.id}}`,
    /// `{{campaign.name}}`, `{{adset.id}}`, `{{adset.name}}`, `{{ad.id}}`, `{{ad.name}}`; the
    /// rest (`{{placement}}`, `{{site_source_name}}`) are set per click.
    static func links(_ row: MetaInsightsClient.Row, urlTags: String?, _ templates: inout LinkTemplateCache) -> LinkTags? {
        guard let urlTags else { return nil }
        return templates.resolve([urlTags], macros: [
            "campaign.id": row.campaignID, "campaign.name": row.campaignName, "adset.id": row.adSetID,
            "adset.name": row.adSetName, "ad.id": row.adID, "ad.name": row.adName,
        ])
    }
}

extension CollectorApp {
    /// `collector-meta`. Credential: `access_token`. Options: `api_version` (`v25.0`),
    /// `window_days` (28), `chunk_days` (31), `page_size` (500), `backoff_seconds`,
    /// `poll_seconds`, `links` (`off` skips reading creative URL tags); `account` is the ad account id (with or without `act_`).
    public static func meta(logger: Logger) -> CollectorApp {
        CollectorApp(kind: "meta", defaultUTMSource: AdNetworks.defaultUTMSource(kind: "meta", otherwise: "facebook")) { source, _, _ in
            guard let token = source.credentials["access_token"] else {
                throw SettingsError("source \(source.id): credentials.access_token is required")
            }
            let client = MetaInsightsClient(configuration: .init(
                baseURL: source.baseURL ?? "https://graph.facebook.com", apiVersion: source.options["api_version"] ?? "v25.0",
                accessToken: try token.resolve(), pageSize: Int(source.options["page_size"] ?? "") ?? 500,
                backoff: Double(source.options["backoff_seconds"] ?? "") ?? 2,
                pollInterval: Double(source.options["poll_seconds"] ?? "") ?? 5), logger: logger)
            return MetaSpendSource(client: client, refetchWindowDays: Int(source.options["window_days"] ?? "") ?? 28,
                                   maxChunkDays: Int(source.options["chunk_days"] ?? "") ?? 31,
                                   linkLookup: source.options["links"] != "off")
        }
    }
}

/// Each account's creative URL tags, read once a run.
final class MetaURLTagCache: Sendable {
    private let tags = Mutex([String: [String: String]]())

    func of(_ account: String, client: MetaInsightsClient) async throws -> [String: String] {
        if let known = tags.withLock({ $0[account] }) { return known }
        let read = try await client.urlTags(account: account)
        tags.withLock { $0[account] = read }
        return read
    }
}

