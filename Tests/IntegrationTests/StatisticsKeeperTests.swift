import Foundation
import Postgres
import Runtime
import Testing

@Suite struct StatisticsKeeperTests {
    @Test func aTableThatDoubledIsAnalyzedAndASmallerChangeIsNot() async throws {
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

        // 500 more rows: under the 1,000-row minimum — left alone.
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(20001, 20500) g")
        try await Task.sleep(for: .seconds(2))
        #expect(try await keeper.checkOnce() == [])
        #expect(try await reltuples() == 20000)

        // 5,000 more (5,500 changed, a quarter of the known 20,000): still left alone — the
        // planner scales the known row count by the table's pages; it needs one ANALYZE per
        // doubling, not one per fifth (ANALYZE of a million rows costs half a second).
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(20501, 25500) g")
        try await Task.sleep(for: .seconds(2))
        #expect(try await keeper.checkOnce() == [])

        // 15,000 more (20,500 changed, more than the known 20,000): the table doubled — analyzed.
        try await pool.query("INSERT INTO \(table) SELECT g, 'v' FROM generate_series(25501, 40500) g")
        #expect(await analyzedWhenStatsArrive() == [table])
        #expect(try await reltuples() == 40500)
        try await pool.query("DROP TABLE \(table)")
        await pool.close()
    }
}
