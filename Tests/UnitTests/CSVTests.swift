import Collection
import Domain
import Foundation
import Testing

@Suite struct CSVTests {
    @Test func spreadsheetExportsOfEveryKindAreRead() throws {
        let semicolon = try DelimitedText("\u{FEFF}Date;Channel;Amount\r\n2026-03-01;\"SEO; agency \"\"Top\"\"\";1 234,50\r\n\r\n")
        #expect(semicolon.separator == ";")
        #expect(semicolon.header == ["date", "channel", "amount"])
        #expect(semicolon.rows == [.init(line: 2, fields: ["2026-03-01", "SEO; agency \"Top\"", "1 234,50"])])
        let comma = try DelimitedText("date,note\n2026-03-01,\"two\nlines\"\n2026-03-02,x")
        #expect(comma.rows.map(\.line) == [2, 4])
        #expect(comma.rows[0].fields[1] == "two\nlines")
        #expect(throws: CSVError.self) { try DelimitedText("a,b\n\"open,1") }
        #expect(throws: CSVError.self) { try DelimitedText("") }
    }

    @Test func crlfExportsGuessTheSeparatorFromTheHeaderAndCountLinesInsideQuotes() throws {
        // Swift reads CR LF as one Character: the header must still end at the first line break,
        // so the data lines' commas cannot outvote the header's semicolons...
        let sheet = try DelimitedText("date;amount\r\n2026-03-01;\"1,5,7,9\"\r\n2026-03-02;\"2,4,6,8\"\r\n")
        #expect(sheet.separator == ";")
        #expect(sheet.header == ["date", "amount"])
        #expect(sheet.rows.map(\.fields) == [["2026-03-01", "1,5,7,9"], ["2026-03-02", "2,4,6,8"]])
        // ...and a quoted field's CR LF is a line, so the next row names its own line.
        let quoted = try DelimitedText("date,note\r\n2026-03-01,\"two\r\nlines\"\r\n2026-03-02,x\r\n")
        #expect(quoted.rows.map(\.line) == [2, 4])
    }

    @Test func exchangeRatesParseAllOrNothingWithTheLineNamed() throws {
        let rates = try ExchangeRateStore.parse("date;currency;rate\n2026-03-06;usd;88,1234\n2026-03-06;EUR;95.5\n", target: "RUB")
        #expect(rates == [
            .init(currency: "USD", day: LocalDay(iso: "2026-03-06")!, rate: Decimal(string: "88.1234")!),
            .init(currency: "EUR", day: LocalDay(iso: "2026-03-06")!, rate: Decimal(string: "95.5")!),
        ])
        func failure(_ text: String) -> String {
            do { _ = try ExchangeRateStore.parse(text, target: "RUB"); return "" } catch { return "\(error)" }
        }
        #expect(failure("date,currency,rate\n2026-03-06,USD,88\n06.03.2026,USD,88").contains("line 3: date"))
        #expect(failure("date,currency,rate\n2026-03-06,US,88").contains("line 2: currency"))
        #expect(failure("date,currency,rate\n2026-03-06,USD,0").contains("line 2: rate"))
        #expect(failure("date,currency,rate\n2026-03-06,USD,-1").contains("line 2: rate"))
        #expect(failure("date,currency,rate\n2026-03-06,RUB,1").contains("target currency"))
        #expect(failure("day,code\n").contains("header"))
    }
}
