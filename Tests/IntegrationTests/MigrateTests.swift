import Foundation
import Postgres
import Schema
import Testing

@Suite struct MigrateTests {
    @Test func twoConcurrentMigrateCommandsApplyEachMigrationOnce() async throws {
        let url = try await TestStack.freshDatabase(migrated: false)
        // Only DATABASE_URL: no broker, no configuration file.
        let environment = ["DATABASE_URL": url, "AMQP_URL": "", "ANALYTICS_CONFIG": ""]
        let first = try ChildProcess("analytics", arguments: ["migrate"], environment: environment)
        let second = try ChildProcess("analytics", arguments: ["migrate"], environment: environment)
        #expect(await first.waitForExit(seconds: 60) == 0, "\(first.log)")
        #expect(await second.waitForExit(seconds: 60) == 0, "\(second.log)")
        let outputs = first.log + second.log
        for migration in Migration.all {
            let line = "applied \(String(format: "%04d", migration.version)) \(migration.name)"
            #expect(outputs.components(separatedBy: line).count - 1 == 1, "\(line) in: \(outputs)")
        }
        let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        let rows = try await connection.query("SELECT version, count(*) FROM runtime.schema_migrations GROUP BY version ORDER BY version")
        #expect(rows.map { try! $0.decode(Int.self, 0) } == Migration.all.map(\.version))
        #expect(rows.allSatisfy { try! $0.decode(Int.self, 1) == 1 })
        #expect(try await connection.query("SELECT to_regclass('runtime.outbox') IS NOT NULL")[0].decode(Bool.self, 0))
        await connection.close()
        // A third run finds nothing to do.
        let third = try ChildProcess("analytics", arguments: ["migrate"], environment: environment)
        #expect(await third.waitForExit(seconds: 60) == 0)
        #expect(third.log.contains("up to date"))
    }

    @Test func anEditedAppliedMigrationIsRefused() async throws {
        let url = try await TestStack.freshDatabase(migrated: true)
        let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        var edited = Migration.all
        edited[0] = Migration(version: edited[0].version, name: edited[0].name, sql: edited[0].sql + "\n-- edited")
        await #expect(throws: MigrationError.self) {
            try await Migrator(migrations: edited, logger: TestStack.logger).migrate(on: connection)
        }
        // A failing migration leaves nothing of itself behind.
        let broken = Migration.all + [Migration(version: 9999, name: "broken", sql: "CREATE TABLE core.half (id int); SELECT 1/0;")]
        await #expect(throws: PGError.self) {
            try await Migrator(migrations: broken, logger: TestStack.logger).migrate(on: connection)
        }
        #expect(try await connection.query("SELECT to_regclass('core.half') IS NULL")[0].decode(Bool.self, 0))
        #expect(try await Migrator(logger: TestStack.logger).applied(on: connection).count == Migration.all.count)
        await connection.close()
    }
}
