import ArgumentParser
import Logging
import Postgres
import Runtime
import Schema
import Settings

/// `analytics`: the operator's command line.
public struct AnalyticsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Operate the end-to-end marketing analytics cluster.",
        subcommands: [MigrateCommand.self, ConfigCommand.self, RatesCommand.self, SpendCommand.self, DealsCommand.self, BILoginCommand.self,
                      RebuildCommand.self, ExplainCommand.self, MediaPlanCommand.self, ChannelReportCommand.self, StatusCommand.self, ScheduleCommand.self])

    public init() {}
}

/// `analytics migrate`: applies the SQL migrations. Needs only `DATABASE_URL`.
public struct MigrateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending database migrations (safe to run from several replicas at once).")

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $DATABASE_URL).")
    var databaseURL: String?

    @Flag(help: "List applied and pending migrations without changing anything.")
    var status = false

    public init() {}

    public func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let url = databaseURL ?? environment["DATABASE_URL"] ?? Settings.defaultDatabaseURL
        let logger = CLI.logger("migrate")
        let connection = try await PGConnection.connect(PGConfiguration(url: url, applicationName: "analytics-migrate"),
                                                        logger: logger)
        do {
            try await run(Migrator(logger: logger), on: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    private func run(_ migrator: Migrator, on connection: PGConnection) async throws {
        if status {
            let applied = Dictionary(uniqueKeysWithValues: try await migrator.applied(on: connection).map { ($0.version, $0) })
            for migration in migrator.migrations {
                let state = applied[migration.version] == nil ? "pending" : "applied"
                print("\(String(format: "%04d", migration.version))  \(migration.name)  \(state)")
            }
            return
        }
        let done = try await migrator.migrate(on: connection)
        if done.isEmpty {
            print("database is up to date (\(migrator.migrations.count) migrations)")
        } else {
            for migration in done { print("applied \(String(format: "%04d", migration.version)) \(migration.name)") }
        }
    }
}

/// `analytics config`: shows the effective configuration (secrets masked) or copies its
/// projects and sources into the database.
public struct ConfigCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show or apply the deployment configuration.",
        subcommands: [Show.self, Apply.self])

    public init() {}

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the effective configuration; secrets are shown as references only.")
        @Option(help: "YAML file (default: $ANALYTICS_CONFIG).") var config: String?
        func run() async throws {
            print(try Settings.load(path: config).redactedYAML(), terminator: "")
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upsert the configured projects and sources into core.projects and core.sources.")
        @Option(help: "YAML file (default: $ANALYTICS_CONFIG).") var config: String?
        func run() async throws {
            let settings = try Settings.load(path: config)
            let (projects, sources) = try await CLI.withPool(settings, "config") { try await ProjectCatalog.apply(settings, pool: $0) }
            print("applied \(projects) projects and \(sources) sources")
        }
    }
}

enum CLI {
    static func logger(_ label: String) -> Logger {
        var logger = Logger(label: "analytics.\(label)")
        logger.logLevel = .warning
        return logger
    }

    /// Runs `body` with a pool (application name `analytics-<label>`) that is closed afterwards,
    /// whatever happens.
    static func withPool<T>(_ settings: Settings, _ label: String, _ body: (PGPool) async throws -> T) async throws -> T {
        let pool = PGPool(PGConfiguration(url: settings.databaseURL, applicationName: "analytics-\(label)"), logger: logger(label))
        do {
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

import Foundation
