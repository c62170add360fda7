import Foundation

/// Dated exchange rates into a reporting currency, e.g. the Central Bank of Russia's daily
/// rates into RUB. Loaded by `analytics rates load` from CSV.
///
/// The rate for a day is the latest published on or before it, no older than `maximumAge`
/// days (rates are not published on weekends and holidays). A missing rate is an error naming
/// the date and currency — never 0.
public struct ExchangeRates: Sendable {
    /// Units of `target` for one unit of the source currency, per source currency, sorted by day.
    private var table: [String: [(day: LocalDay, rate: Decimal)]] = [:]
    public let target: String
    public let maximumAge: Int

    public init(target: String, maximumAge: Int = 7) {
        self.target = target
        self.maximumAge = maximumAge
    }

    /// Adds a rate: one unit of `currency` costs `rate` units of `target` on `day`.
    public mutating func add(_ currency: String, on day: LocalDay, rate: Decimal) {
        var rows = table[currency, default: []]
        if let index = rows.firstIndex(where: { $0.day == day }) {
            rows[index].rate = rate
        } else {
            rows.append((day, rate))
            rows.sort { $0.day < $1.day }
        }
        table[currency] = rows
    }

    /// The rate from `currency` into `target` on `day` (1 for the target itself).
    /// - Throws: `DomainError` naming the currency and date when no usable rate exists.
    public func rate(_ currency: String, on day: LocalDay) throws -> Decimal {
        if currency == target { return 1 }
        guard let rows = table[currency], let row = rows.last(where: { $0.day <= day }),
              row.day.distance(to: day) <= maximumAge
        else {
            throw DomainError("no \(currency)→\(target) exchange rate for \(day) (load one with analytics rates load)")
        }
        return row.rate
    }

    /// `amount` of `currency` in `target` currency on `day`.
    public func convert(_ amount: Decimal, from currency: String, on day: LocalDay) throws -> Decimal {
        amount * (try rate(currency, on: day))
    }
}
