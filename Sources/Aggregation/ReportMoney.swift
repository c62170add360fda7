import Attribution
import Domain
import Foundation

/// CRM amounts into the project's reporting currency, VAT removed where the connection says
/// amounts include it (domain.md definitions 10, 14, 15): converted at the day's rate, kept to
/// 10 decimals (exact from there on as `ExactAmount`).
struct ReportMoney: Sendable {
    let target: String
    let rates: ExchangeRates
    let vat: VATSchedule

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
