import Foundation
import Postgres
import Runtime
import Testing

@Suite struct StatisticsKeeperTests {
    @Test func aTableThatGrewPastItsKnownSizeIsAnalyzedAndASmallChangeIsNot() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL), logger: TestStack.logger)
        let table = "public.\(TestStack.unique("grown"))"
        try await pool.query("CREATE TABLE \(table) (id int PRIMARY KEY, value text) WITH (autovacuum_enabled = false)")  // only the keeper analyzes it
        let keeper = StatisticsKeeper(pool: pool, tables: [table], logger: TestStack.logger)
        func reltuples() async throws -> Int {
            try await pool.query("SELECT reltuples::int8 FROM pg_class WHERE oid = $1::regclass", [table])[0].decode(Int.self, 0)
        }
        func analyzedWhenStatsArrive() async -> [String] {
            // Backends report their changes to the statistics system within a second or so.
            var analyzed: [String] = []
            _ = await TestStack.eventually(seconds: 20) {
                analyzed = (try? await keeper.checkOnce()) ?? []
                return !analyzed.isEmpty
            }
            return analyzed
        }

        // A fresh table: never analyzed, the planner knows nothing (reltuples −1).
        #expect(try await reltuples() == -1)
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(1, 20000) g")
        #expect(await analyzedWhenStatsArrive() == [table])
        #expect(try await reltuples() == 20000)

        // 500 more rows: under both the 1,000-row minimum and 20% of 20,000 — left alone.
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(20001, 20500) g")
        try await Task.sleep(for: .seconds(2))
        #expect(try await keeper.checkOnce() == [])
        #expect(try await reltuples() == 20000)

        // 5,000 more (5,500 changed, over 20% of 20,000): analyzed again.
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(20501, 25500) g")
        #expect(await analyzedWhenStatsArrive() == [table])
        #expect(try await reltuples() == 25500)
        try await pool.query("DROP TABLE \(table)")
        await pool.close()
    }
}
