import Foundation
import Schema
import Testing

@Suite struct MigrationCatalogTests {
    @Test func everyFileIsRegisteredInOrder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Schema/Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        let registered = Migration.all.map { String(format: "V%04d__%@.sql", $0.version, $0.name) }
        #expect(files == registered)
        #expect(Migration.all.map(\.version) == Array(1...Migration.all.count))
        for migration in Migration.all {
            let text = try String(contentsOf: folder.appendingPathComponent(String(format: "V%04d__%@.sql", migration.version, migration.name)), encoding: .utf8)
            #expect(text == migration.sql)
        }
    }
}
