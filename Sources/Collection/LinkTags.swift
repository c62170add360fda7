import Domain
import Foundation

/// The UTM values a network's own link settings give one spend row: Direct ad links and group
/// tracking parameters, Google Ads final-URL suffixes and tracking templates, Meta creative URL
/// tags, VK Ads / myTarget UTM settings. Each value is what visits from that row carry, with the
/// network's macros (`{campaign_id}`, `{{ad.name}}`) filled in; a value that depends on the click
/// (`{source}`, `{{placement}}`) or on a macro the network does not document for us is `nil`.
public struct LinkTags: Sendable, Equatable {
    public var source: String?
    public var medium: String?
    public var campaign: String?
    public var content: String?
    public var term: String?
    /// The `utm_*` part of the network's settings as written there (macros unexpanded), e.g.
    /// `utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}`.
    public var template: String

    public init(source: String? = nil, medium: String? = nil, campaign: String? = nil, content: String? = nil,
                term: String? = nil, template: String) {
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.content = content
        self.term = term
        self.template = template
    }

    /// How a network writes its macros.
    public enum MacroSyntax: Sendable {
        /// `{campaign_id}` — Yandex Direct, Google Ads ValueTrack.
        case braces
        /// `{{campaign.id}}` — Meta, VK Ads, myTarget.
        case doubleBraces
    }

    /// Resolves link settings into tags (parses them each time; `LinkTemplate` parses once).
    ///
    /// - Parameters:
    ///   - settings: the network's settings in priority order (an ad's own link before its group's
    ///     tracking parameters; a key set by an earlier one wins). Each may be a whole URL, a
    ///     query (`?a=b&c=d`), a bare `a=b&c=d` list or a tracking template (`{lpurl}?a=b`).
    ///   - macros: macro name (lower-case, without braces) → its value for this row.
    /// - Returns: `nil` when no setting carries a `utm_*` parameter.
    public static func resolve(_ settings: [String?], syntax: MacroSyntax, macros: [String: String]) -> LinkTags? {
        LinkTemplate(settings, syntax: syntax)?.resolve(macros)
    }

    /// The `key=value` pairs of a setting's query part, keys lower-cased, both percent-decoded
    /// (`+` is a space). Pairs without `=` are skipped.
    static func parameters(_ setting: String) -> [(String, String)] {
        var text = Substring(setting.trimmingCharacters(in: .whitespacesAndNewlines))
        if let question = text.firstIndex(of: "?") { text = text[text.index(after: question)...] }
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        return text.split(separator: "&").compactMap { pair in
            guard let equals = pair.firstIndex(of: "=") else { return nil }
            let key = decode(pair[..<equals]).lowercased().trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return nil }
            return (key, decode(pair[pair.index(after: equals)...]))
        }
    }

    private static func decode(_ text: Substring) -> String { FormURLEncoded.decode(text) }
}

/// Link settings parsed once: the `utm_*` parameters with their macros split out, so resolving
/// them for each of a million rows costs a few dictionary lookups.
public struct LinkTemplate: Sendable {
    enum Segment: Sendable { case text(String), macro(String) }
    let parameters: [(key: String, segments: [Segment])]
    let template: String

    /// nil when no setting carries a `utm_*` parameter (see `LinkTags.resolve`).
    public init?(_ settings: [String?], syntax: LinkTags.MacroSyntax) {
        var raw: [(key: String, value: String)] = []
        for case let setting? in settings {
            for (key, value) in LinkTags.parameters(setting) where key.hasPrefix("utm_") && !raw.contains(where: { $0.key == key }) {
                raw.append((key, value))
            }
        }
        guard !raw.isEmpty else { return nil }
        template = raw.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        parameters = raw.map { ($0.key, Self.segments($0.value, syntax: syntax)) }
    }

    /// The tags for one row; a value with a macro `macros` lacks (set per click) is nil, and so
    /// is an empty one.
    public func resolve(_ macros: [String: String]) -> LinkTags {
        var tags = LinkTags(template: template)
        for (key, segments) in parameters {
            var value: String? = ""
            for segment in segments {
                switch segment {
                case .text(let text): value? += text
                case .macro(let name):
                    if let replacement = macros[name] { value? += replacement } else { value = nil }
                }
                if value == nil { break }
            }
            if value?.isEmpty == true { value = nil }
            switch key {
            case "utm_source": tags.source = value
            case "utm_medium": tags.medium = value
            case "utm_campaign": tags.campaign = value
            case "utm_content": tags.content = value
            case "utm_term": tags.term = value
            default: break
            }
        }
        return tags
    }

    static func segments(_ value: String, syntax: LinkTags.MacroSyntax) -> [Segment] {
        let (open, close) = syntax == .braces ? ("{", "}") : ("{{", "}}")
        var segments: [Segment] = []
        var rest = Substring(value)
        while let start = rest.range(of: open), let end = rest[start.upperBound...].range(of: close) {
            if start.lowerBound > rest.startIndex { segments.append(.text(String(rest[..<start.lowerBound]))) }
            segments.append(.macro(rest[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces).lowercased()))
            rest = rest[end.upperBound...]
        }
        if !rest.isEmpty { segments.append(.text(String(rest))) }
        return segments
    }
}

/// Parses each distinct list of settings once while a source maps its rows.
public struct LinkTemplateCache {
    private var templates: [[String?]: LinkTemplate?] = [:]
    public let syntax: LinkTags.MacroSyntax

    public init(syntax: LinkTags.MacroSyntax) { self.syntax = syntax }

    public mutating func resolve(_ settings: [String?], macros: [String: String]) -> LinkTags? {
        if let cached = templates[settings] { return cached?.resolve(macros) }
        let template = LinkTemplate(settings, syntax: syntax)
        templates[settings] = template
        return template?.resolve(macros)
    }
}
