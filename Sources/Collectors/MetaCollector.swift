import Collection
import Domain
import Logging
import Meta
import Settings

/// Meta as a `SpendSource`: ad-level daily insights; `spend` is taken as entered in the ad
/// account's currency without VAT (Meta bills VAT separately).
public struct MetaSpendSource: SpendSource {
    public let kind = "meta"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    public let costsIncludeVAT = false
    let client: MetaInsightsClient

    public init(client: MetaInsightsClient, refetchWindowDays: Int = 28, maxChunkDays: Int = 31) {
        self.client = client
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = maxChunkDays
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        do {
            return try await client.rows(account: account.account, days: days).map { row in
                if let currency = row.currency, currency != account.currency {
                    throw SourceError("Meta reports \(currency) for account \(account.account), configured as \(account.currency)")
                }
                return SpendRow(day: row.day, campaignID: row.campaignID, campaignName: row.campaignName, adGroupID: row.adSetID,
                                adGroupName: row.adSetName, adID: row.adID, adName: row.adName, impressions: row.impressions,
                                clicks: row.clicks, cost: row.spend)
            }
        } catch let error as MetaError {
            throw SourceError("\(error)")
        }
    }
}

extension CollectorApp {
    /// `collector-meta`. Credential: `access_token`. Options: `api_version` (`v25.0`),
    /// `window_days` (28), `chunk_days` (31), `page_size` (500), `backoff_seconds`,
    /// `poll_seconds`; `account` is the ad account id (with or without `act_`).
    public static func meta(logger: Logger) -> CollectorApp {
        CollectorApp(kind: "meta", defaultUTMSource: "facebook") { source, _, _ in
            guard let token = source.credentials["access_token"] else {
                throw SettingsError("source \(source.id): credentials.access_token is required")
            }
            let client = MetaInsightsClient(configuration: .init(
                baseURL: source.baseURL ?? "https://graph.facebook.com", apiVersion: source.options["api_version"] ?? "v25.0",
                accessToken: try token.resolve(), pageSize: Int(source.options["page_size"] ?? "") ?? 500,
                backoff: Double(source.options["backoff_seconds"] ?? "") ?? 2,
                pollInterval: Double(source.options["poll_seconds"] ?? "") ?? 5), logger: logger)
            return MetaSpendSource(client: client, refetchWindowDays: Int(source.options["window_days"] ?? "") ?? 28,
                                   maxChunkDays: Int(source.options["chunk_days"] ?? "") ?? 31)
        }
    }
}
