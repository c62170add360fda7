import Domain
import Foundation
import Logging

/// swift-log handler writing one JSON object per line to standard error:
/// `{"ts":"…","level":"info","label":"worker","msg":"…","source":"Runtime", …metadata}`.
/// Metadata keys are dotted (`amqp.queue`, `deal.id`).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        if let extra = event.metadata { for (key, value) in extra { fields[key] = "\(value)" } }
        var line = "{\"ts\":\"\(Self.timestamp())\",\"level\":\"\(event.level)\",\"label\":\(Self.quote(label)),"
            + "\"msg\":\(Self.quote(event.message.description)),\"source\":\(Self.quote(event.source))"
        for key in fields.keys.sorted() where !["ts", "level", "label", "msg", "source"].contains(key) {
            line += ",\(Self.quote(key)):\(Self.quote(fields[key]!))"
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String { JSONText.quote(text) }
}
