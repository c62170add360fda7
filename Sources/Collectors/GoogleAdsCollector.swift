import Collection
import Domain
import GoogleAds
import Logging
import Settings

/// Google Ads as a `SpendSource`: one searchStream per account and chunk, ad level per day.
/// Costs are VAT-free (domain.md definition 14). Visits from Google carry the ad group id in
/// `utm_content` (definition 2), so that is the spend row's `utm_content`.
public struct GoogleAdsSpendSource: SpendSource {
    public let kind = "google_ads"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    public let costsIncludeVAT = false
    let client: GoogleAdsClient

    public init(client: GoogleAdsClient, refetchWindowDays: Int = 30, maxChunkDays: Int = 31) {
        self.client = client
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = maxChunkDays
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        do {
            var templates = LinkTemplateCache(syntax: .braces)
            return try await client.rows(customerID: account.account, days: days).map { row in
                SpendRow(
                    day: row.day, campaignID: row.campaignID, campaignName: row.campaignName, adGroupID: row.adGroupID,
                    adGroupName: row.adGroupName, adID: row.adID, adName: row.adName, impressions: row.impressions,
                    clicks: row.clicks, conversions: row.conversions.map { Int64($0.rounded()) }, cost: Micros(row.costMicros),
                    utmContent: row.adGroupID, links: Self.links(row, &templates))
            }
        } catch let error as GoogleAdsError {
            throw SourceError("\(error)")
        }
    }

    /// The UTM values of the row's final-URL suffixes and tracking templates. ValueTrack:
    /// `{campaignid}`, `{adgroupid}`, `{creative}` (the ad id); `{keyword}`, `{matchtype}`,
    /// custom `{_name}` parameters and the rest are set per click.
    static func links(_ row: GoogleAdsClient.Row, _ templates: inout LinkTemplateCache) -> LinkTags? {
        guard !row.linkSettings.isEmpty else { return nil }
        return templates.resolve(row.linkSettings, macros: ["campaignid": row.campaignID, "adgroupid": row.adGroupID, "creative": row.adID])
    }
}

extension CollectorApp {
    /// `collector-google-ads`. Credentials: `developer_token`, `client_id`, `client_secret`,
    /// `refresh_token`. Options: `login_customer_id` (manager account), `api_version` (`v21`),
    /// `token_url`, `window_days` (30), `chunk_days` (31), `backoff_seconds`; `account` is the
    /// customer id.
    public static func googleAds(logger: Logger) -> CollectorApp {
        CollectorApp(kind: "google_ads", defaultUTMSource: AdNetworks.defaultUTMSource(kind: "google_ads", otherwise: "google")) { source, _, _ in
            func secret(_ name: String) throws -> String {
                guard let value = source.credentials[name] else { throw SettingsError("source \(source.id): credentials.\(name) is required") }
                return try value.resolve()
            }
            let client = GoogleAdsClient(configuration: .init(
                baseURL: source.baseURL ?? "https://googleads.googleapis.com",
                tokenURL: source.options["token_url"] ?? "https://oauth2.googleapis.com/token",
                apiVersion: source.options["api_version"] ?? "v21", developerToken: try secret("developer_token"),
                clientID: try secret("client_id"), clientSecret: try secret("client_secret"), refreshToken: try secret("refresh_token"),
                loginCustomerID: source.options["login_customer_id"],
                backoff: Double(source.options["backoff_seconds"] ?? "") ?? 1), logger: logger)
            return GoogleAdsSpendSource(
                client: client, refetchWindowDays: Int(source.options["window_days"] ?? "") ?? 30,
                maxChunkDays: Int(source.options["chunk_days"] ?? "") ?? 31)
        }
    }
}
