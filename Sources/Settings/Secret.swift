import Foundation

/// A credential given by reference: an environment variable or a file (a Kubernetes or Docker
/// secret), or — for local experiments only — inline.
///
/// `description` never shows the value, so a secret can be logged or dumped safely.
///
/// YAML forms: `{env: DIRECT_TOKEN}`, `{file: /run/secrets/direct_token}`, `{value: "..."}`.
public struct Secret: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case environment(String)
        case file(String)
        case inline(String)
    }

    public let source: Source

    public init(_ source: Source) { self.source = source }

    private enum Keys: String, CodingKey { case env, file, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let env = try container.decodeIfPresent(String.self, forKey: .env)
        let file = try container.decodeIfPresent(String.self, forKey: .file)
        let value = try container.decodeIfPresent(String.self, forKey: .value)
        switch (env, file, value) {
        case (let name?, nil, nil): source = .environment(name)
        case (nil, let path?, nil): source = .file(path)
        case (nil, nil, let inline?): source = .inline(inline)
        default:
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "a secret needs exactly one of env, file or value"))
        }
    }

    /// Encodes the reference only; an inline value is written as `***`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch source {
        case .environment(let name): try container.encode(name, forKey: .env)
        case .file(let path): try container.encode(path, forKey: .file)
        case .inline: try container.encode("***", forKey: .value)
        }
    }

    /// Reads the value now.
    /// - Parameter environment: the process environment (injectable for tests).
    /// - Throws: `SettingsError` naming the variable or file (never the value) when it is
    ///   missing or empty.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch source {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw SettingsError("secret: environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SettingsError("secret: cannot read file \(path)")
            }
            let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw SettingsError("secret: file \(path) is empty") }
            return value
        case .inline(let value):
            return value
        }
    }

    public var description: String {
        switch source {
        case .environment(let name): return "<secret from env \(name)>"
        case .file(let path): return "<secret from file \(path)>"
        case .inline: return "<inline secret ***>"
        }
    }
}

/// A configuration problem, naming the key or file that is wrong.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
