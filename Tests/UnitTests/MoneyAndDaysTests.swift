import Domain
import Foundation
import Testing

@Suite struct MicrosTests {
    @Test func decimalTextConvertsExactly() {
        #expect(Micros(decimal: "412.30")?.value == 412_300_000)
        #expect(Micros(decimal: "0.000001")?.value == 1)
        #expect(Micros(decimal: "-5")?.value == -5_000_000)
        #expect(Micros(decimal: "45000.00")?.value == 45_000_000_000)
        #expect(Micros(decimal: "1 234,50", allowComma: true)?.value == 1_234_500_000)
        #expect(Micros(decimal: "1\u{00A0}234,5", allowComma: true)?.value == 1_234_500_000)
        #expect(Micros(decimal: "412,30") == nil)  // decimal comma only where allowed
        for bad in ["", "-", "1.", ".5.", "1.0000001", "abc", "1e5", "12 3", "99999999999999999999"] {
            #expect(Micros(decimal: bad) == nil, "\(bad)")
        }
        #expect(Micros(decimal: ".5")?.value == 500_000)
        #expect(Micros(412_300_000).description == "412.300000")
        #expect(Micros(-1).description == "-0.000001")
        #expect(Micros(412_300_000).decimal == Decimal(string: "412.3")!)
        #expect(Micros(412_305_000).text(places: 2) == "412.30")
        #expect(Micros(-5_000_000).text(places: 0) == "-5")
        #expect(FNV1a.hex("") == "cbf29ce484222325")
    }

    @Test func monthlySpreadAddsUpToTheKopeck() {
        // 1000.00 over 31 days: 32.25 × 31 = 999.75, the 25 remaining kopecks go to the first 25 days.
        let parts = Micros(decimal: "1000.00")!.spread(over: 31)
        #expect(parts.reduce(.zero, +) == Micros(decimal: "1000.00")!)
        #expect(parts.prefix(25).allSatisfy { $0 == Micros(decimal: "32.26")! })
        #expect(parts.suffix(6).allSatisfy { $0 == Micros(decimal: "32.25")! })
        #expect(Micros(decimal: "-0.05")!.spread(over: 3) == [Micros(decimal: "-0.02")!, Micros(decimal: "-0.02")!, Micros(decimal: "-0.01")!])
        #expect(Micros(decimal: "100")!.spread(over: 3, minorDigits: 0) == [Micros(decimal: "34")!, Micros(decimal: "33")!, Micros(decimal: "33")!])
    }
}

@Suite struct LocalDayTests {
    @Test func isoDaysAndMonths() {
        let day = LocalDay(iso: "2026-02-28")!
        #expect(day.description == "2026-02-28")
        #expect(day.advanced(by: 1).description == "2026-03-01")
        #expect(LocalDay(iso: "2024-02-29") != nil)
        #expect(LocalDay(iso: "2026-02-29") == nil)
        #expect(LocalDay(iso: "2026-2-1") == nil)
        #expect(day.daysOfMonth.count == 28)
        #expect(LocalDay(iso: "2026-01-15")!.daysOfMonth.first?.description == "2026-01-01")
    }

    @Test func instantsLandOnTheirTimeZonesDay() {
        let instant = Timestamp.parse("2026-03-01T22:30:00Z")!
        #expect(LocalDay(instant, in: TimeZone(identifier: "Europe/Moscow")!).description == "2026-03-02")
        #expect(LocalDay(instant, in: TimeZone(identifier: "UTC")!).description == "2026-03-01")
        #expect(LocalDay(instant, in: TimeZone(identifier: "America/Los_Angeles")!).description == "2026-03-01")
        let moscowMidnight = LocalDay(iso: "2026-03-02")!.start(in: TimeZone(identifier: "Europe/Moscow")!)
        #expect(Timestamp.format(moscowMidnight) == "2026-03-01T21:00:00.000000Z")
        // A DST day in New York starts at 05:00Z (EST, before the switch at 2am local).
        let nyc = LocalDay(iso: "2026-03-08")!.start(in: TimeZone(identifier: "America/New_York")!)
        #expect(Timestamp.format(nyc) == "2026-03-08T05:00:00.000000Z")
        #expect(LocalDay(Timestamp.parse("1969-12-31T23:59:59Z")!, in: TimeZone(identifier: "UTC")!).description == "1969-12-31")
    }

    @Test func rangesSplitIntoChunksAnAPIAccepts() {
        let range = DayRange(LocalDay(iso: "2026-01-01")!, LocalDay(iso: "2026-04-30")!)!
        #expect(range.count == 120)
        let chunks = range.chunks(ofAtMost: 92)
        #expect(chunks.map(\.description) == ["2026-01-01..2026-04-02", "2026-04-03..2026-04-30"])
        #expect(chunks.map(\.count).reduce(0, +) == 120)
        #expect(DayRange(LocalDay(iso: "2026-01-02")!, LocalDay(iso: "2026-01-01")!) == nil)
    }
}

@Suite struct VATAndRatesTests {
    @Test func vatFollowsTheDayOfTheAmount() throws {
        let vat = VATSchedule.russia
        #expect(try vat.rate(on: LocalDay(iso: "2025-12-31")!) == Decimal(string: "0.20")!)
        #expect(try vat.rate(on: LocalDay(iso: "2026-01-01")!) == Decimal(string: "0.22")!)
        #expect(try vat.excludingVAT(Decimal(122), on: LocalDay(iso: "2026-06-01")!) == 100)
        #expect(try vat.excludingVAT(Decimal(120), on: LocalDay(iso: "2025-06-01")!) == 100)
        #expect(throws: DomainError.self) { try vat.rate(on: LocalDay(iso: "2010-01-01")!) }
    }

    @Test func missingRateIsAnErrorNamingDateAndCurrencyNeverZero() throws {
        var rates = ExchangeRates(target: "RUB")
        rates.add("USD", on: LocalDay(iso: "2026-03-06")!, rate: Decimal(string: "88.1234")!)
        #expect(try rates.rate("RUB", on: LocalDay(iso: "2026-03-08")!) == 1)
        // Saturday and Sunday use Friday's rate.
        #expect(try rates.convert(10, from: "USD", on: LocalDay(iso: "2026-03-08")!) == Decimal(string: "881.234")!)
        do {
            _ = try rates.rate("USD", on: LocalDay(iso: "2026-03-05")!)
            Issue.record("a rate before the first one was found")
        } catch let error as DomainError {
            #expect(error.description.contains("USD"))
            #expect(error.description.contains("2026-03-05"))
        }
        #expect(throws: DomainError.self) { try rates.rate("USD", on: LocalDay(iso: "2026-03-20")!) }
        #expect(throws: DomainError.self) { try rates.rate("EUR", on: LocalDay(iso: "2026-03-06")!) }
    }
}
