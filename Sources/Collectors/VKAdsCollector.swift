import Collection
import Domain
import Foundation
import Logging
import Postgres
import Settings
import VKAds

/// The OAuth token of one configured source, kept in `spend.api_tokens`.
public struct PGTokenStore: TokenStore {
    let pool: PGPool
    let project: String
    let source: String

    public init(pool: PGPool, project: String, source: String) {
        self.pool = pool
        self.project = project
        self.source = source
    }

    public func load() async throws -> StoredToken? {
        let rows = try await pool.query(
            "SELECT access_token, refresh_token, expires_at FROM spend.api_tokens WHERE project_id = $1 AND source_id = $2", [project, source])
        guard let row = rows.first else { return nil }
        return StoredToken(accessToken: try row.decode(String.self, 0), refreshToken: try row.decode(String?.self, 1),
                           expiresAt: try row.decode(Date.self, 2))
    }

    public func save(_ token: StoredToken) async throws {
        try await pool.query("""
            INSERT INTO spend.api_tokens (project_id, source_id, access_token, refresh_token, expires_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (project_id, source_id) DO UPDATE SET access_token = EXCLUDED.access_token,
                refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at, updated_at = now()
            """, [project, source, token.accessToken, token.refreshToken, token.expiresAt])
    }
}

/// VK Ads or myTarget as a `SpendSource`: banner level per day; `spent` is VAT-free (domain.md
/// definition 14); `utm_content` carries the banner id.
public struct VKAdsSpendSource: SpendSource {
    public let kind: String
    public var refetchWindowDays: Int
    /// Days a statistics request covers (the API takes up to 92).
    public var maxChunkDays: Int
    public let costsIncludeVAT = false
    let client: VKAdsClient

    public init(client: VKAdsClient, kind: String, refetchWindowDays: Int = 7, maxChunkDays: Int = 92) {
        self.client = client
        self.kind = kind
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = min(max(maxChunkDays, 1), 92)
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        do {
            var templates = LinkTemplateCache(syntax: .doubleBraces)
            return try await client.rows(days: days).map { row in
                SpendRow(day: row.day, campaignID: row.campaignID, campaignName: row.campaignName, adGroupID: row.adGroupID,
                         adGroupName: row.adGroupName, adID: row.bannerID, adName: row.bannerName, impressions: row.shows,
                         clicks: row.clicks, conversions: row.goals, cost: row.spent, links: links(row, &templates))
            }
        } catch let error as VKAdsError {
            throw SourceError("\(error)")
        }
    }

    /// The UTM values of the ad group's (VK Ads) or campaign's (myTarget) UTM setting. Macros:
    /// `{{campaign_id}}` / `{{campaign_name}}` (VK Ads: the ad group, which was myTarget's
    /// campaign), `{{ad_plan_id}}` / `{{ad_plan_name}}` (VK Ads), `{{banner_id}}`; the rest
    /// (`{{geo}}`, `{{gender}}`, `{{age}}`, …) are set per impression.
    func links(_ row: VKAdsClient.Row, _ templates: inout LinkTemplateCache) -> LinkTags? {
        guard let utm = row.utm else { return nil }
        var macros = ["banner_id": row.bannerID]
        if kind == "vk_ads" {
            macros["ad_plan_id"] = row.campaignID
            macros["ad_plan_name"] = row.campaignName
            if let id = row.adGroupID { macros["campaign_id"] = id }
            if let name = row.adGroupName { macros["campaign_name"] = name }
        } else {
            macros["campaign_id"] = row.campaignID
            macros["campaign_name"] = row.campaignName
        }
        return templates.resolve([utm], macros: macros)
    }
}

extension CollectorApp {
    /// `collector-vk-ads` and `collector-mytarget`. Credentials: `client_id`, `client_secret`.
    /// Options: `agency_client_name` (an agency's client), `window_days` (7), `chunk_days` (92, the
    /// API's limit), `backoff_seconds`.
    /// The token is stored in `spend.api_tokens` and reused across runs.
    public static func vkAds(flavor: VKAdsClient.Flavor, logger: Logger) -> CollectorApp {
        CollectorApp(kind: flavor.rawValue, defaultUTMSource: AdNetworks.defaultUTMSource(kind: flavor.rawValue, otherwise: flavor.rawValue)) { source, project, pool in
            func secret(_ name: String) throws -> String {
                guard let value = source.credentials[name] else { throw SettingsError("source \(source.id): credentials.\(name) is required") }
                return try value.resolve()
            }
            let client = VKAdsClient(
                configuration: .init(flavor: flavor, baseURL: source.baseURL, clientID: try secret("client_id"),
                                     clientSecret: try secret("client_secret"), agencyClientName: source.options["agency_client_name"],
                                     backoff: Double(source.options["backoff_seconds"] ?? "") ?? 1),
                store: PGTokenStore(pool: pool, project: project.id, source: source.id), logger: logger)
            return VKAdsSpendSource(client: client, kind: flavor.rawValue,
                                    refetchWindowDays: Int(source.options["window_days"] ?? "") ?? 7,
                                    maxChunkDays: Int(source.options["chunk_days"] ?? "") ?? 92)
        }
    }
}
