import Attribution
import Testing

@Suite struct ExactAmountTests {
    @Test func numericTextRoundTripsAndBadTextIsRefused() {
        for text in ["0", "1", "-1", "12345.67", "-0.0001", "999999999999.9999999999", "0.0000000001", "100.5"] {
            #expect(ExactAmount(text)?.description == text, "\(text)")
        }
        #expect(ExactAmount("+3.50")?.description == "3.5")
        #expect(ExactAmount("007.000")?.description == "7")
        for bad in ["", "-", ".", "1.2.3", "1e5", "12,5", " 1", "0.00000000001", "1000000000000", "-1000000000000", "20000000000000",
                    "9999999999999999.9999", "99999999999999999999999999"] {
            #expect(ExactAmount(bad) == nil, "\(bad)")
        }
    }

    @Test func creditedSharesOfAnAmountSumToItExactly() {
        // Linear, position-based and time-decay shares of a refund-reduced revenue: exact sums.
        let revenue = ExactAmount("100000.01")! - ExactAmount("0.02")!
        let day: Int64 = 86_400_000_000
        for count in [1, 3, 7] {
            let touches = (0..<count).map { Touch(start: Int64($0) * day, isDirect: false, isPaid: false) }
            for model in [AttributionModel.linear, .positionBased, .timeDecay] {
                let shares = Credit.weights(touches, leadAt: Int64(count) * day, model: model).map { revenue.credited($0) }
                #expect(shares.reduce(.zero, +) == revenue, "\(model), \(count) touches")
            }
        }
        #expect(ExactAmount("10")!.credited(Credit.unit / 3).description == "3.33333333333333")
        #expect(ExactAmount("-10")!.credited(Credit.unit / 2).description == "-5")
        // The largest amount times a whole weight, summed 17 times, stays exact.
        let big = ExactAmount("999999999999.9999999999")!.credited(Credit.unit)
        #expect((0..<17).reduce(ExactAmount.zero) { sum, _ in sum + big }.description == "16999999999999.9999999983")
    }
}
