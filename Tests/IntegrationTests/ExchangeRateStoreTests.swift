import Collection
import Domain
import Foundation
import Postgres
import Testing

@Suite struct ExchangeRateStoreTests {
    @Test func ratesLoadedByTheCLIAreReadBackExactlyAndReloadReplaces() async throws {
        let url = try await TestStack.freshDatabase()
        let file = "/tmp/\(TestStack.unique("rates")).csv"
        try "date;currency;rate\n2026-03-06;USD;88,1234\n2026-03-06;EUR;95.5000000001\n".write(toFile: file, atomically: true, encoding: .utf8)
        let load = try ChildProcess("analytics", arguments: ["rates", "load", file, "--origin", "cbr"],
                                    environment: ["DATABASE_URL": url, "ANALYTICS_CONFIG": ""])
        #expect(await load.waitForExit(seconds: 60) == 0, "\(load.log)")
        #expect(load.log.contains("loaded 2 rates into RUB"))
        // A bad file changes nothing and names the line.
        try "date;currency;rate\n2026-03-06;USD;90\n2026-03-07;USD;abc\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try ChildProcess("analytics", arguments: ["rates", "load", file], environment: ["DATABASE_URL": url, "ANALYTICS_CONFIG": ""])
        #expect(await bad.waitForExit(seconds: 60) != 0)
        #expect(bad.log.contains("line 3: rate"), "\(bad.log)")
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        let rates = try await ExchangeRateStore.load(target: "RUB", from: LocalDay(iso: "2026-03-08")!, to: LocalDay(iso: "2026-03-08")!, pool: pool)
        #expect(try rates.rate("USD", on: LocalDay(iso: "2026-03-08")!) == Decimal(string: "88.1234")!)
        #expect(try rates.rate("EUR", on: LocalDay(iso: "2026-03-08")!) == Decimal(string: "95.5000000001")!)
        #expect(throws: DomainError.self) { try rates.rate("CNY", on: LocalDay(iso: "2026-03-08")!) }
        // Reloading a day replaces its rate.
        try await ExchangeRateStore.store([.init(currency: "USD", day: LocalDay(iso: "2026-03-06")!, rate: 89)], target: "RUB", origin: "cbr", pool: pool)
        let reloaded = try await ExchangeRateStore.load(target: "RUB", from: LocalDay(iso: "2026-03-06")!, to: LocalDay(iso: "2026-03-06")!, pool: pool)
        #expect(try reloaded.rate("USD", on: LocalDay(iso: "2026-03-06")!) == 89)
        await pool.close()
    }
}
