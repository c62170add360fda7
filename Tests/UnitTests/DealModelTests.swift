import AmoCRM
import Bitrix24
import DealSync
import Domain
import Foundation
import Testing

@Suite struct DealModelTests {
    @Test func phonesAndEmailsAreNormalisedAsDefinitionSevenSays() {
        #expect(ContactNormalization.phone("8 (999) 123-45-67") == "+79991234567")
        #expect(ContactNormalization.phone("+7 999 123 45 67") == "+79991234567")
        #expect(ContactNormalization.phone("9991234567") == "+79991234567")
        #expect(ContactNormalization.phone("123-45-67") == nil)
        #expect(ContactNormalization.phone("+44 20 7946 0958") == "+442079460958")
        #expect(ContactNormalization.email("  Ivan@Example.ORG ") == "ivan@example.org")
        #expect(ContactNormalization.email("нет") == nil)
    }

    @Test func theStageMappingHasSaneDefaultsAndOverridesPerPipeline() throws {
        let mapping = try StageMapping(options: ["status.3001.41003": "won", "status.42002": "excluded", "margin.course": "70",
                                                 "margin_pipeline.3001": "40", "poll_seconds": "60"])
        #expect(mapping.status(pipeline: "3001", stage: "142", kind: .won) == .won)
        #expect(mapping.status(pipeline: "3001", stage: "143", kind: .lost) == .lost)
        #expect(mapping.status(pipeline: "3001", stage: "41000", kind: .unsorted) == .excluded)
        #expect(mapping.status(pipeline: "3001", stage: "41003", kind: .regular) == .won)
        #expect(mapping.status(pipeline: "3002", stage: "41003", kind: .regular) == .open)  // only in pipeline 3001
        #expect(mapping.status(pipeline: "3002", stage: "42002", kind: .regular) == .excluded)
        #expect(mapping.status(pipeline: "3002", stage: "99999", kind: nil) == .unknown)
        #expect(mapping.costOfGoods(amount: 1000, costField: nil, products: ["course"], pipeline: "3001") == 300)
        #expect(mapping.costOfGoods(amount: 1000, costField: nil, products: [], pipeline: "3001") == 600)
        #expect(mapping.costOfGoods(amount: 1000, costField: 123.45, products: ["course"], pipeline: "3001") == Decimal(string: "123.45"))
        #expect(mapping.costOfGoods(amount: 1000, costField: nil, products: [], pipeline: "3002") == nil)
        #expect(throws: MappingError.self) { try StageMapping(options: ["status.142": "paid"]) }
        #expect(throws: MappingError.self) { try StageMapping(options: ["margin.x": "140"]) }
    }

    @Test func amoCRMWebhooksAreReadWithTheirOldFieldNames() {
        let body = "leads%5Bstatus%5D%5B0%5D%5Bid%5D=19001&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=142&leads%5Bstatus%5D%5B0%5D%5Bcustom_fields%5D%5B0%5D%5Bid%5D=700120"
            + "&leads%5Bdelete%5D%5B0%5D%5Bid%5D=19002&leads[update][1][id]=19001&account%5Bsubdomain%5D=example&account%5Bid%5D=29000001"
        let hook = AmoWebhook.parse(body)
        #expect(hook?.accountID == "29000001")
        #expect(hook?.subdomain == "example")
        #expect(hook?.leads == [AmoWebhook.Lead(id: "19002", action: "delete"), AmoWebhook.Lead(id: "19001", action: "update")])
        #expect(AmoWebhook.parse("hello=world") == nil)
    }

    @Test func bitrix24EventsCarryTheDealAndTheApplicationToken() {
        let event = Bitrix24Event.parse("event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=4101&ts=1&auth%5Bapplication_token%5D=abc&auth%5Bdomain%5D=x.bitrix24.ru")
        #expect(event == Bitrix24Event(event: "ONCRMDEALUPDATE", dealID: "4101", applicationToken: "abc", domain: "x.bitrix24.ru"))
        #expect(Bitrix24Event.parse("event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=abc") == nil)
    }

    @Test func aPaymentSheetReadsRefundsDecimalCommasAndStableIDs() throws {
        let text = "сделка;дата;сумма;валюта;тип\n19001;01.03.2026;12 500,50;;\n19001;2026-03-05;-2500;;\n19002;2026-03-10T12:00:00+03:00;100;usd;ожидается\n19001;01.03.2026;12 500,50;;\n"
        let sheet = try PaymentSheet(text, currency: "RUB", timeZone: TimeZone(identifier: "Europe/Moscow")!)
        #expect(sheet.payments.map(\.amount) == [Decimal(string: "12500.5")!, -2500, 100, Decimal(string: "12500.5")!])
        #expect(sheet.payments.map(\.kind) == [.received, .received, .expected, .received])
        #expect(sheet.payments[0].paidAt == Timestamp.parse("2026-02-28T21:00:00Z"))  // the day's start in Moscow
        #expect(sheet.payments[2].currency == "USD" && sheet.payments[2].paidAt == nil)
        #expect(Set(sheet.payments.map(\.id)).count == 4)  // the repeated line is a second payment
        #expect(try PaymentSheet(text, currency: "RUB", timeZone: .gmt).payments.map(\.id) ==
                (try PaymentSheet(text, currency: "RUB", timeZone: .gmt)).payments.map(\.id))
        #expect(throws: CSVError(line: 2, "amount: '12,5.x' is not an amount")) {
            try PaymentSheet("deal,date,amount\n1,2026-03-01,\"12,5.x\"\n", currency: "RUB", timeZone: .gmt)
        }
        #expect(throws: CSVError(line: 1, "the header needs a deal column")) { try PaymentSheet("date,amount\n", currency: "RUB", timeZone: .gmt) }
    }
}

@Suite struct JSONValueTests {
    @Test func theParserKeepsNumbersExactAndReadsEscapes() throws {
        let value = try JSONValue.parse(Array(#" {"a": [1, -2.50, 1e3, 12345678901234567890.123], "s": "Иван \"И\" \u0041\ud83d\ude00\n", "t": true, "n": null, "o": {}} "#.utf8))
        #expect(value["a"]?.array?.compactMap(\.text) == ["1", "-2.50", "1e3", "12345678901234567890.123"])
        #expect(value["s"]?.text == "Иван \"И\" A😀\n")
        #expect(value["t"] == .bool(true))
        #expect(value["n"] == .null)
        #expect(value["o"] == .object([:]))
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#"{"a": }"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#"{"a": "x"} trailing"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#"["unterminated]"#.utf8)) }
    }

    /// Objects are read into dictionaries built at their final size: every field is there, nested
    /// objects too, a repeated key keeps its last value (as before), and the result equals what
    /// Foundation's decoder makes of the same text.
    @Test func objectsKeepEveryFieldAndARepeatedKeyItsLastValue() throws {
        let text = #"{"a": 1, "b": {"c": [true, null, {"d": "x"}], "e": {}}, "f": "y", "a": 2, "g": [], "h": "\u0416"}"#
        let value = try JSONValue.parse(Array(text.utf8))
        guard case .object(let fields) = value else { Issue.record("not an object"); return }
        #expect(fields.keys.sorted() == ["a", "b", "f", "g", "h"])
        #expect(fields["a"] == .number("2"))
        #expect(fields["h"] == .string("Ж"))
        #expect(fields["b"]?["c"]?.array?.count == 3)
        #expect(fields["b"]?["c"]?.array?[2]["d"]?.text == "x")
        #expect(fields["b"]?["e"] == .object([:]))
        let wide = (0..<40).map { #""k\#($0)": \#($0)"# }.joined(separator: ",")
        let many = try JSONValue.parse(Array("{\(wide)}".utf8))
        #expect(many == (try JSONDecoder().decode(JSONValue.self, from: Data("{\(wide)}".utf8))))
        #expect(many["k39"] == .number("39"))
        #expect(try JSONValue.parse(Array("{}".utf8)) == .object([:]))
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#"{"a": 1,}"#.utf8)) }
    }

    /// Numbers follow RFC 8259's grammar, control characters in strings must be escaped, and
    /// strings must be UTF-8: nothing is repaired (U+FFFD) or read loosely, so what is stored is
    /// what was sent. The reason names what is wrong.
    @Test func theParserRefusesWhatJSONDoesNotAllow() throws {
        for good in ["0", "-0", "10", "-1.5", "0.25e-3", "1E+9", "12345678901234567890"] {
            #expect(try JSONValue.parse(Array(good.utf8)) == .number(good), "\(good)")
        }
        func reason(_ bytes: [UInt8]) -> String {
            do { _ = try JSONValue.parse(bytes); return "parsed" } catch let error as JSONParseError { return error.reason } catch { return "\(error)" }
        }
        #expect(reason(Array("01".utf8)) == "a number may not start with 0")
        #expect(reason(Array("-".utf8)) == "expected a digit after '-'")
        #expect(reason(Array("1.".utf8)) == "expected a digit after '.'")
        #expect(reason(Array("1e".utf8)) == "expected a digit in the exponent")
        #expect(reason(Array("+1".utf8)) == "expected a value")
        #expect(reason(Array(".5".utf8)) == "expected a value")
        #expect(reason(Array("[1-2]".utf8)) == "expected ',' or ']'")
        #expect(reason(Array("1e5e5".utf8)) == "text after the value")
        #expect(reason(Array("\"a\u{01}b\"".utf8)) == "a control character in a string must be escaped")
        #expect(reason(Array("\"a\\n\tb\"".utf8)) == "a control character in a string must be escaped")  // after an escape too
        #expect(reason([0x22, 0x61, 0xFF, 0x22]) == "the string starting here is not valid UTF-8")
        #expect(reason([0x22, 0x5C, 0x6E, 0xC3, 0x22]) == "the string starting here is not valid UTF-8")  // a cut two-byte sequence, after an escape
        #expect(reason([0x22, 0xED, 0xA0, 0x80, 0x22]) == "the string starting here is not valid UTF-8")  // an encoded surrogate
        #expect(try JSONValue.parse(Array("\"a\\u0000b\"".utf8)) == .string("a\u{0}b"))  // escaped, a NUL is JSON (the tracker refuses it per field)
        #expect(try JSONValue.parse(Array("\"\\t Ж\"".utf8)) == .string("\t Ж"))
    }
}
