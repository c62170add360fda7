import Domain

/// Reads the TSV body of a Yandex Direct report (Reports service, `Format: TSV`).
///
/// Accepts every layout the service produces: with or without the title line (quoted or not),
/// with or without the column-names line, with or without the `Total rows: N` summary (which,
/// when present, must match the rows read — a truncated body is an error). `--` means empty.
/// Money is in micros by default, or decimals with `returnMoneyInMicros: false`.
///
/// Works on bytes, row by row, handing each row to a callback: a million-row report is never
/// held as strings.
public struct DirectReportParser: Sendable {
    /// The `FieldNames` of the request, in order.
    public let fieldNames: [String]
    /// False when the request sent `returnMoneyInMicros: false`.
    public let moneyInMicros: Bool

    public init(fieldNames: [String] = DirectReportRow.fieldNames, moneyInMicros: Bool = true) {
        self.fieldNames = fieldNames
        self.moneyInMicros = moneyInMicros
    }

    /// What a parse saw besides the rows.
    public struct Summary: Sendable, Equatable {
        public var rows: Int
        public var hadTitle: Bool
        public var hadColumnHeader: Bool
        /// The `Total rows: N` figure, when the body had one.
        public var declaredRows: Int?

        public init(rows: Int, hadTitle: Bool, hadColumnHeader: Bool, declaredRows: Int?) {
            self.rows = rows
            self.hadTitle = hadTitle
            self.hadColumnHeader = hadColumnHeader
            self.declaredRows = declaredRows
        }
    }

    /// Parses `body`, calling `onRow` for each data row in order.
    /// - Throws: `DirectReportError` naming the line (1-based), field and value that is wrong;
    ///   or what `onRow` throws.
    @discardableResult
    public func parse(_ body: [UInt8], onRow: (DirectReportRow) throws -> Void) throws -> Summary {
        let columns = try ColumnMap(fieldNames)
        var summary = Summary(rows: 0, hadTitle: false, hadColumnHeader: false, declaredRows: nil)
        let headerLine = Array(fieldNames.joined(separator: "\t").utf8)
        var lineNumber = 0
        var start = 0
        var fields: [Range<Int>] = []
        fields.reserveCapacity(fieldNames.count)
        while start < body.count {
            var end = start
            while end < body.count, body[end] != 10 { end += 1 }
            lineNumber += 1
            var lineEnd = end
            if lineEnd > start, body[lineEnd - 1] == 13 { lineEnd -= 1 }  // tolerate CRLF
            defer { start = end + 1 }
            let line = start..<lineEnd
            if line.isEmpty { continue }
            if summary.declaredRows != nil {
                throw DirectReportError(line: lineNumber, "text after the 'Total rows' line")
            }
            if let declared = Self.totalRows(body, line) {
                guard declared == summary.rows else {
                    throw DirectReportError(line: lineNumber, "the report declares \(declared) rows but \(summary.rows) were read (truncated body?)")
                }
                summary.declaredRows = declared
                continue
            }
            if summary.rows == 0 && !summary.hadColumnHeader {
                if body[line].elementsEqual(headerLine) {
                    summary.hadColumnHeader = true
                    continue
                }
                if lineNumber == 1 && !summary.hadTitle && Self.looksLikeTitle(body, line, expectedFields: fieldNames.count) {
                    summary.hadTitle = true
                    continue
                }
            }
            fields.removeAll(keepingCapacity: true)
            var fieldStart = line.lowerBound
            for index in line where body[index] == 9 {
                fields.append(fieldStart..<index)
                fieldStart = index + 1
            }
            fields.append(fieldStart..<line.upperBound)
            guard fields.count == fieldNames.count else {
                throw DirectReportError(line: lineNumber, "expected \(fieldNames.count) tab-separated fields, found \(fields.count)")
            }
            try onRow(try columns.row(body, fields, line: lineNumber, moneyInMicros: moneyInMicros))
            summary.rows += 1
        }
        return summary
    }

    /// `Total rows: N` → N.
    static func totalRows(_ body: [UInt8], _ line: Range<Int>) -> Int? {
        let prefix = Array("Total rows: ".utf8)
        guard line.count > prefix.count, body[line.lowerBound..<(line.lowerBound + prefix.count)].elementsEqual(prefix) else {
            return nil
        }
        var value = 0
        for index in (line.lowerBound + prefix.count)..<line.upperBound {
            guard body[index] >= 48, body[index] <= 57 else { return nil }
            value = value * 10 + Int(body[index] - 48)
        }
        return value
    }

    /// The title line: `"<name> (<from> - <to>)"`, quoted or not, and never with the field count
    /// of a data row.
    static func looksLikeTitle(_ body: [UInt8], _ line: Range<Int>, expectedFields: Int) -> Bool {
        if body[line.lowerBound] == UInt8(ascii: "\"") { return true }
        let tabs = body[line].reduce(0) { $0 + ($1 == 9 ? 1 : 0) }
        return tabs + 1 != expectedFields && body[line.upperBound - 1] == UInt8(ascii: ")")
    }
}

/// Where each known field sits in a row.
struct ColumnMap {
    let names: [String]
    let date: Int, campaignID: Int, campaignName: Int, cost: Int
    let adGroupID: Int?, adGroupName: Int?, adID: Int?, criterionID: Int?, criterion: Int?
    let impressions: Int?, clicks: Int?, conversions: Int?

    init(_ names: [String]) throws {
        self.names = names
        func required(_ name: String) throws -> Int {
            guard let index = names.firstIndex(of: name) else {
                throw DirectReportError(line: 0, "the request must include the field \(name)")
            }
            return index
        }
        date = try required("Date")
        campaignID = try required("CampaignId")
        campaignName = try required("CampaignName")
        cost = try required("Cost")
        adGroupID = names.firstIndex(of: "AdGroupId")
        adGroupName = names.firstIndex(of: "AdGroupName")
        adID = names.firstIndex(of: "AdId")
        criterionID = names.firstIndex(of: "CriterionId")
        criterion = names.firstIndex(of: "Criterion")
        impressions = names.firstIndex(of: "Impressions")
        clicks = names.firstIndex(of: "Clicks")
        conversions = names.firstIndex(of: "Conversions")
    }

    func row(_ body: [UInt8], _ fields: [Range<Int>], line: Int, moneyInMicros: Bool) throws -> DirectReportRow {
        func isEmpty(_ range: Range<Int>) -> Bool {
            range.isEmpty || (range.count == 2 && body[range.lowerBound] == 45 && body[range.lowerBound + 1] == 45)
        }
        func text(_ index: Int) -> String { String(decoding: body[fields[index]], as: UTF8.self) }
        /// A name as sent: UTF-8, or the line is refused (a broken byte means a broken report).
        func name(_ index: Int) throws -> String {
            guard let value = String(validating: body[fields[index]], as: UTF8.self) else {
                throw DirectReportError(line: line, "\(names[index]): not valid UTF-8")
            }
            return value
        }
        func optionalName(_ index: Int?) throws -> String? {
            guard let index, !isEmpty(fields[index]) else { return nil }
            return try name(index)
        }
        func integer(_ index: Int?) throws -> Int64? {
            guard let index, !isEmpty(fields[index]) else { return nil }
            var value: Int64 = 0
            var negative = false
            for (offset, position) in fields[index].enumerated() {
                let byte = body[position]
                if offset == 0 && byte == 45 { negative = true; continue }
                guard byte >= 48, byte <= 57 else {
                    throw DirectReportError(line: line, "\(names[index]): '\(text(index).prefix(40))' is not an integer")
                }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(byte - 48))
                guard !o1, !o2 else { throw DirectReportError(line: line, "\(names[index]): '\(text(index).prefix(40))' is too large") }
                value = a
            }
            return negative ? -value : value
        }
        guard let day = LocalDay(iso: String(decoding: body[fields[date]], as: UTF8.self)) else {
            throw DirectReportError(line: line, "Date: '\(text(date).prefix(40))' is not a date YYYY-MM-DD")
        }
        guard let campaign = try integer(campaignID) else {
            throw DirectReportError(line: line, "CampaignId: empty")
        }
        let costValue: Micros
        if isEmpty(fields[cost]) {
            costValue = .zero
        } else if moneyInMicros {
            costValue = Micros(try integer(cost)!)
        } else {
            guard let parsed = Micros(decimal: text(cost)) else {
                throw DirectReportError(line: line, "Cost: '\(text(cost).prefix(40))' is not an amount")
            }
            costValue = parsed
        }
        let impressionsValue = try integer(impressions) ?? 0
        let clicksValue = try integer(clicks) ?? 0
        guard impressionsValue >= 0, clicksValue >= 0 else {
            throw DirectReportError(line: line, "Impressions and Clicks cannot be negative")
        }
        return DirectReportRow(
            day: day, campaignID: campaign, campaignName: try name(campaignName), adGroupID: try integer(adGroupID),
            adGroupName: try optionalName(adGroupName), adID: try integer(adID), criterionID: try integer(criterionID),
            criterion: try optionalName(criterion), impressions: impressionsValue, clicks: clicksValue, cost: costValue,
            conversions: try integer(conversions))
    }
}

/// A report body that cannot be read; names the line (1-based; 0 for the request) and field.
public struct DirectReportError: Error, CustomStringConvertible, Sendable, Equatable {
    public let line: Int
    public let message: String
    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}
