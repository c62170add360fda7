/// An exact amount of money in units of 10^-25, for credited money: an amount with at most 10
/// decimals (what `numeric(28, 10)` and `numeric(20, 4)` hold) times a weight of 10^-15 units
/// (`Credit`) is exact at that scale, and sums of them stay exact — a report cell of credited
/// revenue is then the exact sum, rounded only when shown (definition 15). Integer arithmetic
/// (`Int128`) is the speed of the full rebuild; `Decimal` would be ten times slower.
///
/// Range: amounts parsed from text are below 10^12 in absolute value (one trillion in the
/// reporting currency; larger text is refused, never trapped on); sums up to 1.7 × 10^13 are
/// exact — a report cell would need seventeen rows of a trillion each to reach that.
public struct ExactAmount: Sendable, Hashable, Comparable, AdditiveArithmetic, CustomStringConvertible {
    public var units: Int128

    public static let scale = 25
    /// Decimals an amount may carry to be credited exactly.
    public static let inputScale = 10
    static let creditStep = Int128(Credit.unit)  // 10^15 = 10^(scale − inputScale)

    static func pow10(_ exponent: Int) -> Int128 {
        var value: Int128 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    public init(units: Int128) { self.units = units }

    public static let zero = ExactAmount(units: 0)

    /// A whole number of things (leads, deals), exactly.
    public init(count: Int) { units = Int128(count) * Self.wholeUnit }
    static let wholeUnit = pow10(scale)

    /// Parses `numeric` text: an optional sign, digits, at most 10 decimals. Nil for anything
    /// else, or an amount of 10^12 or more.
    public init?(_ text: some StringProtocol) {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var value: Int128 = 0
        var decimals = -1
        var digits = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard decimals < 0 else { return nil }
                decimals = 0
                continue
            }
            guard byte >= 48, byte <= 57 else { return nil }
            if decimals >= 0 { decimals += 1 }
            guard decimals <= Self.inputScale, digits < 26 else { return nil }
            value = value * 10 + Int128(byte - 48)
            digits += 1
        }
        guard digits > 0 else { return nil }
        // Below 10^12 before scaling, so the scaling cannot overflow.
        guard value < Self.pow10(12 + max(decimals, 0)) else { return nil }
        value *= Self.pow10(Self.scale - max(decimals, 0))
        units = negative ? -value : value
    }

    /// This amount times a weight (`Credit` units): exact for amounts of at most 10 decimals.
    public func credited(_ weight: Int64) -> ExactAmount {
        precondition(units % Self.creditStep == 0, "an amount with more than 10 decimals cannot be credited exactly")
        return ExactAmount(units: units / Self.creditStep * Int128(weight))
    }

    /// The exact value as `numeric` text (no trailing zeros; `0` for zero).
    public var description: String {
        let magnitude = units.magnitude
        let divisor = UInt128(Self.pow10(Self.scale))
        let whole = magnitude / divisor
        var fraction = magnitude % divisor
        var text = (units < 0 ? "-" : "") + String(whole)
        guard fraction > 0 else { return text }
        var digits = [Character](repeating: "0", count: Self.scale)
        for index in stride(from: Self.scale - 1, through: 0, by: -1) {
            digits[index] = Character(String(fraction % 10))
            fraction /= 10
        }
        while digits.last == "0" { digits.removeLast() }
        text += "." + String(digits)
        return text
    }

    public static func + (a: ExactAmount, b: ExactAmount) -> ExactAmount { ExactAmount(units: a.units + b.units) }
    public static func - (a: ExactAmount, b: ExactAmount) -> ExactAmount { ExactAmount(units: a.units - b.units) }
    public static func < (a: ExactAmount, b: ExactAmount) -> Bool { a.units < b.units }
}
