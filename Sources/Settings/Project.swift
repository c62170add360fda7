import Foundation

/// One client project (an agency's client): its own data, time zone and reporting currency.
public struct Project: Codable, Sendable, Equatable {
    /// Short stable id used in URLs, messages and every row (`[a-z0-9_-]`, 1–64 characters).
    public var id: String
    public var name: String
    /// IANA time zone of the project's reporting days (`Europe/Moscow`).
    public var timeZone: String
    /// ISO 4217 reporting currency (`RUB`).
    public var currency: String
    /// Key for server-to-server tracker calls.
    public var ingestKey: Secret?
    /// Public key for browser beacons (record only).
    public var siteKey: Secret?
    /// The project's own site domains: referrers from them (and their subdomains) are not
    /// external (domain.md definition 1).
    public var siteDomains: [String]
    public var sources: [Source]
    /// How the identity resolver links leads, deals and customers.
    public var linking: Linking
    /// Channel and contractor rules for report rows.
    public var channels: Channels
    /// Attribution model settings (time decay's half-life).
    public var attribution: AttributionSettings

    enum CodingKeys: String, CodingKey {
        case id, name, timeZone = "time_zone", currency, ingestKey = "ingest_key", siteKey = "site_key", siteDomains = "site_domains", sources,
             linking, channels, attribution
    }

    public init(
        id: String, name: String, timeZone: String = "Europe/Moscow", currency: String = "RUB", ingestKey: Secret? = nil,
        siteKey: Secret? = nil, siteDomains: [String] = [], sources: [Source] = [], linking: Linking = Linking(),
        channels: Channels = Channels(), attribution: AttributionSettings = AttributionSettings()
    ) {
        self.linking = linking
        self.channels = channels
        self.attribution = attribution
        self.siteDomains = siteDomains
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.currency = currency
        self.ingestKey = ingestKey
        self.siteKey = siteKey
        self.sources = sources
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? id
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone) ?? "Europe/Moscow"
        currency = try c.decodeIfPresent(String.self, forKey: .currency) ?? "RUB"
        ingestKey = try c.decodeIfPresent(Secret.self, forKey: .ingestKey)
        siteKey = try c.decodeIfPresent(Secret.self, forKey: .siteKey)
        siteDomains = try c.decodeIfPresent([String].self, forKey: .siteDomains) ?? []
        sources = try c.decodeIfPresent([Source].self, forKey: .sources) ?? []
        linking = try c.decodeIfPresent(Linking.self, forKey: .linking) ?? Linking()
        channels = try c.decodeIfPresent(Channels.self, forKey: .channels) ?? Channels()
        attribution = try c.decodeIfPresent(AttributionSettings.self, forKey: .attribution) ?? AttributionSettings()
    }

    func validate(path: String) throws {
        try Identifier.check(id, at: "\(path).id")
        guard TimeZone(identifier: timeZone) != nil else {
            throw SettingsError("\(path).time_zone: unknown time zone '\(timeZone)'")
        }
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw SettingsError("\(path).currency: '\(currency)' is not an ISO 4217 code like RUB")
        }
        var seen = Set<String>()
        for (index, source) in sources.enumerated() {
            try Identifier.check(source.id, at: "\(path).sources[\(index)].id")
            guard seen.insert(source.id).inserted else {
                throw SettingsError("\(path).sources[\(index)].id: '\(source.id)' is used twice")
            }
            guard !source.kind.isEmpty else { throw SettingsError("\(path).sources[\(index)].kind: empty") }
        }
        try linking.validate(path: "\(path).linking")
        try channels.validate(path: "\(path).channels")
        try attribution.validate(path: "\(path).attribution")
    }

    /// The source with this id.
    public func source(_ id: String) -> Source? { sources.first { $0.id == id } }
}

/// One connection to an external system of a project: an ad account, a CRM, a manual-cost sheet.
public struct Source: Codable, Sendable, Equatable {
    /// Unique within the project.
    public var id: String
    /// `yandex_direct`, `vk_ads`, `mytarget`, `google_ads`, `meta`, `manual_costs`, `amocrm`, `bitrix24`.
    public var kind: String
    /// The account (login, customer id, portal) at that system.
    public var account: String?
    /// The API base URL (the real API in production, a sandbox fake in tests).
    public var baseURL: String?
    /// Credentials by name (`token`, `client_secret`, ...), each a reference.
    public var credentials: [String: Secret]
    /// Source-specific settings as text (`utm_source`, `time_zone`, ...).
    public var options: [String: String]

    enum CodingKeys: String, CodingKey { case id, kind, account, baseURL = "base_url", credentials, options }

    public init(
        id: String, kind: String, account: String? = nil, baseURL: String? = nil, credentials: [String: Secret] = [:],
        options: [String: String] = [:]
    ) {
        self.id = id
        self.kind = kind
        self.account = account
        self.baseURL = baseURL
        self.credentials = credentials
        self.options = options
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        kind = try c.decode(String.self, forKey: .kind)
        account = try c.decodeIfPresent(String.self, forKey: .account)
        baseURL = try c.decodeIfPresent(String.self, forKey: .baseURL)
        credentials = try c.decodeIfPresent([String: Secret].self, forKey: .credentials) ?? [:]
        options = try c.decodeIfPresent([String: String].self, forKey: .options) ?? [:]
    }
}

enum Identifier {
    static func check(_ id: String, at path: String) throws {
        let allowed = id.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
        guard !id.isEmpty, id.count <= 64, allowed else {
            throw SettingsError("\(path): '\(id)' must be 1–64 characters of a-z, 0-9, '-' and '_'")
        }
    }
}
