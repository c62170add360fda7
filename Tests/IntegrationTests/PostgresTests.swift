import Foundation
import Postgres
import Testing

@Suite struct PostgresTests {
    func connect(_ url: String = TestStack.databaseURL) async throws -> PGConnection {
        try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
    }

    @Test func parametersRoundTripWithTypedDecoding() async throws {
        let connection = try await connect()
        let evil = "'; DROP TABLE x; -- \t\n\\ \"quoted\" <b>&amp;</b> ёжик"
        let when = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let id = UUID()
        let rows = try await connection.query(
            "SELECT $1::text AS s, $2::bigint AS i, $3::numeric AS n, $4::timestamptz AS t, $5::uuid AS u, $6::bytea AS b, $7::text AS missing, $8::boolean AS f",
            [evil, Int64.max, Decimal(string: "12345678901234567890.123456")!, when, id, Data([0, 1, 254, 255]), nil as String?, false])
        let row = rows[0]
        #expect(try row.decode(String.self, "s") == evil)
        #expect(try row.decode(Int64.self, "i") == Int64.max)
        #expect(try row.decode(Decimal.self, "n") == Decimal(string: "12345678901234567890.123456")!)
        #expect(abs(try row.decode(Date.self, "t").timeIntervalSince(when)) < 0.000_001)
        #expect(try row.decode(UUID.self, "u") == id)
        #expect(try row.decode(Data.self, "b") == Data([0, 1, 254, 255]))
        #expect(try row.decode(String?.self, "missing") == nil)
        #expect(try row.decode(Bool.self, "f") == false)
        #expect(throws: PGError.self) { try row.decode(String.self, "missing") }
        await connection.close()
    }

    /// Arrays travel as literals: strings (the fast path) and other elements (the generic one)
    /// come back element for element, whatever quotes, backslashes, braces or commas they hold,
    /// and a `PGNullableArray`'s nil elements are NULL.
    @Test func arrayParametersRoundTripEveryElement() async throws {
        let connection = try await connect()
        let strings = ["", "plain", "with \"quotes\"", "back\\slash", "{braces},commas", "NULL", " spaced ", "ёжик 🦔", "\\\"", "a\nb"]
        let rows = try await connection.query("SELECT x, n FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n", [strings])
        #expect(try rows.map { try $0.decode(String.self, 0) } == strings)
        let empty = try await connection.query("SELECT cardinality($1::text[])", [[String]()])
        #expect(try empty[0].decode(Int.self, 0) == 0)
        let numbers: [Int64] = [Int64.min, -1, 0, 42, Int64.max]
        let sums = try await connection.query("SELECT array_agg(x ORDER BY n)::text FROM unnest($1::int8[]) WITH ORDINALITY AS u(x, n)", [numbers])
        #expect(try sums[0].decode(String.self, 0) == "{" + numbers.map(String.init).joined(separator: ",") + "}")
        // Nullable elements: nil travels as NULL, the string "NULL" as itself.
        let nullable: [String?] = ["a", nil, "NULL", "", nil, "with \"quotes\""]
        let back = try await connection.query("SELECT x, x IS NULL FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n", [PGNullableArray(nullable)])
        #expect(try back.map { try $0.decode(String?.self, 0) } == nullable)
        #expect(try back.map { try $0.decode(Bool.self, 1) } == nullable.map { $0 == nil })
        let times: [Int64?] = [nil, 7, nil]
        let counted = try await connection.query("SELECT count(x), count(*) FROM unnest($1::int8[]) AS u(x)", [PGNullableArray(times)])
        #expect(try counted[0].decode(Int.self, 0) == 1 && counted[0].decode(Int.self, 1) == 3)
        await connection.close()
    }

    @Test func serverErrorsCarrySQLStateAndStatement() async throws {
        let connection = try await connect()
        let table = "public.\(TestStack.unique("err"))"
        try await connection.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY)")
        try await connection.query("INSERT INTO \(table) VALUES ($1)", [1])
        do {
            try await connection.query("INSERT INTO \(table) VALUES ($1)", [1])
            Issue.record("duplicate key accepted")
        } catch let error as PGError {
            #expect(error.code == .server)
            #expect(error.sqlState == "23505")
            #expect(error.statement?.contains("INSERT INTO") == true)
            #expect(!error.isTransient)
        }
        // The connection stays usable after a server error.
        #expect(try await connection.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, 0) == 1)
        await connection.close()
    }

    @Test func transactionRollsBackWhenBodyThrows() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL, poolSize: 2), logger: TestStack.logger)
        let table = "public.\(TestStack.unique("tx"))"
        try await pool.query("CREATE TABLE \(table) (id int)")
        await #expect(throws: TestFailure.self) {
            try await pool.withTransaction { connection in
                try await connection.query("INSERT INTO \(table) VALUES (1)")
                throw TestFailure("boom")
            }
        }
        try await pool.withTransaction { try await $0.query("INSERT INTO \(table) VALUES (2)") }
        let rows = try await pool.query("SELECT id FROM \(table)")
        #expect(rows.map { try! $0.decode(Int.self, 0) } == [2])
        await pool.close()
    }

    @Test func aSwallowedErrorMakesCommitFailAndNestingIsRefused() async throws {
        let connection = try await connect()
        let table = "public.\(TestStack.unique("swallow"))"
        try await connection.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY)")
        do {
            try await connection.withTransaction { tx in
                try await tx.query("INSERT INTO \(table) VALUES (1)")
                _ = try? await tx.query("INSERT INTO \(table) VALUES (1)")  // fails; the error is swallowed
            }
            Issue.record("a rolled-back transaction reported success")
        } catch let error as PGError {
            #expect(error.sqlState == "25P02")
        }
        #expect(try await connection.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, 0) == 0)
        await #expect(throws: PGError.self) {
            try await connection.withTransaction { tx in
                try await tx.withTransaction { try await $0.query("INSERT INTO \(table) VALUES (2)") }
            }
        }
        #expect(try await connection.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, 0) == 0)
        await connection.close()
    }

    @Test func closingThePoolWakesWaitersAndConnectErrorsHideThePassword() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL, poolSize: 1), logger: TestStack.logger)
        let holding = Task { try await pool.withConnection { _ in try await Task.sleep(for: .milliseconds(500)) } }
        try await Task.sleep(for: .milliseconds(100))
        let waiting = Task { try await pool.query("SELECT 1") }
        try await Task.sleep(for: .milliseconds(100))
        await pool.close()
        await #expect(throws: PGError.self) { try await waiting.value }
        try? await holding.value
        do {
            _ = try await PGConnection.connect(
                PGConfiguration(url: "postgresql://postgres:hunter2@127.0.0.1:1/analytics?bogus_option=1"), logger: TestStack.logger)
            Issue.record("connected with a bogus option")
        } catch let error as PGError {
            #expect(error.code == .connectionFailed)
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test func copyOfOneMillionRowsIsReadBackByCount() async throws {
        let connection = try await connect()
        let table = "public.\(TestStack.unique("copy"))"
        try await connection.simpleQuery("CREATE UNLOGGED TABLE \(table) (id bigint, name text, amount bigint)")
        let stored = try await connection.copyIn("COPY \(table) (id, name, amount) FROM STDIN") { writer in
            for index in 0..<1_000_000 {
                writer.field(Int64(index))
                writer.field(index % 1000 == 0 ? "tab\there\nnewline \\ slash" : "row")
                writer.field(Int64(index % 97))
                try writer.endRow()
            }
        }
        #expect(stored == 1_000_000)
        let rows = try await connection.query("SELECT count(*), sum(amount), count(*) FILTER (WHERE name LIKE 'tab%') FROM \(table)")
        #expect(try rows[0].decode(Int.self, 0) == 1_000_000)
        let expectedSum = (0..<1_000_000).reduce(0) { $0 + $1 % 97 }
        #expect(try rows[0].decode(Int.self, 1) == expectedSum)
        #expect(try rows[0].decode(Int.self, 2) == 1000)
        let special = try await connection.query("SELECT name FROM \(table) WHERE id = 0")
        #expect(try special[0].decode(String.self, 0) == "tab\there\nnewline \\ slash")
        try await connection.simpleQuery("DROP TABLE \(table)")
        await connection.close()
    }

    @Test func copyTextEscapesEverySpecialByteWhereverItStands() async throws {
        let connection = try await connect()
        let table = "public.\(TestStack.unique("copyesc"))"
        try await connection.simpleQuery("CREATE TEMP TABLE \(table.replacingOccurrences(of: "public.", with: "")) (id bigint, value text)")
        let values = ["", "\\", "\t", "\n", "\r", "\\\\", "\t\n\r\\", "a\tb", "\tstart", "end\n", "mid\\dle", "ёжик\t😀\r\n", "\\N", "plain text"]
        let temp = table.replacingOccurrences(of: "public.", with: "")
        try await connection.copyIn("COPY \(temp) (id, value) FROM STDIN") { writer in
            for (index, value) in values.enumerated() {
                writer.field(Int64(index))
                writer.field(value)
                try writer.endRow()
            }
            writer.field(Int64(values.count))
            writer.field(nil as String?)
            try writer.endRow()
        }
        let rows = try await connection.query("SELECT value FROM \(temp) ORDER BY id")
        #expect(try rows.map { try $0.decode(String?.self, 0) } == values.map { $0 } + [nil])
        await connection.close()
    }

    @Test(arguments: [PGCopyFormat.text, .binary])
    func copyWritesTextIntegersBooleansTimestampsAndNullsInEitherFormat(format: PGCopyFormat) async throws {
        let connection = try await connect()
        let temp = TestStack.unique("copyfmt")
        try await connection.simpleQuery("CREATE TEMP TABLE \(temp) (id int8, value text, flag boolean, at timestamptz)")
        let values: [String?] = ["", "\\", "\t\n\r\\", "ёжик\t😀\r\n", "\\N", nil, "plain text"]
        // Before 1970, before 2000, after, with and without a fraction, the last microsecond of a day.
        let times: [Int64?] = [-1, -86_400_000_001, 946_684_799_999_999, 1_795_000_000_123_456, 1_795_046_399_999_999, nil, 0]
        let stored = try await connection.copyIn("COPY \(temp) (id, value, flag, at) FROM STDIN", format: format) { writer in
            for index in values.indices {
                writer.field(Int64(index) - 3)
                writer.field(values[index])
                writer.field(index % 2 == 0)
                writer.field(microseconds: times[index])
                try writer.endRow()
            }
        }
        #expect(stored == values.count)
        let rows = try await connection.query("""
            SELECT id, value, flag, (extract(epoch FROM at) * 1000000)::int8, at = to_timestamp(0) FROM \(temp) ORDER BY id
            """)
        #expect(try rows.map { try $0.decode(Int64.self, 0) } == values.indices.map { Int64($0) - 3 })
        #expect(try rows.map { try $0.decode(String?.self, 1) } == values)
        #expect(try rows.map { try $0.decode(Bool.self, 2) } == values.indices.map { $0 % 2 == 0 })
        #expect(try rows.map { try $0.decode(Int64?.self, 3) } == times)
        #expect(try rows[6].decode(Bool.self, 4))
        await connection.close()
    }

    @Test func failedCopyWritesNothing() async throws {
        let connection = try await connect()
        let table = "public.\(TestStack.unique("copyfail"))"
        try await connection.simpleQuery("CREATE TABLE \(table) (id bigint)")
        await #expect(throws: TestFailure.self) {
            try await connection.copyIn("COPY \(table) (id) FROM STDIN") { writer in
                for index in 0..<10_000 {
                    writer.field(Int64(index))
                    try writer.endRow()
                }
                throw TestFailure("bad line 10001")
            }
        }
        #expect(try await connection.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, 0) == 0)
        await connection.close()
    }

    @Test func bulkReplaceOfAKeyRangeIsIdempotent() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL), logger: TestStack.logger)
        let table = "public.\(TestStack.unique("spend"))"
        try await pool.query("""
            CREATE TABLE \(table) (project_id text, source text, day date, campaign text, cost bigint,
                                   PRIMARY KEY (project_id, source, day, campaign))
            """)
        // Another source's rows and another range must survive untouched.
        try await pool.query("INSERT INTO \(table) VALUES ('p', 'vk', '2026-11-01', 'c1', 999), ('p', 'direct', '2026-10-01', 'c1', 5)")
        let spec = PGBulkWrite(
            table: table, columns: ["project_id", "source", "day", "campaign", "cost"],
            mode: .replace(range: PGRange("project_id = $1 AND source = $2 AND day BETWEEN $3::date AND $4::date",
                                          ["p", "direct", "2026-11-01", "2026-11-10"])))
        @discardableResult func write(multiplier: Int64) async throws -> PGBulkWriteResult {
            try await pool.withTransaction { connection in
                try await connection.bulkWrite(spec) { writer in
                    for day in 1...10 {
                        for campaign in 1...50 {
                            writer.field("p")
                            writer.field("direct")
                            writer.field(String(format: "2026-11-%02d", day))
                            writer.field("c\(campaign)")
                            writer.field(Int64(day * campaign) * multiplier)
                            try writer.endRow()
                        }
                    }
                }
            }
        }
        let first = try await write(multiplier: 1)
        #expect(first == PGBulkWriteResult(staged: 500, deleted: 0, written: 500))
        let second = try await write(multiplier: 1)
        #expect(second == PGBulkWriteResult(staged: 500, deleted: 500, written: 500))
        func totals() async throws -> (Int, Int) {
            let row = try await pool.query("SELECT count(*), sum(cost) FROM \(table) WHERE source = 'direct' AND day >= '2026-11-01'")[0]
            return (try row.decode(Int.self, 0), try row.decode(Int.self, 1))
        }
        let expected = (1...10).reduce(0) { sum, day in sum + (1...50).reduce(0) { $0 + day * $1 } }
        #expect(try await totals() == (500, expected))
        // Revised figures replace the old ones.
        try await write(multiplier: 2)
        #expect(try await totals() == (500, expected * 2))
        let untouched = try await pool.query("SELECT sum(cost) FROM \(table) WHERE NOT (source = 'direct' AND day >= '2026-11-01')")
        #expect(try untouched[0].decode(Int.self, 0) == 1004)
        // A row outside the range is refused and nothing of the write remains.
        await #expect(throws: PGError.self) {
            try await pool.withTransaction { connection in
                try await connection.bulkWrite(spec) { writer in
                    for value in ["p", "direct", "2026-12-25", "c1"] { writer.field(value) }
                    writer.field(Int64(1))
                    try writer.endRow()
                }
            }
        }
        #expect(try await totals() == (500, expected * 2))
        await pool.close()
    }

    @Test func bulkInsertNewCopiesStraightInAndFallsBackWhenSomeRowsExist() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL), logger: TestStack.logger)
        let table = "public.\(TestStack.unique("insertnew"))"
        try await pool.query("CREATE TABLE \(table) (project_id text, id int, value text, PRIMARY KEY (project_id, id))")
        let spec = PGBulkWrite(table: table, columns: ["project_id", "id", "value"], mode: .insertNew(key: ["project_id", "id"]))
        func write(_ ids: Range<Int>, _ value: String) async throws -> PGBulkWriteResult {
            try await pool.withTransaction { connection in
                let result = try await connection.bulkWrite(spec) { writer in
                    for id in ids {
                        writer.field("p")
                        writer.field(Int64(id))
                        writer.field(value)
                        try writer.endRow()
                    }
                }
                // The transaction is still usable after a fallback (the savepoint was rolled back).
                _ = try await connection.query("SELECT 1")
                return result
            }
        }
        // All new: the direct copy.
        #expect(try await write(0..<1000, "a") == PGBulkWriteResult(staged: 1000, deleted: 0, written: 1000))
        // Half exist: the direct copy meets key 500, is undone, and only the new half is inserted.
        #expect(try await write(500..<1500, "b") == PGBulkWriteResult(staged: 1000, deleted: 0, written: 500))
        // All exist: nothing changes.
        #expect(try await write(0..<1500, "c") == PGBulkWriteResult(staged: 1500, deleted: 0, written: 0))
        let rows = try await pool.query("SELECT value, count(*), min(id), max(id) FROM \(table) GROUP BY value ORDER BY value")
        #expect(try rows.map { [try $0.decode(String.self, 0), "\(try $0.decode(Int.self, 1))", "\(try $0.decode(Int.self, 2))", "\(try $0.decode(Int.self, 3))"] }
                == [["a", "1000", "0", "999"], ["b", "500", "1000", "1499"]])
        await pool.close()
    }

    @Test func bulkUpsertReplacesByKey() async throws {
        let pool = PGPool(PGConfiguration(url: TestStack.databaseURL), logger: TestStack.logger)
        let table = "public.\(TestStack.unique("upsert"))"
        try await pool.query("CREATE TABLE \(table) (project_id text, id int, value text, PRIMARY KEY (project_id, id))")
        let spec = PGBulkWrite(table: table, columns: ["project_id", "id", "value"],
                               mode: .upsert(key: ["project_id", "id"], update: ["value"]))
        for round in ["a", "b"] {
            try await pool.withTransaction { connection in
                try await connection.bulkWrite(spec) { writer in
                    for id in 0..<1000 {
                        writer.field("p")
                        writer.field(Int64(id))
                        writer.field(round)
                        try writer.endRow()
                    }
                }
            }
        }
        let row = try await pool.query("SELECT count(*), min(value), max(value) FROM \(table)")[0]
        #expect(try row.decode(Int.self, 0) == 1000)
        #expect(try row.decode(String.self, 1) == "b")
        #expect(try row.decode(String.self, 2) == "b")
        await #expect(throws: PGError.self) {
            try await pool.withConnection { try await $0.bulkWrite(spec) { _ in } }
        }
        await pool.close()
    }

    @Test func poolRecoversAfterServerRestart() async throws {
        let stack = PrivateStack(pgPort: 25462, amqpPort: 5693)
        try stack.stack("start-postgres")
        defer { _ = try? stack.stack("stop-postgres") }
        let pool = PGPool(PGConfiguration(url: stack.databaseURL, poolSize: 2), logger: TestStack.logger)
        #expect(try await pool.query("SELECT 1")[0].decode(Int.self, 0) == 1)
        try stack.stack("stop-postgres")
        do {
            _ = try await pool.query("SELECT 1")
            Issue.record("query succeeded with the server stopped")
        } catch let error as PGError {
            #expect(error.isTransient)
        }
        try stack.stack("start-postgres")
        let recovered = await TestStack.eventually(seconds: 30) {
            (try? await pool.query("SELECT 2")[0].decode(Int.self, 0)) == 2
        }
        #expect(recovered)
        await pool.close()
    }
}
