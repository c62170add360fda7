import Collection
import Collectors
import Domain
import Foundation
import Postgres
import Settings
import Testing

@Suite struct ManualCostsCollectorTests {
    @Test func aSheetLandsExactlyWithVATRemovedAndCurrencyConvertedPerLine() async throws {
        let url = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        try await ExchangeRateStore.store([.init(currency: "USD", day: LocalDay(iso: "2026-03-01")!, rate: 90)],
                                          target: "RUB", origin: "test", pool: pool)
        let file = "/tmp/\(TestStack.unique("manual")).csv"
        try """
            month;source;campaign;amount;currency;vat
            2026-03;seo;Agency Top;1 000,00;RUB;yes
            ;;;;;
            """.write(toFile: file, atomically: true, encoding: .utf8)
        try "date;source;amount;currency\n2026-03-05;offline;100;USD\n".write(toFile: file + ".usd", atomically: true, encoding: .utf8)
        let settings = Settings(databaseURL: url, amqpURL: TestStack.amqpURL, projects: [
            Project(id: "school", name: "School", sources: [
                Source(id: "sheet", kind: "manual_costs", account: "manual", options: ["file": file]),
                Source(id: "sheet-usd", kind: "manual_costs", account: "manual", options: ["file": file + ".usd"]),
            ]),
        ])
        let options = try CollectorOptions.parse(["--from", "2026-03-01", "--to", "2026-03-31"])
        let reports = try await CollectorApp.manualCosts(logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })
        #expect(reports.allSatisfy { $0.succeeded }, "\(reports.flatMap { $0.failures })")
        let seo = try await pool.query("""
            SELECT count(*), sum(cost_micros), sum(spend), bool_and(vat_included), min(utm_campaign) FROM spend.facts WHERE utm_source = 'seo'
            """)[0]
        #expect(try seo.decode(Int.self, 0) == 31)
        #expect(try seo.decode(Int64.self, 1) == 1_000_000_000)
        // 1000.00 with 22 % VAT → 819.67213… without; kept at full precision (rounded per report cell).
        let spend = try seo.decode(Decimal.self, 2)
        #expect(abs(NSDecimalNumber(decimal: spend).doubleValue - 1000 / 1.22) < 0.000_01)
        #expect(try seo.decode(Bool.self, 3))
        #expect(try seo.decode(String.self, 4) == "Agency Top")
        let usd = try await pool.query("SELECT sum(spend), min(currency) FROM spend.facts WHERE utm_source = 'offline'")[0]
        #expect(try usd.decode(Decimal.self, 0) == 9000)
        #expect(try usd.decode(String.self, 1) == "USD")
        // Editing the sheet and running again replaces the range.
        try "month;source;amount\n2026-03;seo;31,00\n".write(toFile: file, atomically: true, encoding: .utf8)
        _ = try await CollectorApp.manualCosts(logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })
        #expect(try await pool.query("SELECT sum(cost_micros) FROM spend.facts WHERE utm_source = 'seo'")[0].decode(Int64.self, 0) == 31_000_000)
        await pool.close()
    }
}
