import Domain
import Settings

/// What a report row's channel is decided from: a touch's visit or a spend row (whose traffic is
/// `paid`: money was spent on it). The report keys themselves are never changed.
public struct ChannelInput: Sendable, Hashable {
    /// The row's `source` report key (definition 1 or 2).
    public var source: String
    public var medium: String?
    public var campaign: String?
    /// paid / tagged / organic / social / referral / direct, or unknown (a lead without a visit).
    public var traffic: String
    /// The visit's ad click id kind (yclid, gclid, fbclid, rb_clickid), if any.
    public var clickIDKind: String?

    public init(source: String, medium: String?, campaign: String?, traffic: String, clickIDKind: String? = nil) {
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.traffic = traffic
        self.clickIDKind = clickIDKind
    }

    /// A spend row, classified exactly as a visit carrying its tags would be (definition 4): paid
    /// when its medium is a paid one or unknown (the network charged for it), else tagged — so
    /// the row and its visits land in one channel.
    public static func spend(source: String, medium: String?, campaign: String?) -> ChannelInput {
        let lowered = medium?.lowercased() ?? ""
        let paid = lowered.isEmpty || Traffic.paidMedia.contains(lowered)
        return ChannelInput(source: source, medium: medium, campaign: campaign, traffic: paid ? "paid" : "tagged")
    }
}

/// A project's channel rules compiled once: its own rules in order, then the built-in ones.
public struct ChannelClassifier: Sendable {
    struct Compiled: Sendable {
        let source: [Glob]?, medium: [Glob]?, campaign: [Glob]?, traffic: [Glob]?
        let channel: String?, contractor: String?

        /// `input` lower-cased once by `classify`.
        func matches(_ input: ChannelInput) -> Bool {
            func test(_ globs: [Glob]?, _ value: String?) -> Bool {
                guard let globs else { return true }
                return globs.contains { $0.matches(value ?? "") }
            }
            return test(source, input.source) && test(medium, input.medium) && test(campaign, input.campaign) && test(traffic, input.traffic)
        }
    }

    let rules: [Compiled]

    public init(_ channels: Channels) {
        rules = channels.rules.map { rule in
            Compiled(source: rule.source.map { $0.map(Glob.init) }, medium: rule.medium.map { $0.map(Glob.init) },
                     campaign: rule.campaign.map { $0.map(Glob.init) }, traffic: rule.traffic.map { $0.map(Glob.init) },
                     channel: rule.channel, contractor: rule.contractor)
        }
    }

    /// The row's channel and contractor (nil: none configured).
    public func classify(_ input: ChannelInput) -> (channel: String, contractor: String?) {
        // Rules and built-in lists compare case-insensitively: lower-case once.
        let input = ChannelInput(source: input.source.lowercased(), medium: input.medium?.lowercased(), campaign: input.campaign?.lowercased(),
                                 traffic: input.traffic.lowercased(), clickIDKind: input.clickIDKind)
        var channel: String?
        var contractor: String?
        for rule in rules where (channel == nil && rule.channel != nil) || (contractor == nil && rule.contractor != nil) {
            guard rule.matches(input) else { continue }
            if channel == nil { channel = rule.channel }
            if contractor == nil { contractor = rule.contractor }
            if channel != nil && contractor != nil { break }
        }
        return (channel ?? Self.builtIn(input), contractor)
    }

    /// Mediums that name a channel whatever the traffic class.
    static let emailMediums: Set<String> = ["email", "e-mail", "e_mail", "mail", "newsletter", "рассылка"]
    static let offlineMediums: Set<String> = ["offline", "print", "qr", "tv", "radio", "outdoor", "sms"]
    static let displayMediums: Set<String> = ["display", "banner", "cpm", "cpv", "media", "video"]
    static let paidSocialMediums: Set<String> = ["paid_social", "paidsocial", "social_paid", "paid-social"]
    static let organicMediums: Set<String> = ["organic", "seo"]
    static let socialMediums: Set<String> = ["social", "smm", "post", "stories", "social_network"]
    /// `utm_source` names of social networks and their ad systems (hosts are
    /// `Traffic.socialDomains`).
    static let socialSourceNames: Set<String> = [
        "vk", "vkontakte", "vk_ads", "vkads", "mytarget", "my.target", "target.my.com", "facebook", "fb", "instagram", "ig", "meta", "ok",
        "odnoklassniki", "telegram", "tg", "tiktok", "youtube", "dzen", "twitter", "x", "linkedin", "pinterest", "rutube",
    ]

    /// A social source: a social network's `utm_source` name, or a host under its domain.
    static func isSocial(_ source: String) -> Bool {
        socialSourceNames.contains(source) || Traffic.isSocialHost(source)
    }

    /// The built-in channel (docs/aggregator.md, "Channels"): e-mail and offline mediums first,
    /// then the traffic class, paid traffic split by medium and source.
    static func builtIn(_ input: ChannelInput) -> String {
        let (medium, source) = (input.medium ?? "", input.source)
        if input.traffic == "unknown" { return "unknown" }
        if emailMediums.contains(medium) { return "email" }
        if offlineMediums.contains(medium) { return "offline" }
        switch input.traffic {
        case "paid":
            if displayMediums.contains(medium) { return "display" }
            if paidSocialMediums.contains(medium) || isSocial(source) { return "paid_social" }
            // Untagged ad clicks: Meta's and VK's click ids are social networks' ads.
            if medium.isEmpty, let kind = input.clickIDKind, kind == "fbclid" || kind == "rb_clickid" { return "paid_social" }
            return "paid_search"
        case "organic": return "organic_search"
        case "social": return "social"
        case "referral": return "referral"
        case "direct": return "direct"
        default:
            // Tagged without a paid medium: by medium, then by source.
            if organicMediums.contains(medium) { return "organic_search" }
            if socialMediums.contains(medium) || isSocial(source) { return "social" }
            return "referral"
        }
    }
}

/// A case-insensitive glob: `*` any run, `?` one character.
struct Glob: Sendable {
    let pattern: [Character]

    init(_ text: String) { pattern = Array(text.lowercased()) }

    /// `subject` is lower-cased by the caller (`classify`).
    func matches(_ subject: String) -> Bool {
        let text = Array(subject)
        var (p, t) = (0, 0)
        var (star, mark) = (-1, 0)
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

extension ChannelClassifier {
    /// Classifies through a memo of the inputs already met: a rebuild meets the same few hundred
    /// key sets in hundreds of thousands of touches and visit groups.
    public struct Memo {
        let classifier: ChannelClassifier
        var known: [ChannelInput: (channel: String, contractor: String?)] = [:]

        public init(_ classifier: ChannelClassifier) { self.classifier = classifier }

        public mutating func classify(_ input: ChannelInput) -> (channel: String, contractor: String?) {
            if let found = known[input] { return found }
            let found = classifier.classify(input)
            known[input] = found
            return found
        }
    }
}
