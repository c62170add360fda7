import Domain
import Foundation
import Runtime

/// A bad request body: what is wrong and which field (HTTP 400 `{"error", "field"}`).
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var error: String
    public var field: String?
    public init(_ error: String, field: String?) {
        self.error = error
        self.field = field
    }
    public var description: String { field.map { "\($0): \(error)" } ?? error }
}

/// Reads and normalises posted visits and leads.
public struct EventReader: Sendable {
    /// The project's own site domains, lower-cased and without `www.` (their referrers, and
    /// their subdomains', are internal; so are referrers on the landing page's own host).
    public var siteDomains: [String]
    public init(siteDomains: [String]) { self.siteDomains = siteDomains.map(Self.bareHost) }

    static let maxText = 2048
    public static let leadKinds: Set<String> = ["form", "call", "email", "chat"]

    // MARK: - fields

    private func object(_ value: JSONValue) throws -> [String: JSONValue] {
        guard case .object(let fields) = value else { throw InputError("the body must be a JSON object", field: nil) }
        return fields
    }

    private func string(_ fields: [String: JSONValue], _ key: String, required: Bool = false, max: Int = maxText) throws -> String? {
        guard let value = fields[key], !value.isNull else {
            if required { throw InputError("is required", field: key) }
            return nil
        }
        guard case .string(let text) = value else { throw InputError("must be a string", field: key) }
        let trimmed = Self.trimmed(text)
        if trimmed.isEmpty {
            if required { throw InputError("is empty", field: key) }
            return nil
        }
        guard trimmed.utf8.count <= max else { throw InputError("is longer than \(max) bytes", field: key) }
        // PostgreSQL's text cannot hold U+0000: stored, it would fail the whole message that
        // carries this record with the others of its batch.
        guard !trimmed.utf8.contains(0) else { throw InputError("holds a NUL character (\\u0000)", field: key) }
        return trimmed
    }

    /// A tag read from the landing URL's query, held to the posted field's rules without
    /// refusing the visit (the visitor is real; only the link is odd): NUL characters removed,
    /// trimmed, nil when empty, cut to `max` bytes at a character boundary.
    static func queryValue(_ raw: String?, max: Int) -> String? {
        guard var text = raw else { return nil }
        if text.utf8.contains(0) { text = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "\0" })) }
        if isBlank(text) { return nil }
        text = trimmed(text)
        guard !text.isEmpty else { return nil }
        guard text.utf8.count > max else { return text }
        var cut = ""
        for character in text {
            guard cut.utf8.count + character.utf8.count <= max else { break }
            cut.append(character)
        }
        return cut
    }

    /// The text without leading and trailing ASCII white space (cheap: no Foundation call when
    /// there is none, which is nearly always).
    static func trimmed(_ text: String) -> String {
        let utf8 = text.utf8
        func space(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        guard let first = utf8.first, let last = utf8.last, space(first) || space(last) else { return text }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether the text is only white space (`.whitespaces`): decided on the bytes unless a
    /// non-ASCII byte comes before any other character.
    static func isBlank(_ text: some StringProtocol) -> Bool {
        for byte in text.utf8 {
            if byte == 0x20 || byte == 0x09 { continue }
            if byte < 0x80 { return false }
            return text.trimmingCharacters(in: .whitespaces).isEmpty
        }
        return true
    }

    private func identifier(_ fields: [String: JSONValue], _ key: String, required: Bool = false) throws -> String? {
        guard let text = try string(fields, key, required: required, max: 128) else { return nil }
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
        }
        guard allowed else { throw InputError("may hold only letters, digits, '-', '_', '.', ':'", field: key) }
        return text
    }

    /// The times a record may carry: from the Unix epoch to the end of year 9999 UTC (an
    /// offset can push `9999-12-31T23:59:59-01:00` past what RFC 3339 can write again).
    static let earliest = Date(timeIntervalSince1970: 0)
    static let latest = Date(timeIntervalSince1970: 253_402_300_800)  // 10000-01-01T00:00:00Z

    private func instant(_ fields: [String: JSONValue]) throws -> String {
        let text = try string(fields, "occurred_at", required: true)!
        guard let date = Timestamp.parse(text) else { throw InputError("is not an RFC 3339 time with an offset", field: "occurred_at") }
        guard date >= Self.earliest, date < Self.latest else {
            throw InputError("is outside 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z", field: "occurred_at")
        }
        return Timestamp.format(date)
    }

    // MARK: - visits

    /// A visit; `newID` numbers it when the body gives none.
    public func visit(_ value: JSONValue, receivedAt: Date, newID: () -> String) throws -> TrackedVisit {
        let fields = try object(value)
        let landing = try string(fields, "landing_url", required: true, max: 8192)!
        guard let url = WebAddress(landing), url.scheme == "http" || url.scheme == "https" else {
            throw InputError("is not an absolute http(s) URL", field: "landing_url")
        }
        let referrer = try string(fields, "referrer", max: 8192)
        var referrerHost: String?
        if let referrer {
            guard let address = WebAddress(referrer) else { throw InputError("is not a URL", field: "referrer") }
            referrerHost = Self.bareHost(address.host)
        }
        let query = Self.tags(inQuery: url.query)
        func utm(_ tag: QueryTags.Tag) throws -> String? {
            if let posted = try string(fields, tag.name, max: 500) { return posted }
            return Self.queryValue(query[tag], max: 500)
        }
        var clickID = try string(fields, "click_id", max: 512)
        var clickKind: String? = clickID == nil ? nil : "body"
        if clickID == nil {
            for tag in QueryTags.clickIDs {
                guard let value = Self.queryValue(query[tag], max: 512) else { continue }
                clickID = value
                clickKind = tag.name
                break
            }
        }
        var visit = TrackedVisit(
            visitID: try identifier(fields, "visit_id") ?? newID(), clientID: try identifier(fields, "client_id"),
            occurredAt: try instant(fields), landingURL: landing, referrer: referrer, referrerHost: referrerHost,
            referrerKind: referrerHost.map { kind(ofHost: $0, landingHost: url.host) } ?? "none", utmSource: try utm(.utmSource), utmMedium: try utm(.utmMedium),
            utmCampaign: try utm(.utmCampaign), utmContent: try utm(.utmContent), utmTerm: try utm(.utmTerm), clickID: clickID,
            clickIDKind: clickKind, userAgent: try string(fields, "user_agent", max: 1024), traffic: "direct",
            receivedAt: Timestamp.format(receivedAt))
        visit.traffic = Self.traffic(visit)
        return visit
    }

    /// The query parameters a visit reads (UTM tags and click ids), keys lower-cased, the first
    /// of a repeated key kept; every other parameter is skipped.
    static func tags(inQuery query: String) -> QueryTags {
        var tags = QueryTags()
        guard !query.isEmpty else { return tags }
        for (key, value) in FormURLEncoded.parse(query) {
            // A key of ASCII without capitals (nearly all) is taken as it is, with no new string.
            let lower = key.utf8.allSatisfy { $0 < 0x80 && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) } ? key : key.lowercased()
            if let tag = QueryTags.Tag(name: lower), tags[tag] == nil { tags[tag] = value }
        }
        return tags
    }

    static func bareHost(_ host: String) -> String {
        let lower = host.lowercased()
        return lower.hasPrefix("www.") ? String(lower.dropFirst(4)) : lower
    }

    /// Search engines by registered domain or, for engines with many country domains, by the
    /// label alone (`google`, `yandex`); social networks are `Traffic.socialDomains`.
    static let searchLabels: Set<String> = ["yandex", "google", "bing", "duckduckgo", "yahoo", "baidu", "ecosia"]
    static let searchDomains: Set<String> = ["ya.ru", "go.mail.ru", "search.mail.ru", "nova.rambler.ru"]

    /// The subdomains of a search engine's domain that are its search (`www.google.com`,
    /// `m.yandex.ru`); any other (`mail.yandex.ru`, `translate.google.com`) is a referral.
    static let searchSubdomains: Set<String> = ["www", "m", "search", "images"]

    /// `internal` for the project's own domains and the landing page's host (and their
    /// subdomains), then `social`, `search`, else `referral`.
    func kind(ofHost host: String, landingHost: String? = nil) -> String {
        let suffixes = Traffic.domainSuffixes(of: host)
        if suffixes.contains(where: { suffix in siteDomains.contains { $0 == suffix } }) { return "internal" }
        if let landing = landingHost.map(Self.bareHost), !landing.isEmpty, suffixes.contains(where: { $0 == landing }) { return "internal" }
        if suffixes.contains(where: { Traffic.socialDomains.contains(String($0)) }) { return "social" }
        if suffixes.contains(where: { Self.searchDomains.contains(String($0)) }) { return "search" }
        let labels = host.split(separator: ".")
        if let engine = labels.dropLast().firstIndex(where: { Self.searchLabels.contains(String($0)) }),
           labels[..<engine].allSatisfy({ Self.searchSubdomains.contains(String($0)) }) {
            return "search"
        }
        return "referral"
    }

    /// Definition 4: paid = a paid medium or any ad click id; direct = no UTM, no click id, no
    /// external referrer; otherwise the referrer's kind, or `tagged` for other UTM-tagged traffic.
    static func traffic(_ visit: TrackedVisit) -> String {
        if let medium = visit.utmMedium?.lowercased(), Traffic.paidMedia.contains(medium) { return "paid" }
        if visit.clickID != nil { return "paid" }
        let tagged = [visit.utmSource, visit.utmMedium, visit.utmCampaign, visit.utmContent, visit.utmTerm].contains { $0 != nil }
        if tagged { return "tagged" }
        switch visit.referrerKind {
        case "search": return "organic"
        case "social": return "social"
        case "referral": return "referral"
        default: return "direct"
        }
    }

    // MARK: - leads

    public func lead(_ value: JSONValue, receivedAt: Date) throws -> TrackedLead {
        let fields = try object(value)
        let kind = try string(fields, "kind", required: true, max: 16)!
        guard Self.leadKinds.contains(kind) else { throw InputError("must be form, call, email or chat", field: "kind") }
        var email: String?
        if let text = try string(fields, "email", max: 320) {
            // One '@' between a non-empty local part and domain, no spaces ("a@@b.ru" is not one).
            guard let normalised = ContactNormalization.email(text),
                  normalised.split(separator: "@", omittingEmptySubsequences: false).count == 2,
                  !normalised.hasPrefix("@"), !normalised.hasSuffix("@"), !normalised.contains(where: \.isWhitespace) else {
                throw InputError("is not an e-mail address", field: "email")
            }
            email = normalised
        }
        return TrackedLead(
            requestID: try identifier(fields, "request_id", required: true)!, visitID: try identifier(fields, "visit_id"),
            clientID: try identifier(fields, "client_id"), occurredAt: try instant(fields), kind: kind,
            phone: try string(fields, "phone", max: 64).flatMap(ContactNormalization.phone), email: email,
            name: try string(fields, "name", max: 256), page: try string(fields, "page", max: 8192), product: try string(fields, "product", max: 256),
            receivedAt: Timestamp.format(receivedAt))
    }
}

/// The parts of an absolute URL the tracker needs, read without Foundation's URL parser:
/// `scheme://[user@]host[:port][/path][?query][#fragment]`.
struct WebAddress {
    let scheme: String
    let host: String
    let query: String

    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon + 2 < bytes.count,
              bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/") else { return nil }
        let schemeBytes = bytes[..<colon]
        guard schemeBytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }) else { return nil }
        scheme = String(decoding: schemeBytes, as: UTF8.self).lowercased()
        var end = colon + 3
        while end < bytes.count, bytes[end] != UInt8(ascii: "/"), bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") { end += 1 }
        var authority = bytes[(colon + 3)..<end]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[(at + 1)...] }
        if let port = authority.lastIndex(of: UInt8(ascii: ":")), !authority.contains(UInt8(ascii: "]")) || authority.last == UInt8(ascii: "]") {
            if authority.first != UInt8(ascii: "[") { authority = authority[..<port] }
        }
        guard !authority.isEmpty, !authority.contains(where: { $0 == 0x20 || $0 < 0x21 }) else { return nil }
        host = String(decoding: authority, as: UTF8.self).lowercased()
        if let question = bytes[end...].firstIndex(of: UInt8(ascii: "?")) {
            let after = bytes[(question + 1)...]
            let stop = after.firstIndex(of: UInt8(ascii: "#")) ?? bytes.count
            query = String(decoding: bytes[(question + 1)..<stop], as: UTF8.self)
        } else {
            query = ""
        }
    }
}

/// The UTM tags and click ids of a landing URL's query, in nine slots (a dictionary's hashing
/// was a fifth of reading a visit).
struct QueryTags: Sendable {
    enum Tag: Int, CaseIterable, Sendable {
        case utmSource, utmMedium, utmCampaign, utmContent, utmTerm, yclid, gclid, fbclid, rbClickID

        static let names = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "yclid", "gclid", "fbclid", "rb_clickid"]

        /// The query parameter's (and the posted field's) name.
        var name: String { Self.names[rawValue] }

        init?(name: String) {
            guard let index = Self.names.firstIndex(of: name) else { return nil }
            self.init(rawValue: index)
        }
    }

    /// The click ids in the order they are looked for.
    static let clickIDs: [Tag] = [.yclid, .gclid, .fbclid, .rbClickID]

    private var values = [String?](repeating: nil, count: Tag.allCases.count)

    subscript(tag: Tag) -> String? {
        get { values[tag.rawValue] }
        set { values[tag.rawValue] = newValue }
    }

    /// The tags present, by their names.
    var dictionary: [String: String] {
        var found: [String: String] = [:]
        for tag in Tag.allCases { if let value = self[tag] { found[tag.name] = value } }
        return found
    }
}
