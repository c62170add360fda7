/// Masks passwords in connection strings before they reach a log line or an error message.
public enum Redaction {
    /// `scheme://user:***@host/...`: the URL's password replaced by `***`; a `password=` key
    /// (URL query or libpq key/value string) is masked too. Text without a password is returned
    /// unchanged.
    public static func url(_ text: String) -> String {
        var masked = text
        for secret in passwords(in: text) { masked = masked.replacingAll(secret, with: "***") }
        return masked
    }

    /// Replaces every password found in `connection` wherever it occurs in `message` (libpq
    /// quotes parts of a bad connection string in its errors).
    public static func scrub(_ message: String, connection: String) -> String {
        var scrubbed = message.replacingAll(connection, with: url(connection))
        for secret in passwords(in: connection) { scrubbed = scrubbed.replacingAll(secret, with: "***") }
        return scrubbed
    }

    /// The password substrings of a URL or key/value connection string.
    static func passwords(in text: String) -> [String] {
        var found: [String] = []
        if let schemeEnd = text.range(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            // The user info ends at the last '@' of the authority (a raw '@' in a password).
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                let password = String(authority[authority.index(after: colon)..<at])
                if !password.isEmpty { found.append(password) }
            }
        }
        var search = text[...]
        while let key = search.range(of: "password=") {
            let valueStart = key.upperBound
            var value = search[valueStart...]
            if value.first == "'" {
                value = value.dropFirst()
                let end = value.firstIndex(of: "'") ?? value.endIndex
                value = value[..<end]
            } else {
                let end = value.firstIndex(where: { $0 == " " || $0 == "&" }) ?? value.endIndex
                value = value[..<end]
            }
            if !value.isEmpty { found.append(String(value)) }
            search = text[valueStart...]
        }
        return found.sorted { $0.count > $1.count }
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
