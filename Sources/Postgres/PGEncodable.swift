import Domain
import Foundation

/// A Swift value that can be sent as a statement parameter.
///
/// Parameters travel in PostgreSQL's text format; the server casts them to the column's type.
public protocol PGEncodable: Sendable {
    /// The value in PostgreSQL's text input format.
    var pgText: String { get }
}

extension String: PGEncodable { public var pgText: String { self } }
extension Substring: PGEncodable { public var pgText: String { String(self) } }
extension Int: PGEncodable { public var pgText: String { String(self) } }
extension Int64: PGEncodable { public var pgText: String { String(self) } }
extension Int32: PGEncodable { public var pgText: String { String(self) } }
extension Int16: PGEncodable { public var pgText: String { String(self) } }
extension Bool: PGEncodable { public var pgText: String { self ? "t" : "f" } }
extension Double: PGEncodable {
    public var pgText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return "\(self)"
    }
}
extension Decimal: PGEncodable {
    /// Exact: Decimal's description is a plain decimal number with `.` as the separator.
    public var pgText: String { description }
}
extension UUID: PGEncodable { public var pgText: String { uuidString.lowercased() } }
extension Date: PGEncodable {
    /// RFC 3339 in UTC with microseconds, the precision of `timestamptz`.
    public var pgText: String { Timestamp.format(self) }
}
extension Data: PGEncodable {
    /// `bytea` hex format.
    public var pgText: String { PGBytea.hex(self) }
}

extension Array: PGEncodable where Element: PGEncodable {
    /// A PostgreSQL array literal (`{"a","b"}`), every element quoted; use with `= ANY($1)`.
    public var pgText: String {
        // Arrays of strings (ids and keys, tens of thousands a statement) are most of what is
        // sent: written from their UTF-8 directly, without the generic path's per-element work.
        if Element.self == String.self {
            let strings = unsafeBitCast(self, to: [String].self)
            return PGArrayLiteral.quoted(count: strings.count) { strings[$0] }
        }
        let texts = map(\.pgText)  // once each: `quoted` reads an element twice
        return PGArrayLiteral.quoted(count: texts.count) { texts[$0] }
    }
}

/// An array parameter whose elements may be NULL (`{"a",NULL}`), for `unnest($n::text[])` of
/// nullable columns. (`[String?]` cannot be an `Array` conformance of its own.)
public struct PGNullableArray<Element: PGEncodable>: PGEncodable {
    public let elements: [Element?]
    public init(_ elements: [Element?]) { self.elements = elements }
    public var pgText: String {
        let texts = elements.map { $0?.pgText }
        return PGArrayLiteral.quoted(count: texts.count) { texts[$0] }
    }
}

enum PGArrayLiteral {
    /// `{"a",NULL,"b"}`: each element's text quoted, `"` and `\` escaped with a backslash; a nil
    /// element is NULL (unquoted — a quoted `"NULL"` is the four-letter string). `element` is
    /// called twice for each index (sizing, then writing).
    static func quoted(count: Int, _ element: (Int) -> String?) -> String {
        var capacity = 2
        for index in 0..<count { capacity += (element(index)?.utf8.count ?? 4) + 3 }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity + 16)
        bytes.append(UInt8(ascii: "{"))
        for index in 0..<count {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard var text = element(index) else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            text.withUTF8 { utf8 in
                if !utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                    bytes.append(contentsOf: utf8)
                    return
                }
                for byte in utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// JSON sent as a `json`/`jsonb` parameter.
public struct PGJSON: PGEncodable {
    public let text: String
    public init(text: String) { self.text = text }
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }
    public var pgText: String { text }
}

enum PGBytea {
    static let digits = Array("0123456789abcdef".utf8)
    static func hex(_ data: Data) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(2 + data.count * 2)
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "x"))
        for byte in data {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decode(_ text: String) -> Data? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"),
              utf8.count % 2 == 0 else { return nil }
        var data = Data(capacity: (utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            data.append(high << 4 | low)
            index += 2
        }
        return data
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
