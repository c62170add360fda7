/// Traffic classes shared by the tracker (which classifies visits) and the aggregator (which
/// classifies spend rows the same way, so a spend row and the visits it paid for meet).
public enum Traffic {
    /// `utm_medium` values that make a visit paid (domain.md definition 4), compared lower-cased.
    public static let paidMedia: Set<String> = ["cpc", "ppc", "cpm", "cpv", "cpa", "paid", "paid_social", "paidsocial", "display", "banner",
                                                "retargeting"]

    /// Social networks by registered domain: a referrer host or a source under one of them is
    /// social (the tracker's referrer classes, the aggregator's channels).
    public static let socialDomains: Set<String> = ["vk.com", "vk.ru", "ok.ru", "facebook.com", "fb.com", "instagram.com", "t.me", "telegram.org",
                                                    "twitter.com", "x.com", "youtube.com", "linkedin.com", "dzen.ru", "zen.yandex.ru",
                                                    "pinterest.com", "tiktok.com", "whatsapp.com", "rutube.ru", "vc.ru"]

    /// A host and each of its parent domains at a label boundary: `a.b.c` → `a.b.c`, `b.c`, `c`.
    public static func domainSuffixes(of host: String) -> [Substring] {
        var suffixes: [Substring] = [host[...]]
        var rest = host[...]
        while let dot = rest.firstIndex(of: ".") {
            rest = rest[rest.index(after: dot)...]
            suffixes.append(rest)
        }
        return suffixes
    }

    /// Whether the host lies under a social network's domain (`m.vk.com`, `l.facebook.com`).
    public static func isSocialHost(_ host: String) -> Bool {
        domainSuffixes(of: host).contains { socialDomains.contains(String($0)) }
    }
}
