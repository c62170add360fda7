import Domain
import Foundation

/// A Swift type that can be read from a column's text value.
public protocol PGDecodable {
    /// Decodes the server's text output; returns nil when the text is not a valid value.
    init?(pgText: String)
}

extension String: PGDecodable { public init?(pgText: String) { self = pgText } }
extension Int: PGDecodable { public init?(pgText: String) { self.init(pgText) } }
extension Int64: PGDecodable { public init?(pgText: String) { self.init(pgText) } }
extension Int32: PGDecodable { public init?(pgText: String) { self.init(pgText) } }
extension Int16: PGDecodable { public init?(pgText: String) { self.init(pgText) } }
extension Double: PGDecodable { public init?(pgText: String) { self.init(pgText) } }
extension Bool: PGDecodable {
    public init?(pgText: String) {
        switch pgText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}
extension Decimal: PGDecodable {
    /// Exact for `numeric` values (parsed from the decimal text, never through a Double).
    public init?(pgText: String) {
        guard let value = Decimal(string: pgText, locale: Locale(identifier: "en_US_POSIX")) else { return nil }
        self = value
    }
}
extension UUID: PGDecodable { public init?(pgText: String) { self.init(uuidString: pgText) } }
extension Date: PGDecodable {
    public init?(pgText: String) {
        guard let date = Timestamp.parse(pgText, requireOffset: false) else { return nil }
        self = date
    }
}
extension Data: PGDecodable {
    public init?(pgText: String) {
        guard let data = PGBytea.decode(pgText) else { return nil }
        self = data
    }
}
