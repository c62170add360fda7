import AMQP
import Demo
import Foundation
import Logging
import Postgres
import Schema

/// The local stack the test command started (`scripts/test.sh` exports the URLs).
enum TestStack {
    static let environment = ProcessInfo.processInfo.environment
    static let databaseURL = environment["DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:55432/analytics"
    static let amqpURL = environment["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/%2f"
    static var amqp: AMQPConfiguration { try! AMQPConfiguration(url: amqpURL) }
    static let logger: Logger = {
        var logger = Logger(label: "tests")
        logger.logLevel = .error
        return logger
    }()

    static func unique(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// `url` with its database replaced.
    static func url(_ url: String, database: String) -> String {
        var components = URLComponents(string: url)!
        components.path = "/" + database
        return components.string!
    }

    /// A new empty database on the server of `serverURL`; returns its URL.
    static func freshDatabase(serverURL: String = databaseURL, migrated: Bool = true) async throws -> String {
        let name = unique("t")
        let admin = try await PGConnection.connect(PGConfiguration(url: url(serverURL, database: "postgres")), logger: logger)
        try await admin.simpleQuery("CREATE DATABASE \(try PGIdentifier.quote(name))")
        await admin.close()
        let fresh = url(serverURL, database: name)
        if migrated {
            let connection = try await PGConnection.connect(PGConfiguration(url: fresh), logger: logger)
            try await Migrator(logger: logger).migrate(on: connection)
            await connection.close()
        }
        return fresh
    }

    /// Polls `condition` every 100 ms until it holds or `seconds` pass; returns whether it held.
    /// (A bound on waiting, never a speed assertion.)
    static func eventually(seconds: Double = 120, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Runs `rabbitmqctl` of the test stack's broker (`scripts/stack.sh rmqctl …`).
    @discardableResult
    static func rabbitmqctl(_ arguments: [String]) throws -> String {
        let script = environment["ANALYTICS_STACK_SCRIPT"] ?? repositoryRoot.appendingPathComponent("scripts/stack.sh").path
        let outputPath = "/tmp/\(unique("rmqctl")).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let status = try Spawn.run("/bin/bash", [script, "rmqctl"] + arguments, environment: environment, outputPath: outputPath)
        guard status == 0 else {
            throw TestFailure("rabbitmqctl \(arguments.joined(separator: " ")) failed: \((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")")
        }
        return (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// A broker vhost of a test's own (guest may use it): its workers consume the cluster's
    /// queues without taking other tests' messages. `delete()` removes it.
    struct VirtualHost {
        let name: String
        /// `AMQP_URL` on this vhost.
        var amqpURL: String { TestStack.amqpURL.replacingOccurrences(of: "/%2f", with: "/" + name) }
        func delete() { _ = try? TestStack.rabbitmqctl(["delete_vhost", name]) }
    }

    static func freshVirtualHost(_ name: String) throws -> VirtualHost {
        try rabbitmqctl(["add_vhost", name])
        try rabbitmqctl(["set_permissions", "-p", name, "guest", ".*", ".*", ".*"])
        return VirtualHost(name: name)
    }

    /// The repository root (for scripts).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where SwiftPM put the executables (next to the test binary).
    static let productsDirectory: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("runtime-testbed").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }()
}

/// A second PostgreSQL and/or RabbitMQ of the test's own (own ports and data directory), so a
/// test can stop and start it without disturbing the other tests.
///
/// Its ports stay below 32768: Linux gives outgoing connections local ports from 32768–60999,
/// and a server restarted on a port that one of the suite's connections happens to hold fails
/// with "Address already in use" (seen once: `poolRecoversAfterServerRestart` on 55462).
struct PrivateStack {
    let root: String
    let pgPort: Int
    let amqpPort: Int
    /// RabbitMQ's management API on `amqpPort + 10000` (slower starts; off unless asked).
    let management: Bool

    init(pgPort: Int, amqpPort: Int, management: Bool = false) {
        precondition(pgPort < 32768 && amqpPort + 20000 < 32768, "private stack ports must stay outside the ephemeral range")
        root = "/tmp/analytics-stack-\(pgPort)-\(amqpPort)"
        self.pgPort = pgPort
        self.amqpPort = amqpPort
        self.management = management
    }

    var databaseURL: String { "postgresql://postgres@127.0.0.1:\(pgPort)/analytics" }
    var amqpURL: String { "amqp://guest:guest@127.0.0.1:\(amqpPort)/%2f" }
    var managementURL: String? { management ? "http://guest:guest@127.0.0.1:\(amqpPort + 10000)" : nil }
    var script: String {
        TestStack.environment["ANALYTICS_STACK_SCRIPT"] ?? TestStack.repositoryRoot.appendingPathComponent("scripts/stack.sh").path
    }

    /// What stack.sh needs to act on this stack rather than the shared one.
    var environment: [String: String] {
        var environment = ["STACK_ROOT": root, "PGPORT": String(pgPort), "AMQP_PORT": String(amqpPort), "RMQ_DIST_PORT": String(amqpPort + 20000),
                           "RMQ_MGMT": management ? "1" : "0"]
        if management { environment["RMQ_MGMT_PORT"] = String(amqpPort + 10000) }
        return environment
    }

    @discardableResult
    func stack(_ command: String) throws -> String {
        var environment = TestStack.environment.merging(self.environment) { _, own in own }
        if !management { environment["RMQ_MGMT_PORT"] = nil }
        let outputPath = "/tmp/\(TestStack.unique("stack")).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let status = try Spawn.run("/bin/bash", [script, command], environment: environment, outputPath: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestFailure("stack.sh \(command) failed with status \(status): \(text.suffix(2000))")
        }
        return text
    }
}

/// A child process (a worker or the CLI) with its output in a log file.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, arguments: [String] = [], environment extra: [String: String]) throws {
        process.executableURL = TestStack.productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        var environment = TestStack.environment
        environment["HTTP_PORT"] = "0"
        environment["LOG_FORMAT"] = "text"
        environment["LOG_LEVEL"] = "info"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        logPath = "/tmp/\(TestStack.unique(executable)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the exit (up to `seconds`); returns the status, or nil if still running.
    func waitForExit(seconds: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
