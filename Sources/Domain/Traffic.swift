/// Traffic classes shared by the tracker (which classifies visits) and the aggregator (which
/// classifies spend rows the same way, so a spend row and the visits it paid for meet).
public enum Traffic {
    /// `utm_medium` values that make a visit paid (domain.md definition 4), compared lower-cased.
    public static let paidMedia: Set<String> = ["cpc", "ppc", "cpm", "cpv", "cpa", "paid", "paid_social", "paidsocial", "display", "banner",
                                                "retargeting"]
}
