import Domain
import Foundation
import Testing

@Suite struct TimestampTests {
    @Test func mixedOffsetsMeanTheSameInstant() {
        let moscow = Timestamp.parse("2026-11-23T07:56:00.123456+03:00")
        let utc = Timestamp.parse("2026-11-23T04:56:00.123456Z")
        #expect(moscow != nil)
        #expect(moscow == utc)
        #expect(Timestamp.parse("2026-11-23 04:56:00.123456+00", requireOffset: false) == utc)
        #expect(Timestamp.parse("2026-11-23T04:56:00+0000") == Timestamp.parse("2026-11-23T04:56:00Z"))
    }

    @Test func microsecondsSurviveARoundTrip() {
        let text = "2026-01-31T23:59:59.000001Z"
        #expect(Timestamp.format(Timestamp.parse(text)!) == text)
        let a = Timestamp.parse("2026-11-23T04:56:00.000001Z")!
        let b = Timestamp.parse("2026-11-23T04:56:00.000002Z")!
        #expect(a < b)
    }

    @Test func invalidTextIsRefused() {
        for bad in ["yesterday", "2026-11-23T04:56:00", "2026-02-30T00:00:00Z", "2026-11-23T25:00:00Z",
                    "2026-11-23T04:56:00+3:00", "2026-11-23T04:56:00.Z", "2026-11-23T04:56:00Zjunk"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func civilDaysRoundTrip() {
        for day in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let (y, m, d) = Timestamp.civil(fromDays: day)
            #expect(Timestamp.daysFromCivil(y, m, d) == day)
        }
    }
}
