import Domain
import Foundation
import Postgres

/// Payments kept outside the CRM (a bank export, an accounting sheet), imported from CSV for one
/// CRM connection: UTF-8, `,` or `;`, decimal comma accepted, headers in English or Russian.
///
/// | column | synonyms | value |
/// |---|---|---|
/// | `deal` | `deal_id`, `сделка` | the CRM's deal id (required) |
/// | `date` | `paid_at`, `дата` | `YYYY-MM-DD`, `DD.MM.YYYY` (the day's start in the project's time zone) or an ISO time with offset |
/// | `amount` | `sum`, `сумма` | money received; negative: a refund |
/// | `currency` | `валюта` | optional, default the connection's |
/// | `kind` | `status`, `тип` | optional `received` (default) or `expected` (`получено` / `ожидается`) |
///
/// The sheet is the truth for the deals it names: an import replaces all CSV payments of those
/// deals in one transaction, so importing a corrected export again never double counts.
public struct PaymentSheet: Sendable {
    public let payments: [CRMPayment]

    /// - Throws: `CSVError` naming the line and column of the first bad value.
    public init(_ text: String, currency: String, timeZone: TimeZone) throws {
        let csv = try DelimitedText(text)
        guard let deal = csv.column("deal", "deal_id", "сделка") else { throw CSVError(line: 1, "the header needs a deal column") }
        guard let date = csv.column("date", "paid_at", "дата") else { throw CSVError(line: 1, "the header needs a date column") }
        guard let amount = csv.column("amount", "sum", "сумма") else { throw CSVError(line: 1, "the header needs an amount column") }
        let currencyColumn = csv.column("currency", "валюта")
        let kindColumn = csv.column("kind", "status", "тип")
        var payments: [CRMPayment] = []
        var occurrences: [String: Int] = [:]
        for row in csv.rows {
            let value = row.value
            let fail = row.error
            if row.isBlank { continue }
            guard let dealID = value(deal) else { throw fail("deal", "is empty") }
            guard let dateText = value(date) else { throw fail("date", "is empty") }
            guard let paidAt = Self.instant(dateText, timeZone: timeZone) else {
                throw fail("date", "'\(dateText)' is not YYYY-MM-DD, DD.MM.YYYY or an ISO time")
            }
            guard let amountText = value(amount), let sum = Self.decimal(amountText) else {
                throw fail("amount", "'\(value(amount) ?? "")' is not an amount")
            }
            let code = value(currencyColumn)?.uppercased() ?? currency
            guard code.count == 3, code.allSatisfy({ $0.isLetter && $0.isASCII }) else { throw fail("currency", "'\(code)' is not an ISO code") }
            let kind: CRMPayment.Kind
            switch value(kindColumn)?.lowercased() {
            case nil, "received", "paid", "получено", "оплачено": kind = .received
            case "expected", "planned", "ожидается", "план": kind = .expected
            case let other?: throw fail("kind", "'\(other)' is not received or expected")
            }
            // The same line twice is two payments; the id is stable across re-imports of the file.
            let key = "\(dealID)|\(Timestamp.format(paidAt))|\(sum)|\(code)|\(kind.rawValue)"
            occurrences[key, default: 0] += 1
            payments.append(CRMPayment(id: "csv-\(FNV1a.hex("\(key)|\(occurrences[key]!)"))", dealID: dealID, kind: kind, amount: sum,
                                       currency: code, paidAt: kind == .received ? paidAt : nil, origin: .csv))
        }
        self.payments = payments
    }

    static func decimal(_ text: String) -> Decimal? {
        let cleaned = text.replacingOccurrences(of: "\u{00A0}", with: "").replacingOccurrences(of: " ", with: "")
            .replacingOccurrences(of: ",", with: ".")
        guard !cleaned.isEmpty, cleaned.filter({ $0 == "." }).count <= 1,
              cleaned.enumerated().allSatisfy({ $0.element.isNumber || $0.element == "." || ($0.element == "-" && $0.offset == 0) }) else { return nil }
        return Decimal(string: cleaned, locale: Locale(identifier: "en_US_POSIX"))
    }

    static func instant(_ text: String, timeZone: TimeZone) -> Date? {
        if let day = LocalDay(iso: text) { return day.start(in: timeZone) }
        let parts = text.split(separator: ".")
        if parts.count == 3, let d = Int(parts[0]), let m = Int(parts[1]), let y = Int(parts[2]), let day = LocalDay(year: y, month: m, day: d) {
            return day.start(in: timeZone)
        }
        return Timestamp.parse(text)
    }

    /// Replaces the CSV payments of the sheet's deals; returns (payments stored, deals named, deals not synced yet).
    public func store(_ store: DealStore, pool: PGPool) async throws -> (payments: Int, deals: Int, unknownDeals: Int) {
        let deals = Array(Set(payments.map(\.dealID))).sorted()
        return try await pool.withTransaction { connection in
            try await connection.query("""
                DELETE FROM crm.payments WHERE project_id = $1 AND connection_id = $2 AND origin = 'csv' AND deal_id = ANY($3::text[])
                """, [store.project, store.connection, deals])
            try await store.write(CRMHistory(payments: payments), on: connection)
            let known = try await connection.query("""
                SELECT count(*) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND deal_id = ANY($3::text[])
                """, [store.project, store.connection, deals])[0].decode(Int.self, 0)
            try await DealSyncEngine.enqueueChanged(deals, store: store, on: connection)
            return (payments.count, deals.count, deals.count - known)
        }
    }
}
