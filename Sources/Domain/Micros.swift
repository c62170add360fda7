import Foundation

/// An exact amount in millionths of a currency unit — the precision ad networks report in
/// (Yandex Direct and Google Ads send micros; decimal strings convert exactly). Never floating
/// point.
public struct Micros: Hashable, Comparable, Sendable, CustomStringConvertible, AdditiveArithmetic {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public static let zero = Micros(0)
    public static let perUnit: Int64 = 1_000_000

    /// Parses a decimal amount: `412.30`, `-5`, `0.000001`; with `allowComma`, also `412,30`
    /// (decimal comma) and spaces or no-break spaces as thousands separators (`1 234,50`).
    /// - Returns: nil for anything else, including more than 6 fraction digits or an amount
    ///   beyond ±9.2 trillion units.
    public init?(decimal text: some StringProtocol, allowComma: Bool = false) {
        var bytes = Array(text.utf8)
        if allowComma {
            // Drop ASCII spaces and U+00A0 / U+202F (no-break spaces) used as group separators.
            var cleaned: [UInt8] = []
            var index = 0
            while index < bytes.count {
                if bytes[index] == 0x20 { index += 1; continue }
                if index + 1 < bytes.count, bytes[index] == 0xC2, bytes[index + 1] == 0xA0 { index += 2; continue }
                if index + 2 < bytes.count, bytes[index] == 0xE2, bytes[index + 1] == 0x80, bytes[index + 2] == 0xAF { index += 3; continue }
                cleaned.append(bytes[index])
                index += 1
            }
            bytes = cleaned
        }
        guard !bytes.isEmpty else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            index = 1
        }
        var whole: Int64 = 0
        var wholeDigits = 0
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(bytes[index] - 48))
            guard !o1, !o2 else { return nil }
            whole = a
            wholeDigits += 1
            index += 1
        }
        var fraction: Int64 = 0
        var fractionDigits = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || (allowComma && bytes[index] == UInt8(ascii: ",")) {
            index += 1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fractionDigits += 1
                guard fractionDigits <= 6 else { return nil }
                fraction = fraction * 10 + Int64(bytes[index] - 48)
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
        }
        guard index == bytes.count, wholeDigits + fractionDigits > 0 else { return nil }
        for _ in fractionDigits..<6 { fraction *= 10 }
        let (scaled, o1) = whole.multipliedReportingOverflow(by: Self.perUnit)
        let (total, o2) = scaled.addingReportingOverflow(fraction)
        guard !o1, !o2 else { return nil }
        value = negative ? -total : total
    }

    /// The amount as an exact `Decimal` in currency units.
    public var decimal: Decimal { Decimal(value) / Decimal(Self.perUnit) }

    /// The amount with `places` decimal places (truncated toward zero): `412.30` for 2.
    public func text(places: Int) -> String {
        precondition((0...6).contains(places))
        let truncated = String(description.dropLast(6 - places))
        return places == 0 ? String(truncated.dropLast()) : truncated
    }

    /// `412.300000`-style text with all six places.
    public var description: String {
        let magnitude = value.magnitude
        let fraction = String(magnitude % UInt64(Self.perUnit))
        return (value < 0 ? "-" : "") + "\(magnitude / UInt64(Self.perUnit))." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    public static func < (lhs: Micros, rhs: Micros) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: Micros, rhs: Micros) -> Micros { Micros(lhs.value + rhs.value) }
    public static func - (lhs: Micros, rhs: Micros) -> Micros { Micros(lhs.value - rhs.value) }

    /// Splits `self` into `parts` amounts of whole minor units (kopecks when `minorDigits` is 2)
    /// that add up exactly to `self`: each gets the floor share, and the remainder minor units
    /// go one each to the first parts — deterministic, so re-running gives the same split.
    /// - Precondition: `self` is a whole number of minor units and `parts > 0`.
    public func spread(over parts: Int, minorDigits: Int = 2) -> [Micros] {
        precondition(parts > 0)
        var unit: Int64 = 1
        for _ in 0..<(6 - minorDigits) { unit *= 10 }
        precondition(value % unit == 0, "\(self) is not a whole number of minor units")
        let minor = value / unit
        let share = minor / Int64(parts)
        var remainder = minor - share * Int64(parts)
        return (0..<parts).map { _ in
            var amount = share
            if remainder > 0 { amount += 1; remainder -= 1 } else if remainder < 0 { amount -= 1; remainder += 1 }
            return Micros(amount * unit)
        }
    }
}
