import Domain
import Foundation
import Postgres

/// Exchange rates in `core.exchange_rates`: loaded from CSV by the operator, read by collectors.
public enum ExchangeRateStore {
    /// One parsed rate.
    public struct Rate: Sendable, Equatable {
        public let currency: String
        public let day: LocalDay
        public let rate: Decimal
        public init(currency: String, day: LocalDay, rate: Decimal) {
            self.currency = currency
            self.day = day
            self.rate = rate
        }
    }

    /// Parses a rates CSV with the columns `date` (YYYY-MM-DD), `currency` (ISO code) and `rate`
    /// (units of the target currency per one unit; decimal point or comma).
    /// - Throws: `CSVError` naming the line and column of the first bad value; nothing is
    ///   returned partially.
    public static func parse(_ text: String, target: String) throws -> [Rate] {
        let csv = try DelimitedText(text)
        guard let date = csv.column("date", "day"), let currency = csv.column("currency", "code"),
              let rate = csv.column("rate") else {
            throw CSVError(line: 1, "the header must name the columns date, currency and rate (found: \(csv.header.joined(separator: ", ")))")
        }
        return try csv.rows.map { row in
            func field(_ index: Int, _ name: String) throws -> String {
                guard index < row.fields.count else { throw CSVError(line: row.line, "\(name): missing") }
                return row.fields[index].trimmingCharacters(in: .whitespaces)
            }
            let dayText = try field(date, "date")
            guard let day = LocalDay(iso: dayText) else { throw CSVError(line: row.line, "date: '\(dayText)' is not YYYY-MM-DD") }
            let code = try field(currency, "currency").uppercased()
            guard code.count == 3, code.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                throw CSVError(line: row.line, "currency: '\(code)' is not an ISO 4217 code")
            }
            guard code != target else { throw CSVError(line: row.line, "currency: \(code) is the target currency itself") }
            let rateText = try field(rate, "rate").replacingOccurrences(of: ",", with: ".")
            guard let value = Decimal(string: rateText, locale: Locale(identifier: "en_US_POSIX")), value > 0,
                  rateText.allSatisfy({ $0.isNumber || $0 == "." }) else {
                throw CSVError(line: row.line, "rate: '\(rateText)' is not a positive number")
            }
            return Rate(currency: code, day: day, rate: value)
        }
    }

    /// Upserts `rates` into `core.exchange_rates` in one transaction; returns how many.
    @discardableResult
    public static func store(_ rates: [Rate], target: String, origin: String, pool: PGPool) async throws -> Int {
        try await pool.withTransaction { connection in
            try await connection.bulkWrite(PGBulkWrite(
                table: "core.exchange_rates", columns: ["currency", "target", "day", "rate", "origin"],
                mode: .upsert(key: ["currency", "target", "day"], update: ["rate", "origin"]))
            ) { writer in
                for rate in rates {
                    writer.field(rate.currency)
                    writer.field(target)
                    writer.field(rate.day.description)
                    writer.field(rate.rate)
                    writer.field(origin)
                    try writer.endRow()
                }
            }.written
        }
    }

    /// Every rate into `target` from `from - maximumAge` days through `to`.
    public static func load(target: String, from: LocalDay, to: LocalDay, pool: PGPool) async throws -> ExchangeRates {
        try await pool.withConnection { try await load(target: target, from: from, to: to, on: $0) }
    }

    /// The same on `connection` (inside the caller's transaction, if any).
    public static func load(target: String, from: LocalDay, to: LocalDay, on connection: PGConnection) async throws -> ExchangeRates {
        var rates = ExchangeRates(target: target)
        let rows = try await connection.query(
            "SELECT currency, day::text, rate FROM core.exchange_rates WHERE target = $1 AND day BETWEEN $2::date AND $3::date",
            [target, from.advanced(by: -rates.maximumAge).description, to.description])
        for row in rows {
            guard let day = LocalDay(iso: try row.decode(String.self, 1)) else { continue }
            rates.add(try row.decode(String.self, 0), on: day, rate: try row.decode(Decimal.self, 2))
        }
        return rates
    }
}
