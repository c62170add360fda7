import Foundation

extension Decimal {
    /// Rounded half away from zero to `places` decimals, printed with a point and `places`
    /// digits ("1234.50" for 2): how a report cell shows an exact amount (domain.md
    /// definition 15: round per cell, never before).
    public func text(places: Int) -> String {
        let rounded = self.rounded(places: places)
        var text = NSDecimalNumber(decimal: rounded).stringValue
        if text.hasPrefix("-"), rounded.isZero { text.removeFirst() }
        let decimals = text.firstIndex(of: ".").map { text.distance(from: $0, to: text.endIndex) - 1 } ?? -1
        if decimals < 0 && places > 0 { text += "." }
        text += String(repeating: "0", count: max(0, places - max(decimals, 0)))
        return text
    }

    /// Rounded half away from zero to `places` decimals.
    public func rounded(places: Int) -> Decimal {
        var value = self
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, places, .plain)
        return rounded
    }
}
