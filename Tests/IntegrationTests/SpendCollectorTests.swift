import Collection
import Domain
import Foundation
import Postgres
import Synchronization
import Testing

/// The collection framework with a scripted source (the HTTP fakes of each network are tested
/// with their collectors).
@Suite struct SpendCollectorTests {
    final class ScriptedSource: SpendSource, Sendable {
        let kind = "scripted"
        let refetchWindowDays = 7
        let maxChunkDays: Int
        let costsIncludeVAT: Bool
        let rows: Mutex<[String: [SpendRow]]>
        let failing: Mutex<Set<LocalDay>>
        let calls = Mutex<[DayRange]>([])

        init(maxChunkDays: Int, costsIncludeVAT: Bool, rows: [String: [SpendRow]], failing: Set<LocalDay> = []) {
            self.maxChunkDays = maxChunkDays
            self.costsIncludeVAT = costsIncludeVAT
            self.rows = Mutex(rows)
            self.failing = Mutex(failing)
        }

        func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] {
            calls.withLock { $0.append(days) }
            if failing.withLock({ $0.contains(days.first) }) {
                throw SourceError("line 3: Cost: 'abc' is not an amount")
            }
            return rows.withLock { $0[account.account, default: []] }.filter { days.first <= $0.day && $0.day <= days.last }
        }
    }

    static func day(_ text: String) -> LocalDay { LocalDay(iso: text)! }

    static func rows(days: ClosedRange<Int>, campaigns: Int, cost: String) -> [SpendRow] {
        days.flatMap { d in
            (1...campaigns).map { c in
                SpendRow(day: day(String(format: "2026-03-%02d", d)), campaignID: "\(c)", campaignName: "Campaign \(c)",
                         adID: "\(c)00", impressions: 100, clicks: 10, cost: Micros(decimal: cost)!)
            }
        }
    }

    func setUp() async throws -> PGPool {
        let url = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        try await ExchangeRateStore.store([.init(currency: "USD", day: Self.day("2026-02-27"), rate: Decimal(string: "90.5")!)],
                                          target: "RUB", origin: "test", pool: pool)
        return pool
    }

    let account = AdAccount(sourceID: "direct", account: "acc1", currency: "RUB", timeZone: TimeZone(identifier: "Europe/Moscow")!,
                            utmSource: "yandex")

    @Test func rerunsReplaceAndNeverDoubleCountVATIsRemoved() async throws {
        let pool = try await setUp()
        let source = ScriptedSource(maxChunkDays: 3, costsIncludeVAT: true,
                                    rows: ["acc1": Self.rows(days: 1...7, campaigns: 5, cost: "122.00")])
        let collector = SpendCollector(project: .init(id: "p", reportingCurrency: "RUB"), source: source, pool: pool, logger: TestStack.logger)
        let range = DayRange(Self.day("2026-03-01"), Self.day("2026-03-07"))!
        let first = try await collector.run(accounts: [account], range: range)
        #expect(first.succeeded && first.chunksDone == 3 && first.rowsWritten == 35)
        _ = try await collector.run(accounts: [account], range: range)
        func totals() async throws -> (Int, Int64, Decimal) {
            let row = try await pool.query("SELECT count(*), sum(cost_micros), sum(spend) FROM spend.facts")[0]
            return (try row.decode(Int.self, 0), try row.decode(Int64.self, 1), try row.decode(Decimal.self, 2))
        }
        // 35 rows of 122.00 with 22 % VAT (March 2026): 100.00 each without VAT.
        #expect(try await totals() == (35, 35 * 122_000_000, 3500))
        // Revised figures replace the stored ones.
        source.rows.withLock { $0["acc1"] = Self.rows(days: 1...7, campaigns: 4, cost: "61.00") }
        _ = try await collector.run(accounts: [account], range: range)
        #expect(try await totals() == (28, 28 * 61_000_000, 1400))
        let keys = try await pool.query("SELECT DISTINCT utm_source, utm_campaign, utm_content FROM spend.facts WHERE campaign_id = '1'")
        #expect(try keys[0].decode(String.self, 0) == "yandex")
        #expect(try keys[0].decode(String.self, 1) == "Campaign 1")
        #expect(try keys[0].decode(String.self, 2) == "100")
        let events = try await pool.query("SELECT count(*) FROM runtime.outbox WHERE type = 'spend.updated'")
        #expect(try events[0].decode(Int.self, 0) == 9)
        await pool.close()
    }

    @Test func currencyConversionUsesTheDatedRateAndAMissingRateFailsTheChunk() async throws {
        let pool = try await setUp()
        let usd = AdAccount(sourceID: "google", account: "usd1", currency: "USD", timeZone: TimeZone(identifier: "UTC")!, utmSource: "google")
        let source = ScriptedSource(maxChunkDays: 30, costsIncludeVAT: false,
                                    rows: ["usd1": Self.rows(days: 1...2, campaigns: 1, cost: "10.00")])
        let collector = SpendCollector(project: .init(id: "p", reportingCurrency: "RUB"), source: source, pool: pool, logger: TestStack.logger)
        let report = try await collector.run(accounts: [usd], range: DayRange(Self.day("2026-03-01"), Self.day("2026-03-02"))!)
        #expect(report.succeeded)
        let spend = try await pool.query("SELECT sum(spend) FROM spend.facts")[0].decode(Decimal.self, 0)
        #expect(spend == Decimal(string: "1810")!)  // 2 × 10.00 USD × 90.5 (Friday's rate, still fresh)
        // Three weeks later there is no rate: the chunk fails naming currency and date; nothing is written.
        source.rows.withLock { $0["usd1"] = [SpendRow(day: Self.day("2026-03-25"), campaignID: "1", campaignName: "C", impressions: 1, clicks: 1, cost: Micros(1_000_000))] }
        let failed = try await collector.run(accounts: [usd], range: DayRange(Self.day("2026-03-25"), Self.day("2026-03-25"))!)
        #expect(!failed.succeeded)
        #expect(failed.failures.first?.contains("USD") == true)
        #expect(failed.failures.first?.contains("2026-03-25") == true)
        #expect(try await pool.query("SELECT count(*) FROM spend.facts WHERE day = '2026-03-25'")[0].decode(Int.self, 0) == 0)
        await pool.close()
    }

    @Test func aFailedChunkIsIsolatedAndTheNextRunResumesWithoutRefetchingDoneChunks() async throws {
        let pool = try await setUp()
        let source = ScriptedSource(maxChunkDays: 2, costsIncludeVAT: false,
                                    rows: ["acc1": Self.rows(days: 1...6, campaigns: 2, cost: "5.00")],
                                    failing: [Self.day("2026-03-03")])
        let collector = SpendCollector(project: .init(id: "p", reportingCurrency: "RUB"), source: source, pool: pool, logger: TestStack.logger)
        let range = DayRange(Self.day("2026-03-01"), Self.day("2026-03-06"))!
        let first = try await collector.run(accounts: [account], range: range)
        #expect(!first.succeeded && first.chunksDone == 2)
        #expect(first.failures == ["scripted account acc1 2026-03-03..2026-03-04: line 3: Cost: 'abc' is not an amount"])
        #expect(try await pool.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 8)
        let stored = try await pool.query("SELECT status, error FROM spend.runs")[0]
        #expect(try stored.decode(String.self, 0) == "failed")
        // The API recovers; the same backfill resumes: only the failed chunk is fetched again.
        source.failing.withLock { $0.removeAll() }
        source.calls.withLock { $0.removeAll() }
        let second = try await collector.run(accounts: [account], range: range)
        #expect(second.succeeded && second.runID == first.runID && second.chunksSkipped == 2 && second.chunksDone == 1)
        #expect(source.calls.withLock { $0 } == [DayRange(Self.day("2026-03-03"), Self.day("2026-03-04"))!])
        #expect(try await pool.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 12)
        await pool.close()
    }
}

@Suite struct CollectionWindowTests {
    struct NoSource: SpendSource {
        let kind = "none"
        let refetchWindowDays = 7
        let maxChunkDays = 31
        let costsIncludeVAT = false
        func fetch(_ account: AdAccount, days: DayRange) async throws -> [SpendRow] { [] }
    }

    @Test func theDefaultWindowEndsTodayInTheAccountsOwnTimeZone() {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL), logger: TestStack.logger)
        let collector = SpendCollector(project: .init(id: "p", reportingCurrency: "RUB"), source: NoSource(), pool: pool, logger: TestStack.logger)
        // 2026-03-10 20:30 UTC is already 2026-03-11 in Vladivostok (+10) and still 2026-03-10 in Moscow (+3).
        let now = Timestamp.parse("2026-03-10T20:30:00Z")!
        func account(_ zone: String) -> AdAccount {
            AdAccount(sourceID: "s", account: "a", currency: "RUB", timeZone: TimeZone(identifier: zone)!, utmSource: "x")
        }
        #expect(collector.defaultRange(for: account("Asia/Vladivostok"), now: now).description == "2026-03-05..2026-03-11")
        #expect(collector.defaultRange(for: account("Europe/Moscow"), now: now).description == "2026-03-04..2026-03-10")
        #expect(collector.defaultRange(for: account("America/Los_Angeles"), now: now).description == "2026-03-04..2026-03-10")
    }
}
