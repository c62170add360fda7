/// The report keys of a row (domain.md definitions 1 and 2): what spend and visits meet on.
/// Channel rules add to them; nothing rewrites them.
public struct ReportKeys: Hashable, Sendable {
    public var source: String
    public var medium: String
    public var campaign: String
    /// `utm_content`: the ad id (Direct ad, VK banner, Google ad group).
    public var ad: String
    /// `utm_term`: the keyword text.
    public var keyword: String

    public init(source: String, medium: String = "", campaign: String = "", ad: String = "", keyword: String = "") {
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.ad = ad
        self.keyword = keyword
    }

    /// The one touch of a lead without a visit, and orphan revenue (definition 13).
    public static let unknown = ReportKeys(source: "(unknown)")
    /// A direct visit.
    public static let direct = ReportKeys(source: "(direct)")
    /// A visit tagged without `utm_source` and without an external referrer.
    public static let notSet = "(not set)"

    /// A visit's keys as the tracker stored it (blank UTM values are already NULL; the referrer
    /// host is lower-cased without `www.`). Tagged visits keep their tags as sent; untagged ones
    /// with an external referrer have its host as source; direct visits (`traffic` = `direct`)
    /// are `(direct)`; an untagged visit that is not direct and has no external referrer (an ad
    /// click id alone) is `(not set)`. Untagged visits have an empty campaign, ad and keyword
    /// (definition 1).
    public static func ofVisit(utmSource: String?, utmMedium: String?, utmCampaign: String?, utmContent: String?, utmTerm: String?,
                               referrerHost: String?, referrerKind: String, traffic: String) -> ReportKeys {
        let external = referrerKind == "search" || referrerKind == "social" || referrerKind == "referral"
        let tagged = utmSource != nil || utmMedium != nil || utmCampaign != nil || utmContent != nil || utmTerm != nil
        guard tagged else {
            guard external, let host = referrerHost, !host.isEmpty else { return traffic == "direct" ? .direct : ReportKeys(source: notSet) }
            return ReportKeys(source: host)
        }
        let source = utmSource ?? (external ? referrerHost.flatMap { $0.isEmpty ? nil : $0 } : nil) ?? notSet
        return ReportKeys(source: source, medium: utmMedium ?? "", campaign: utmCampaign ?? "", ad: utmContent ?? "", keyword: utmTerm ?? "")
    }
}
