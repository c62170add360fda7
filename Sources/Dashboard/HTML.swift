import Domain
import Foundation

/// Text made safe for HTML: every value that comes from data (campaign names, contractors,
/// managers, project names) goes through `HTML.text` — never raw into the page.
enum HTML {
    /// Escapes `& < > " '` for element text and quoted attribute values.
    static func text(_ value: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A query-string or path component: everything but unreserved characters percent-encoded.
    static func component(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }

    /// RFC 3986's unreserved characters (a page builds dozens of links: made once).
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                             "November", "December"]

    /// "15 Mar 2026".
    static func day(_ day: LocalDay) -> String { "\(day.day) \(months[day.month - 1]) \(day.year)" }

    /// "15 Mar".
    static func shortDay(_ day: LocalDay) -> String { "\(day.day) \(months[day.month - 1])" }

    /// 0 Monday … 6 Sunday (1970-01-01 was a Thursday).
    static func weekday(_ day: LocalDay) -> Int { Int(((day.daysSinceEpoch + 3) % 7 + 7) % 7) }

    /// The sign of a currency code, or the code.
    static func currencySign(_ code: String) -> String {
        switch code.uppercased() {
        case "RUB": "₽"
        case "USD": "$"
        case "EUR": "€"
        case "KZT": "₸"
        case "BYN": "Br"
        case "UAH": "₴"
        case "GBP": "£"
        default: code
        }
    }

    /// A money figure for an axis: "1.25 M", "350 k", "900".
    static func compact(_ value: Double) -> String {
        func trimmed(_ number: Double) -> String {
            var text = String(format: "%.2f", number)
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
            return text
        }
        let magnitude = abs(value)
        if magnitude >= 1_000_000 { return trimmed(value / 1_000_000) + " M" }
        if magnitude >= 1_000 { return trimmed(value / 1_000) + " k" }
        return trimmed(value)
    }
}
