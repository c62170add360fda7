import Foundation

/// A calendar day without a time: an ad network's statistics day in the account's time zone,
/// or a lead's day in the project's time zone. Stored and printed as `YYYY-MM-DD`.
public struct LocalDay: Hashable, Comparable, Sendable, CustomStringConvertible, Codable, Strideable {
    /// Days since 1970-01-01.
    public let daysSinceEpoch: Int64

    public init(daysSinceEpoch: Int64) { self.daysSinceEpoch = daysSinceEpoch }

    /// - Returns: nil unless `year`-`month`-`day` is a real date.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, Int64(day) <= Timestamp.daysInMonth(Int64(year), Int64(month)) else {
            return nil
        }
        daysSinceEpoch = Timestamp.daysFromCivil(Int64(year), Int64(month), Int64(day))
    }

    /// Parses `YYYY-MM-DD` exactly (no other form).
    public init?(iso text: some StringProtocol) {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func num(_ range: Range<Int>) -> Int? {
            var v = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// The day an instant falls on in `timeZone` (daylight-saving rules included).
    /// The day of an instant given in microseconds since the epoch.
    public static func of(micros: Int64, in timeZone: TimeZone) -> LocalDay {
        LocalDay(Date(timeIntervalSince1970: Double(micros) / 1_000_000), in: timeZone)
    }

    public init(_ instant: Date, in timeZone: TimeZone) {
        let offset = Int64(timeZone.secondsFromGMT(for: instant))
        let local = Int64((instant.timeIntervalSince1970).rounded(.down)) + offset
        daysSinceEpoch = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
    }

    public var year: Int { Int(Timestamp.civil(fromDays: daysSinceEpoch).year) }
    public var month: Int { Int(Timestamp.civil(fromDays: daysSinceEpoch).month) }
    public var day: Int { Int(Timestamp.civil(fromDays: daysSinceEpoch).day) }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (y, m, d) = Timestamp.civil(fromDays: daysSinceEpoch)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The first day of this day's month.
    public var firstOfMonth: LocalDay { LocalDay(year: year, month: month, day: 1)! }

    /// Every day of this day's month, in order.
    public var daysOfMonth: [LocalDay] {
        let first = firstOfMonth
        let count = Timestamp.daysInMonth(Int64(year), Int64(month))
        return (0..<count).map { first.advanced(by: Int($0)) }
    }

    /// The instant this day starts in `timeZone`.
    public func start(in timeZone: TimeZone) -> Date {
        let midnightUTC = Date(timeIntervalSince1970: Double(daysSinceEpoch * 86_400))
        // Two passes settle the offset that applies at local midnight (DST changes).
        var guess = midnightUTC.addingTimeInterval(-Double(timeZone.secondsFromGMT(for: midnightUTC)))
        guess = midnightUTC.addingTimeInterval(-Double(timeZone.secondsFromGMT(for: guess)))
        return guess
    }

    public static func < (lhs: LocalDay, rhs: LocalDay) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }
    public func advanced(by n: Int) -> LocalDay { LocalDay(daysSinceEpoch: daysSinceEpoch + Int64(n)) }
    public func distance(to other: LocalDay) -> Int { Int(other.daysSinceEpoch - daysSinceEpoch) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let day = LocalDay(iso: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a date YYYY-MM-DD"))
        }
        self = day
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An inclusive range of days, split into chunks an API accepts.
public struct DayRange: Hashable, Sendable, CustomStringConvertible, Codable {
    public let first: LocalDay
    public let last: LocalDay

    /// - Returns: nil when `last` is before `first`.
    public init?(_ first: LocalDay, _ last: LocalDay) {
        guard first <= last else { return nil }
        self.first = first
        self.last = last
    }

    public var count: Int { first.distance(to: last) + 1 }
    public var days: [LocalDay] { Array(first...last) }
    public var description: String { "\(first)..\(last)" }

    /// Consecutive chunks of at most `days` days covering the range, in order.
    public func chunks(ofAtMost days: Int) -> [DayRange] {
        precondition(days > 0)
        var result: [DayRange] = []
        var start = first
        while start <= last {
            let end = min(last, start.advanced(by: days - 1))
            result.append(DayRange(start, end)!)
            start = end.advanced(by: 1)
        }
        return result
    }
}
