/// Writes JSON into bytes for hand-written encoders of hot message types (what `JSONEncoder`
/// would write for them: the same keys, nil optionals left out, `/` not escaped). The one JSON
/// string escaper of the project (`JSONText.quote` uses it).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private static let hex = Array("0123456789abcdef".utf8)

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// Appends literal JSON text (punctuation, keys written by the caller).
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ other: [UInt8]) { bytes.append(contentsOf: other) }

    /// Appends a JSON string: quotes, `\"`, `\\` and control characters escaped, the rest as UTF-8.
    public mutating func string(_ value: String) {
        var value = value
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            var start = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(92); bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(92); bytes.append(92)
                case 0x0A: bytes.append(92); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(92); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(92); bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(92); bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(92); bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]])
                }
                start = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `,"key":"value"` (or `"key":"value"` first in an object) when the value is not nil.
    public mutating func field(_ key: StaticString, _ value: String?, first: Bool = false) {
        guard let value else { return }
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        string(value)
    }
}

/// A type with a hand-written encoder over `JSONWriter` (the hot messages). Its output decodes
/// with `Codable` to an equal value.
public protocol JSONFastEncodable {
    func write(json writer: inout JSONWriter)
}
