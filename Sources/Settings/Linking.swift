import Domain
import Foundation

/// A project's linking settings (domain.md definitions 3, 6, 8 and 18), under `linking:`.
///
/// ```yaml
/// linking:
///   lookback_days: 30             # touches: visits of the lead's client id this far back
///   duplicate_window_hours: 12    # definition 6
///   contact_window_minutes: 60    # definition 8 (c): "within ±1 h of the deal's creation"
///   contact_max_age_days: 365     # definition 8 (c): oldest earlier lead a contact may reach (default: none)
///   customer_cap: 50              # most phones, e-mails, client ids and CRM contacts in one customer
///   blocked: ["+7 495 000-00-00", "test@example.com"]   # shared values that never link anything
/// ```
public struct Linking: Codable, Sendable, Equatable {
    public var lookbackDays: Int
    public var duplicateWindowHours: Int
    public var contactWindowMinutes: Int
    public var contactMaxAgeDays: Int?
    public var customerCap: Int
    /// Phones and e-mails as written in the configuration; `blockedKeys` gives them normalised.
    public var blocked: [String]

    enum CodingKeys: String, CodingKey {
        case lookbackDays = "lookback_days", duplicateWindowHours = "duplicate_window_hours", contactWindowMinutes = "contact_window_minutes"
        case contactMaxAgeDays = "contact_max_age_days", customerCap = "customer_cap", blocked
    }

    public init(lookbackDays: Int = 30, duplicateWindowHours: Int = 12, contactWindowMinutes: Int = 60, contactMaxAgeDays: Int? = nil,
                customerCap: Int = 50, blocked: [String] = []) {
        self.lookbackDays = lookbackDays
        self.duplicateWindowHours = duplicateWindowHours
        self.contactWindowMinutes = contactWindowMinutes
        self.contactMaxAgeDays = contactMaxAgeDays
        self.customerCap = customerCap
        self.blocked = blocked
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lookbackDays = try c.decodeIfPresent(Int.self, forKey: .lookbackDays) ?? 30
        duplicateWindowHours = try c.decodeIfPresent(Int.self, forKey: .duplicateWindowHours) ?? 12
        contactWindowMinutes = try c.decodeIfPresent(Int.self, forKey: .contactWindowMinutes) ?? 60
        contactMaxAgeDays = try c.decodeIfPresent(Int.self, forKey: .contactMaxAgeDays)
        customerCap = try c.decodeIfPresent(Int.self, forKey: .customerCap) ?? 50
        blocked = try c.decodeIfPresent([String].self, forKey: .blocked) ?? []
    }

    /// The blocked values as the resolver's keys: `p:+7…` for phones, `e:…` for e-mails.
    public var blockedKeys: Set<String> {
        Set(blocked.compactMap { Self.key(of: $0) })
    }

    static func key(of value: String) -> String? {
        if value.contains("@") { return ContactNormalization.email(value).map { "e:" + $0 } }
        return ContactNormalization.phone(value).map { "p:" + $0 }
    }

    func validate(path: String) throws {
        guard (1...3650).contains(lookbackDays) else { throw SettingsError("\(path).lookback_days: \(lookbackDays) is not between 1 and 3650") }
        guard (0...720).contains(duplicateWindowHours) else {
            throw SettingsError("\(path).duplicate_window_hours: \(duplicateWindowHours) is not between 0 and 720")
        }
        guard (0...10_080).contains(contactWindowMinutes) else {
            throw SettingsError("\(path).contact_window_minutes: \(contactWindowMinutes) is not between 0 and 10080")
        }
        if let age = contactMaxAgeDays, age < 1 { throw SettingsError("\(path).contact_max_age_days: \(age) must be at least 1") }
        guard (2...100_000).contains(customerCap) else { throw SettingsError("\(path).customer_cap: \(customerCap) is not between 2 and 100000") }
        for (index, value) in blocked.enumerated() where Self.key(of: value) == nil {
            throw SettingsError("\(path).blocked[\(index)]: '\(value)' is neither a phone (10+ digits) nor an e-mail")
        }
    }
}
