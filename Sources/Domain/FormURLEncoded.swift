import Foundation

/// `application/x-www-form-urlencoded` bodies, as CRM webhooks send them (PHP-style bracket keys
/// such as `leads[status][0][id]` are left as they are).
public enum FormURLEncoded {
    /// The pairs in order, `+` as space, percent-decoded; a pair without `=` has an empty value.
    public static func parse(_ body: String) -> [(key: String, value: String)] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// Encodes pairs (keys and values percent-encoded except unreserved characters).
    public static func encode(_ pairs: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return pairs.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
