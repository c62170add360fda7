import Attribution
import Domain
import Foundation
import Postgres

/// CRM amounts into the project's reporting currency, VAT removed where the connection says
/// amounts include it (domain.md definitions 10, 14, 15): converted at the day's rate, kept to
/// 10 decimals (exact from there on as `ExactAmount`).
struct ReportMoney: Sendable {
    let target: String
    let rates: ExchangeRates
    let vat: VATSchedule

    /// Reads the rates of `currencies` into `target` (none needed when every amount is in it).
    static func load(target: String, currencies: Set<String>, vat: VATSchedule, on connection: PGConnection) async throws -> ReportMoney {
        var rates = ExchangeRates(target: target)
        let foreign = currencies.subtracting([target]).sorted()
        if !foreign.isEmpty {
            for row in try await connection.query("""
                SELECT currency, day::text, rate::text FROM core.exchange_rates WHERE target = $1 AND currency = ANY($2) ORDER BY currency, day
                """, [target, foreign]) {
                guard let day = LocalDay(iso: try row.decode(String.self, 1)),
                      let rate = Decimal(string: try row.decode(String.self, 2), locale: Self.posix) else { continue }
                rates.add(try row.decode(String.self, 0), on: day, rate: rate)
            }
        }
        return ReportMoney(target: target, rates: rates, vat: vat)
    }

    static let posix = Locale(identifier: "en_US_POSIX")

    /// `text` (a stored numeric) of `currency` on `day`; `what` names the row in an error.
    func amount(_ text: String, currency: String, includesVAT: Bool, on day: LocalDay, what: @autoclosure () -> String) throws -> ExactAmount {
        if currency == target, !includesVAT, let exact = ExactAmount(text) { return exact }
        guard var value = Decimal(string: text, locale: Self.posix) else {
            throw AggregationError("\(what()): amount '\(text)' is not a number")
        }
        do {
            if currency != target { value = try rates.convert(value, from: currency, on: day) }
            if includesVAT { value = try vat.excludingVAT(value, on: day) }
        } catch let error as DomainError {
            throw AggregationError("\(what()): \(error.description)")
        }
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, ExactAmount.inputScale, .plain)
        guard let exact = ExactAmount(NSDecimalNumber(decimal: rounded).description(withLocale: Self.posix)) else {
            throw AggregationError("\(what()): amount \(rounded) is out of range (at most 10^12 in one row)")
        }
        return exact
    }
}

/// A report cannot be computed from what is stored: the message names the row.
public struct AggregationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
