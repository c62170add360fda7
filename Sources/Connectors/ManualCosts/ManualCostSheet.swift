import Collection
import Domain
import Foundation

/// A sheet of costs no ad network reports (SEO contractors, offline, sponsorships), exported
/// as CSV: UTF-8, `,` or `;`, decimal comma accepted, headers in English or Russian.
///
/// | column | synonyms | value |
/// |---|---|---|
/// | `date` | `day`, `дата`, `день` | `YYYY-MM-DD` or `DD.MM.YYYY` — a cost of that day |
/// | `month` | `месяц` | `YYYY-MM` or `MM.YYYY` — spread evenly over the month's days |
/// | `source` | `channel`, `utm_source`, `источник`, `канал` | the report key `source` (required) |
/// | `campaign` | `кампания` | optional campaign |
/// | `medium` | `utm_medium` | optional: for unpaid traffic's costs, the medium that puts them in its visits' channel (`organic` for SEO, `email` for newsletters, `social` for SMM); empty: paid |
/// | `amount` | `cost`, `сумма`, `расход` | whole kopecks at most (`12 500,50`) |
/// | `currency` | `валюта` | optional, default the source's currency |
/// | `vat` | `vat_included`, `ндс` | optional `yes/no`, `true/false`, `1/0`, `да/нет` |
///
/// Each line has a date or a month, not both. A monthly amount is split into whole kopecks
/// with the remainder on the first days (deterministic). Lines with the same day, source and
/// campaign add up; they must agree on currency and VAT.
public struct ManualCostSheet: Sendable {
    public let rows: [SpendRow]

    /// - Parameters:
    ///   - text: the CSV.
    ///   - defaultCurrency: for lines without a currency.
    ///   - defaultVATIncluded: for lines without a VAT flag.
    /// - Throws: `CSVError` naming the line and column of the first bad value.
    public init(_ text: String, defaultCurrency: String, defaultVATIncluded: Bool) throws {
        let csv = try DelimitedText(text)
        let date = csv.column("date", "day", "дата", "день")
        let month = csv.column("month", "месяц")
        guard date != nil || month != nil else { throw CSVError(line: 1, "the header needs a date or a month column") }
        guard let source = csv.column("source", "channel", "utm_source", "источник", "канал") else {
            throw CSVError(line: 1, "the header needs a source column")
        }
        guard let amount = csv.column("amount", "cost", "сумма", "расход") else {
            throw CSVError(line: 1, "the header needs an amount column")
        }
        let campaign = csv.column("campaign", "кампания")
        let currency = csv.column("currency", "валюта")
        let vat = csv.column("vat", "vat_included", "ндс")
        let medium = csv.column("medium", "utm_medium")

        struct Key: Hashable { let day: LocalDay; let source: String; let medium: String; let campaign: String }
        var sums: [Key: (row: SpendRow, line: Int)] = [:]
        var order: [Key] = []
        for row in csv.rows {
            let value = row.value
            let fail = row.error
            if row.isBlank { continue }
            let days: [LocalDay]
            switch (value(date), value(month)) {
            case (let text?, nil):
                guard let day = Self.day(text) else { throw fail("date", "'\(text)' is not YYYY-MM-DD or DD.MM.YYYY") }
                days = [day]
            case (nil, let text?):
                guard let first = Self.month(text) else { throw fail("month", "'\(text)' is not YYYY-MM or MM.YYYY") }
                days = first.daysOfMonth
            case (nil, nil): throw fail("date", "a line needs a date or a month")
            case (_?, _?): throw fail("date", "a line has either a date or a month, not both")
            }
            guard let sourceValue = value(source) else { throw fail("source", "missing") }
            guard let amountText = value(amount) else { throw fail("amount", "missing") }
            guard let total = Micros(decimal: amountText, allowComma: true) else {
                throw fail("amount", "'\(amountText)' is not an amount")
            }
            guard total.value >= 0 else { throw fail("amount", "'\(amountText)' is negative: a cost sheet lists what was spent") }
            guard total.value % 10_000 == 0 else { throw fail("amount", "'\(amountText)' has more than 2 decimal places") }
            let currencyValue = value(currency)?.uppercased() ?? defaultCurrency
            guard currencyValue.count == 3, currencyValue.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                throw fail("currency", "'\(currencyValue)' is not an ISO 4217 code")
            }
            var vatValue = defaultVATIncluded
            if let text = value(vat) {
                switch text.lowercased() {
                case "yes", "true", "1", "да", "y": vatValue = true
                case "no", "false", "0", "нет", "n": vatValue = false
                default: throw fail("vat", "'\(text)' is not yes or no")
                }
            }
            let campaignValue = value(campaign) ?? ""
            let mediumValue = value(medium)?.lowercased() ?? ""
            // To the micro, not the kopeck (definition 15: a spread cost keeps full precision, so
            // any run of days agrees with the exact share within 0.01; whole kopecks put up to
            // 0.15 of a month's rounding on its first half).
            for (day, share) in zip(days, total.spread(over: days.count, minorDigits: 6)) {
                let key = Key(day: day, source: sourceValue, medium: mediumValue, campaign: campaignValue)
                if var existing = sums[key] {
                    guard existing.row.currency == currencyValue, existing.row.vatIncluded == vatValue else {
                        throw fail("currency", "line \(existing.line) has the same day, source and campaign with another currency or VAT flag")
                    }
                    existing.row.cost += share
                    sums[key] = existing
                } else {
                    order.append(key)
                    sums[key] = (SpendRow(
                        day: day, campaignID: campaignValue, campaignName: campaignValue, impressions: 0, clicks: 0, cost: share,
                        utmMedium: mediumValue.isEmpty ? nil : mediumValue, utmCampaign: campaignValue.isEmpty ? nil : campaignValue,
                        utmSource: sourceValue, currency: currencyValue,
                        vatIncluded: vatValue), row.line)
                }
            }
        }
        rows = order.map { sums[$0]!.row }
    }

    static func day(_ text: String) -> LocalDay? {
        if let day = LocalDay(iso: text) { return day }
        let parts = text.split(separator: ".")
        guard parts.count == 3, parts[2].count == 4, let d = Int(parts[0]), let m = Int(parts[1]), let y = Int(parts[2]) else { return nil }
        return LocalDay(year: y, month: m, day: d)
    }

    static func month(_ text: String) -> LocalDay? {
        let separator: Character = text.contains("-") ? "-" : "."
        let parts = text.split(separator: separator)
        guard parts.count == 2 else { return nil }
        let (yearText, monthText) = separator == "-" ? (parts[0], parts[1]) : (parts[1], parts[0])
        guard yearText.count == 4, monthText.count <= 2, let y = Int(yearText), let m = Int(monthText) else { return nil }
        return LocalDay(year: y, month: m, day: 1)
    }
}

/// Manual costs as a `SpendSource`: reads the sheet file on every run (the file is the API).
public struct ManualCostsSource: SpendSource {
    public let kind = "manual_costs"
    public var refetchWindowDays: Int
    public var maxChunkDays: Int
    /// Per line (the sheet's VAT column); this is only the default.
    public var costsIncludeVAT: Bool
    public let path: String

    public init(path: String, vatIncludedByDefault: Bool = false, refetchWindowDays: Int = 366, maxChunkDays: Int = 366) {
        self.path = path
        self.costsIncludeVAT = vatIncludedByDefault
        self.refetchWindowDays = refetchWindowDays
        self.maxChunkDays = maxChunkDays
    }

    public func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SourceError("cannot read the manual-cost sheet \(path)")
        }
        do {
            let sheet = try ManualCostSheet(String(decoding: data, as: UTF8.self), defaultCurrency: account.currency,
                                            defaultVATIncluded: costsIncludeVAT)
            return sheet.rows.filter { days.first <= $0.day && $0.day <= days.last }
        } catch let error as CSVError {
            throw SourceError("\(path) \(error)")
        }
    }
}
