import Foundation

/// Phones and e-mails as identities are compared (domain.md definition 7).
public enum ContactNormalization {
    /// Digits only; 11 digits starting with 7 or 8 → `+7` and the last 10; 10 digits starting
    /// with 9 → `+7` and the 10; other numbers of 10 or more digits → `+` and the digits; fewer
    /// than 10 digits → nil (no phone).
    public static func phone(_ text: String) -> String? {
        let digits = text.unicodeScalars.filter { ("0"..."9").contains($0) }.map(Character.init)
        guard digits.count >= 10 else { return nil }
        if digits.count == 11, digits[0] == "7" || digits[0] == "8" { return "+7" + String(digits.dropFirst()) }
        if digits.count == 10, digits[0] == "9" { return "+7" + String(digits) }
        return "+" + String(digits)
    }

    /// Trimmed and lower-cased; nil when empty or without `@`.
    public static func email(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard !trimmed.isEmpty, trimmed.contains("@") else { return nil }
        return trimmed
    }
}
