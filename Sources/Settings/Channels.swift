import Foundation

/// A project's channel rules (issue 6; domain.md definition 2: rules add `channel` and
/// `contractor` to report rows and never rewrite `source`, `campaign`, `ad` or `keyword`), under
/// `channels:`. Changing them needs a rebuild (`analytics rebuild`), not a re-fetch.
///
/// ```yaml
/// channels:
///   rules:                                  # in order; the built-in rules come last
///     - source: yandex                      # conditions: a glob (* and ?), case-insensitive,
///       campaign: "*_rsya*"                 #   or a list of globs (any of them); all must hold
///       channel: display                    # sets the channel (first rule that names one wins)
///     - source: [vk, mytarget]
///       contractor: "SMM-агентство Север"   # sets the contractor (first rule that names one wins)
///     - medium: partner
///       traffic: tagged                     # paid / tagged / organic / social / referral / direct / unknown
///       channel: referral
///       contractor: "Партнёры"
/// ```
public struct Channels: Codable, Sendable, Equatable {
    public var rules: [ChannelRule]

    /// The channels a report row can have.
    public static let names = ["paid_search", "paid_social", "display", "organic_search", "social", "referral", "email", "direct", "offline",
                               "unknown"]
    /// Traffic classes a rule may test (the visits' classes, plus `unknown` for a lead without one).
    public static let trafficClasses = ["paid", "tagged", "organic", "social", "referral", "direct", "unknown"]

    public init(rules: [ChannelRule] = []) { self.rules = rules }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rules = try c.decodeIfPresent([ChannelRule].self, forKey: .rules) ?? []
    }

    func validate(path: String) throws {
        for (index, rule) in rules.enumerated() {
            let at = "\(path).rules[\(index)]"
            guard rule.channel != nil || rule.contractor != nil else { throw SettingsError("\(at): names neither a channel nor a contractor") }
            if let channel = rule.channel, !Self.names.contains(channel) {
                throw SettingsError("\(at).channel: '\(channel)' is not one of \(Self.names.joined(separator: ", "))")
            }
            if let contractor = rule.contractor, contractor.trimmingCharacters(in: .whitespaces).isEmpty {
                throw SettingsError("\(at).contractor: empty")
            }
            for value in rule.traffic ?? [] where !Self.trafficClasses.contains(value.lowercased()) {
                throw SettingsError("\(at).traffic: '\(value)' is not one of \(Self.trafficClasses.joined(separator: ", "))")
            }
            for (name, patterns) in [("source", rule.source), ("medium", rule.medium), ("campaign", rule.campaign), ("traffic", rule.traffic)] {
                if let patterns, patterns.isEmpty { throw SettingsError("\(at).\(name): an empty list matches nothing") }
            }
        }
    }
}

/// One channel rule: conditions (each nil = any) and what it sets.
public struct ChannelRule: Codable, Sendable, Equatable {
    public var source: [String]?
    public var medium: [String]?
    public var campaign: [String]?
    public var traffic: [String]?
    public var channel: String?
    public var contractor: String?

    enum CodingKeys: String, CodingKey { case source, medium, campaign, traffic, channel, contractor }

    public init(source: [String]? = nil, medium: [String]? = nil, campaign: [String]? = nil, traffic: [String]? = nil,
                channel: String? = nil, contractor: String? = nil) {
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.traffic = traffic
        self.channel = channel
        self.contractor = contractor
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func patterns(_ key: CodingKeys) throws -> [String]? {
            if let one = try? c.decodeIfPresent(String.self, forKey: key) { return [one] }
            return try c.decodeIfPresent([String].self, forKey: key)
        }
        source = try patterns(.source)
        medium = try patterns(.medium)
        campaign = try patterns(.campaign)
        traffic = try patterns(.traffic)
        channel = try c.decodeIfPresent(String.self, forKey: .channel)
        contractor = try c.decodeIfPresent(String.self, forKey: .contractor)
    }
}

/// A project's attribution settings, under `attribution:`.
///
/// ```yaml
/// attribution:
///   half_life_days: 7                # time decay: a touch this many days before the lead counts half
///   default_model: last_non_direct   # what `analytics report` and the dashboard show unless asked
/// ```
/// The lookback window is `linking.lookback_days`: the identity resolver picks the touches.
public struct AttributionSettings: Codable, Sendable, Equatable {
    public var halfLifeDays: Double
    public var defaultModel: String

    /// The models' names (the `model` column of the mart; `Attribution.AttributionModel`).
    public static let models = ["first_click", "last_click", "last_non_direct", "last_paid", "linear", "position_based", "time_decay"]

    enum CodingKeys: String, CodingKey { case halfLifeDays = "half_life_days", defaultModel = "default_model" }

    public init(halfLifeDays: Double = 7, defaultModel: String = "last_non_direct") {
        self.halfLifeDays = halfLifeDays
        self.defaultModel = defaultModel
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        halfLifeDays = try c.decodeIfPresent(Double.self, forKey: .halfLifeDays) ?? 7
        defaultModel = try c.decodeIfPresent(String.self, forKey: .defaultModel) ?? "last_non_direct"
    }

    func validate(path: String) throws {
        guard halfLifeDays.isFinite, halfLifeDays >= 0.01, halfLifeDays <= 3650 else {
            throw SettingsError("\(path).half_life_days: \(halfLifeDays) is not between 0.01 and 3650")
        }
        guard Self.models.contains(defaultModel) else {
            throw SettingsError("\(path).default_model: '\(defaultModel)' is not one of \(Self.models.joined(separator: ", "))")
        }
    }
}
