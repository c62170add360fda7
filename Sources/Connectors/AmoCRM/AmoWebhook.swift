import Domain

/// An amoCRM webhook (api-contracts.md §2.7): form-urlencoded, bracket keys, old (v2) field names.
public struct AmoWebhook: Sendable, Equatable {
    public struct Lead: Sendable, Equatable {
        public var id: String
        /// `add`, `update`, `delete`, `restore`, `status`, `responsible`, `note`.
        public var action: String
        public init(id: String, action: String) {
            self.id = id
            self.action = action
        }
    }

    public var subdomain: String?
    public var accountID: String?
    /// Every lead the webhook announces, once each (a later action for the same id wins).
    public var leads: [Lead]
    /// `leads[...][id]` keys whose value is not a lead id (empty or not a number), as sent.
    public var malformed: [String] = []

    /// Reads the body; nil when it announces no lead and names no account (not an amoCRM webhook).
    public static func parse(_ body: String) -> AmoWebhook? {
        var hook = AmoWebhook(subdomain: nil, accountID: nil, leads: [])
        for (key, value) in FormURLEncoded.parse(body) {
            if key == "account[subdomain]" { hook.subdomain = value; continue }
            if key == "account[id]" { hook.accountID = value; continue }
            // leads[<action>][<n>][id]
            guard key.hasPrefix("leads["), key.hasSuffix("][id]") else { continue }
            let parts = key.dropFirst("leads[".count).dropLast("][id]".count).split(separator: "][")
            // Nested keys (`leads[status][0][custom_fields][0][id]`) are fields, not leads.
            guard parts.count == 2, Int(parts[1]) != nil else { continue }
            guard !value.isEmpty, value.allSatisfy(\.isNumber) else {
                hook.malformed.append("\(key)=\(value)")
                continue
            }
            hook.leads.removeAll { $0.id == value }
            hook.leads.append(Lead(id: value, action: String(parts[0])))
        }
        return hook.leads.isEmpty && hook.malformed.isEmpty && hook.accountID == nil && hook.subdomain == nil ? nil : hook
    }
}
