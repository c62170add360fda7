import Foundation

/// Any JSON value, for answers whose fields must be checked one by one (a malformed field fails
/// one record with its name, not the whole page).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Decimal.self) {
            // Decimal keeps every digit of a JSON number; the text form keeps it exact downstream.
            self = .number(NSDecimalNumber(decimal: value).stringValue)
            return
        }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        if let value = try? container.decode([JSONValue].self) { self = .array(value); return }
        self = .object(try container.decode([String: JSONValue].self))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A string, or a number's text; nil for null and other kinds.
    public var text: String? {
        switch self {
        case .string(let text), .number(let text): return text
        case .bool(let value): return value ? "true" : "false"
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }

    /// How the value looks in an error message.
    public var shown: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "\(value)"
        case .number(let text): return text
        case .string(let text): return "'\(text.prefix(60))'"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
