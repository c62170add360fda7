import Foundation

/// A country's VAT rate with the days each rate takes effect. Spend is reported without VAT:
/// amounts a source gives with VAT are divided by (1 + rate of their day).
///
/// Russia: 20 % through 2025-12-31, 22 % from 2026-01-01 (`VATSchedule.russia`). Projects may
/// configure another schedule.
public struct VATSchedule: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public let from: LocalDay
        /// The rate as a fraction: 0.22 for 22 %.
        public let rate: Decimal
        public init(from: LocalDay, rate: Decimal) {
            self.from = from
            self.rate = rate
        }
    }

    /// Steps sorted by day.
    public let steps: [Step]

    public init(_ steps: [Step]) { self.steps = steps.sorted { $0.from < $1.from } }

    public static let russia = VATSchedule([
        Step(from: LocalDay(year: 2019, month: 1, day: 1)!, rate: Decimal(string: "0.20")!),
        Step(from: LocalDay(year: 2026, month: 1, day: 1)!, rate: Decimal(string: "0.22")!),
    ])

    /// The rate in force on `day`.
    /// - Throws: `DomainError` when `day` precedes every step.
    public func rate(on day: LocalDay) throws -> Decimal {
        guard let step = steps.last(where: { $0.from <= day }) else {
            throw DomainError("no VAT rate is configured for \(day) (first rate from \(steps.first.map { "\($0.from)" } ?? "never"))")
        }
        return step.rate
    }

    /// `amount` without VAT, exact to 28+ significant digits (rounded only per report cell).
    public func excludingVAT(_ amount: Decimal, on day: LocalDay) throws -> Decimal {
        amount / (1 + (try rate(on: day)))
    }
}

/// A domain rule that the data breaks, with a message naming the value.
public struct DomainError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
