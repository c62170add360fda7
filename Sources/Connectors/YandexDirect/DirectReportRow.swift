import Domain

/// One data row of a Yandex Direct CUSTOM_REPORT at the finest grain we request:
/// day × campaign × ad group × ad × criterion (keyword).
public struct DirectReportRow: Sendable, Equatable {
    public var day: LocalDay
    public var campaignID: Int64
    public var campaignName: String
    /// nil where Direct prints `--` (Campaign Wizard campaigns have no groups and ads).
    public var adGroupID: Int64?
    public var adGroupName: String?
    public var adID: Int64?
    public var criterionID: Int64?
    /// The keyword or targeting criterion text.
    public var criterion: String?
    public var impressions: Int64
    public var clicks: Int64
    /// Cost in the account currency, with or without VAT as the request's `IncludeVAT` said.
    public var cost: Micros
    /// The network's own conversions (nil when Direct prints `--`: no goals requested).
    public var conversions: Int64?

    public init(
        day: LocalDay, campaignID: Int64, campaignName: String, adGroupID: Int64? = nil, adGroupName: String? = nil,
        adID: Int64? = nil, criterionID: Int64? = nil, criterion: String? = nil, impressions: Int64, clicks: Int64,
        cost: Micros, conversions: Int64? = nil
    ) {
        self.day = day
        self.campaignID = campaignID
        self.campaignName = campaignName
        self.adGroupID = adGroupID
        self.adGroupName = adGroupName
        self.adID = adID
        self.criterionID = criterionID
        self.criterion = criterion
        self.impressions = impressions
        self.clicks = clicks
        self.cost = cost
        self.conversions = conversions
    }

    /// The report fields this row needs, in the order the collector requests them.
    public static let fieldNames = [
        "Date", "CampaignId", "CampaignName", "AdGroupId", "AdGroupName", "AdId", "CriterionId", "Criterion",
        "Impressions", "Clicks", "Cost", "Conversions",
    ]
}
