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

    /// Resolves link settings into tags.
    ///
    /// - Parameters:
    ///   - settings: the network's settings in priority order (an ad's own link before its group's
    ///     tracking parameters; a key set by an earlier one wins). Each may be a whole URL, a
    ///     query (`?a=b&c=d`), a bare `a=b&c=d` list or a tracking template (`{lpurl}?a=b`).
    ///   - macros: macro name (lower-case, without braces) → its value for this row.
    /// - Returns: `nil` when no setting carries a `utm_*` parameter.
    public static func resolve(_ settings: [String?], syntax: MacroSyntax, macros: [String: String]) -> LinkTags? {
        var raw: [(key: String, value: String)] = []
        for case let setting? in settings {
            for (key, value) in parameters(setting) where key.hasPrefix("utm_") && !raw.contains(where: { $0.key == key }) {
                raw.append((key, value))
            }
        }
        guard !raw.isEmpty else { return nil }
        var tags = LinkTags(template: raw.map { "\($0.key)=\($0.value)" }.joined(separator: "&"))
        for (key, value) in raw {
            let resolved = expand(value, syntax: syntax, macros: macros)
            switch key {
            case "utm_source": tags.source = resolved
            case "utm_medium": tags.medium = resolved
            case "utm_campaign": tags.campaign = resolved
            case "utm_content": tags.content = resolved
            case "utm_term": tags.term = resolved
            default: break
            }
        }
        return tags
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

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The value with every macro replaced; `nil` when a macro has no value here, or the
    /// value is empty after expansion.
    static func expand(_ value: String, syntax: MacroSyntax, macros: [String: String]) -> String? {
        let (open, close) = syntax == .braces ? ("{", "}") : ("{{", "}}")
        var result = ""
        var rest = Substring(value)
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            result += rest[..<start.lowerBound]
            let name = rest[start.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces).lowercased()
            guard let replacement = macros[name] else { return nil }
            result += replacement
            rest = rest[end.upperBound...]
        }
        result += rest
        return result.isEmpty ? nil : result
    }
}
