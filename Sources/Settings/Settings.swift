import Domain
import Foundation
import Yams

/// The deployment's configuration: where PostgreSQL and RabbitMQ are, and which client
/// projects and data sources exist.
///
/// Read by `Settings.load`: an optional YAML file (`ANALYTICS_CONFIG`, or `--config`), then
/// environment variables on top:
///
/// | variable | key | default |
/// |---|---|---|
/// | `DATABASE_URL` | `database_url` | `postgresql://postgres@127.0.0.1:55432/analytics` |
/// | `AMQP_URL` | `amqp_url` | `amqp://guest:guest@127.0.0.1:5673/%2f` |
/// | `LOG_LEVEL` | `log_level` | `info` |
/// | `LOG_FORMAT` | `log_format` (`json` or `text`) | `json` |
/// | `HTTP_PORT` | `http_port` (health, readiness, metrics) | `9090` |
///
/// Credentials are `Secret` references, resolved when used and never printed.
public struct Settings: Codable, Sendable, Equatable {
    public var databaseURL: String
    public var amqpURL: String
    public var logLevel: String
    public var logFormat: String
    public var httpPort: Int
    public var projects: [Project]

    public static let defaultDatabaseURL = "postgresql://postgres@127.0.0.1:55432/analytics"
    public static let defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5673/%2f"

    enum CodingKeys: String, CodingKey {
        case databaseURL = "database_url", amqpURL = "amqp_url", logLevel = "log_level", logFormat = "log_format"
        case httpPort = "http_port", projects
    }

    public init(
        databaseURL: String = Settings.defaultDatabaseURL, amqpURL: String = Settings.defaultAMQPURL,
        logLevel: String = "info", logFormat: String = "json", httpPort: Int = 9090, projects: [Project] = []
    ) {
        self.databaseURL = databaseURL
        self.amqpURL = amqpURL
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.httpPort = httpPort
        self.projects = projects
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        databaseURL = try c.decodeIfPresent(String.self, forKey: .databaseURL) ?? Self.defaultDatabaseURL
        amqpURL = try c.decodeIfPresent(String.self, forKey: .amqpURL) ?? Self.defaultAMQPURL
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? "info"
        logFormat = try c.decodeIfPresent(String.self, forKey: .logFormat) ?? "json"
        httpPort = try c.decodeIfPresent(Int.self, forKey: .httpPort) ?? 9090
        projects = try c.decodeIfPresent([Project].self, forKey: .projects) ?? []
    }

    /// Loads the file (if any) and applies the environment, then validates.
    ///
    /// - Parameters:
    ///   - path: a YAML file; nil means `ANALYTICS_CONFIG` if set, else no file.
    ///   - environment: the process environment (injectable for tests).
    /// - Throws: `SettingsError` naming the file, key and problem.
    public static func load(
        path: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Settings {
        var settings = Settings()
        if let file = path ?? environment["ANALYTICS_CONFIG"], !file.isEmpty {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw SettingsError("configuration file \(file) cannot be read")
            }
            settings = try parse(yaml: String(decoding: data, as: UTF8.self), origin: file)
        }
        if let value = environment["DATABASE_URL"], !value.isEmpty { settings.databaseURL = value }
        if let value = environment["AMQP_URL"], !value.isEmpty { settings.amqpURL = value }
        if let value = environment["LOG_LEVEL"], !value.isEmpty { settings.logLevel = value }
        if let value = environment["LOG_FORMAT"], !value.isEmpty { settings.logFormat = value }
        if let value = environment["HTTP_PORT"], !value.isEmpty {
            guard let port = Int(value), (0...65535).contains(port) else {
                throw SettingsError("HTTP_PORT: '\(value)' is not a port number")
            }
            settings.httpPort = port
        }
        try settings.validate()
        return settings
    }

    /// Parses YAML text; `origin` names it in errors.
    public static func parse(yaml: String, origin: String = "configuration") throws -> Settings {
        do {
            if yaml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return Settings() }
            return try YAMLDecoder().decode(Settings.self, from: yaml)
        } catch let error as DecodingError {
            throw SettingsError("\(origin): \(DecodingProblem.describe(error))")
        } catch let error as YamlError {
            throw SettingsError("\(origin): invalid YAML: \(error)")
        }
    }

    /// Checks the values that decoding cannot: unique ids, time zones, currencies, log level.
    public func validate() throws {
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(logLevel) else {
            throw SettingsError("log_level: '\(logLevel)' is not one of \(levels.joined(separator: ", "))")
        }
        guard ["json", "text"].contains(logFormat) else {
            throw SettingsError("log_format: '\(logFormat)' is not json or text")
        }
        var seen = Set<String>()
        for (index, project) in projects.enumerated() {
            try project.validate(path: "projects[\(index)]")
            guard seen.insert(project.id).inserted else {
                throw SettingsError("projects[\(index)].id: '\(project.id)' is used twice")
            }
        }
    }

    /// The project with this id.
    public func project(_ id: String) -> Project? { projects.first { $0.id == id } }

    /// The configuration as YAML with every secret shown as its reference and every URL's
    /// password masked — safe to print.
    public func redactedYAML() throws -> String {
        var copy = self
        copy.databaseURL = Redaction.url(databaseURL)
        copy.amqpURL = Redaction.url(amqpURL)
        // Names in the configuration are often Cyrillic: shown as written, not as \u escapes.
        let encoder = YAMLEncoder()
        encoder.options.allowUnicode = true
        return try encoder.encode(copy)
    }
}
