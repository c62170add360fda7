import Domain
import Testing
import YandexDirect

@Suite struct DirectReportParserTests {
    let header = DirectReportRow.fieldNames.joined(separator: "\t")
    let row1 = "2026-03-01\t7001\tBrand search\t5501\tShoes\t990001\t31337\tbuy red shoes\t1520\t37\t412300000\t3"
    let row2 = "2026-03-02\t7001\tBrand search\t--\t--\t--\t--\t--\t1398\t29\t318750000\t--"

    func parse(_ text: String, micros: Bool = true) throws -> ([DirectReportRow], DirectReportParser.Summary) {
        var rows: [DirectReportRow] = []
        let summary = try DirectReportParser(moneyInMicros: micros).parse(Array(text.utf8)) { rows.append($0) }
        return (rows, summary)
    }

    @Test func fullLayoutWithQuotedTitleHeaderAndSummary() throws {
        let body = "\"cost-a1b2 (2026-03-01 - 2026-03-02)\"\n\(header)\n\(row1)\n\(row2)\nTotal rows: 2\n"
        let (rows, summary) = try parse(body)
        #expect(summary == .init(rows: 2, hadTitle: true, hadColumnHeader: true, declaredRows: 2))
        #expect(rows[0] == DirectReportRow(
            day: LocalDay(iso: "2026-03-01")!, campaignID: 7001, campaignName: "Brand search", adGroupID: 5501,
            adGroupName: "Shoes", adID: 990001, criterionID: 31337, criterion: "buy red shoes", impressions: 1520,
            clicks: 37, cost: Micros(412_300_000), conversions: 3))
        #expect(rows[1].adGroupID == nil && rows[1].criterion == nil && rows[1].conversions == nil)
        #expect(rows[1].cost == Micros(decimal: "318.75")!)
    }

    @Test func everyOptionalPartMayBeMissing() throws {
        for body in [
            "cost-a1b2 (2026-03-01 - 2026-03-02)\n\(header)\n\(row1)\n\(row2)\nTotal rows: 2",  // unquoted title
            "\(header)\n\(row1)\n\(row2)\n",  // skipReportHeader + skipReportSummary
            "\(row1)\n\(row2)",  // everything skipped
            "\"t (2026-03-01 - 2026-03-02)\"\r\n\(header)\r\n\(row1)\r\n\(row2)\r\nTotal rows: 2\r\n",  // CRLF
        ] {
            let (rows, _) = try parse(body)
            #expect(rows.count == 2, "\(body)")
            #expect(rows.map(\.cost).reduce(.zero, +) == Micros(731_050_000))
        }
        let (none, summary) = try parse("\"empty (2026-03-01 - 2026-03-01)\"\n\(header)\nTotal rows: 0\n")
        #expect(none.isEmpty && summary.declaredRows == 0)
    }

    @Test func decimalMoneyWhenMicrosAreOff() throws {
        let body = "\(header)\n" + row1.replacingOccurrences(of: "412300000", with: "412.30")
        #expect(try parse(body, micros: false).0.first?.cost == Micros(412_300_000))
    }

    @Test func badInputNamesLineAndField() {
        func failure(_ body: String) -> String {
            do { _ = try parse(body); return "" } catch { return "\(error)" }
        }
        #expect(failure("\(header)\n\(row1)\n\(row2)\nTotal rows: 3").contains("declares 3 rows but 2"))
        #expect(failure("\(header)\n\(row1.replacingOccurrences(of: "1520", with: "15x0"))").contains("line 2: Impressions"))
        #expect(failure("\(header)\n\(row1.replacingOccurrences(of: "2026-03-01", with: "01.03.2026"))").contains("line 2: Date"))
        #expect(failure("\(header)\n2026-03-01\t7001\tonly three").contains("line 2: expected 12"))
        #expect(failure("\(header)\nTotal rows: 0\n\(row1)").contains("after the 'Total rows'"))
    }
}
