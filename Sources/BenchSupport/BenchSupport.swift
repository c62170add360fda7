import Foundation
import Logging
import Postgres
import Schema

/// What every benchmark executable needs: a wall clock and fresh migrated databases.
public enum Bench {
    /// Seconds `body` took on the continuous clock.
    public static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        let d = (ContinuousClock.now - start).components
        return Double(d.seconds) + Double(d.attoseconds) / 1e18
    }

    /// CPU seconds (user + system) this process has used so far, all threads.
    public static var processCPUSeconds: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// A new database on the server of `serverURL`, migrated; returns its URL.
    public static func freshDatabase(serverURL: String, logger: Logger) async throws -> String {
        var components = URLComponents(string: serverURL)!
        let name = "bench_\(UUID().uuidString.prefix(8).lowercased())"
        components.path = "/postgres"
        let admin = try await PGConnection.connect(PGConfiguration(url: components.string!), logger: logger)
        try await admin.simpleQuery("CREATE DATABASE \(name)")
        await admin.close()
        components.path = "/\(name)"
        let connection = try await PGConnection.connect(PGConfiguration(url: components.string!), logger: logger)
        try await Migrator(logger: logger).migrate(on: connection)
        await connection.close()
        return components.string!
    }

    /// Drops a database `freshDatabase` made (its connections must be closed).
    public static func dropDatabase(_ url: String, logger: Logger) async throws {
        var components = URLComponents(string: url)!
        let name = String(components.path.dropFirst())
        components.path = "/postgres"
        let admin = try await PGConnection.connect(PGConfiguration(url: components.string!), logger: logger)
        try await admin.simpleQuery("DROP DATABASE IF EXISTS \(try PGIdentifier.quote(name))")
        await admin.close()
    }

    /// The machine line every benchmark prints first.
    public static var machine: String {
        "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    }
}
