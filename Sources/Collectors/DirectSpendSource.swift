import Collection
import Domain
import Logging
import YandexDirect

/// Yandex Direct as a `SpendSource`: one Reports call per account and chunk, parsed from TSV.
public struct DirectSpendSource: SpendSource {
    public let kind = "yandex_direct"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    public var costsIncludeVAT: Bool { client.configuration.includeVAT }
    let client: DirectReportsClient

    public init(client: DirectReportsClient, refetchWindowDays: Int = 7, maxChunkDays: Int = 31) {
        self.client = client
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
            try DirectReportParser().parse(body) { row in
                rows.append(SpendRow(
                    day: row.day, campaignID: String(row.campaignID), campaignName: row.campaignName,
                    adGroupID: row.adGroupID.map(String.init), adGroupName: row.adGroupName, adID: row.adID.map(String.init),
                    keywordID: row.criterionID.map(String.init), keyword: row.criterion, impressions: row.impressions,
                    clicks: row.clicks, conversions: row.conversions, cost: row.cost))
            }
        } catch let error as DirectReportError {
            throw SourceError("report \(error)")
        }
        return rows
    }
}
