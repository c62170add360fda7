/// A forward-only reader over one JSON text for hand-written decoders of hot message types:
/// no tree, no dictionary per object — strings are made only for the values asked for, and
/// what is not asked for is skipped byte by byte.
///
/// It is a fast path, not a validator of everything: a decoder that meets anything unexpected
/// throws `JSONReader.Mismatch`, and the caller decodes the same bytes again with `JSONDecoder`,
/// whose error names the field.
public struct JSONReader {
    public struct Mismatch: Error { public init() {} }

    var parser: JSONParser
    let end: Int

    /// Reads `bytes[range]` (the whole text by default).
    public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        parser = JSONParser(bytes: bytes)
        parser.index = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    /// The byte offset of the next value.
    public var offset: Int { parser.index }

    /// Whether everything up to the end has been read (trailing spaces allowed).
    public mutating func isAtEnd() -> Bool {
        parser.skipSpace()
        return parser.index == end
    }

    /// Calls `field` with each key of an object, the reader positioned on its value; `field`
    /// must read or skip that value.
    public mutating func readObject(_ field: (inout JSONReader, String) throws -> Void) throws {
        parser.skipSpace()
        guard parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "{") else { throw Mismatch() }
        parser.index += 1
        parser.skipSpace()
        if parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "}") { parser.index += 1; return }
        while true {
            parser.skipSpace()
            guard parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "\"") else { throw Mismatch() }
            let key = try parser.string()
            parser.skipSpace()
            guard parser.index < end, parser.bytes[parser.index] == UInt8(ascii: ":") else { throw Mismatch() }
            parser.index += 1
            parser.skipSpace()
            try field(&self, key)
            parser.skipSpace()
            guard parser.index < end else { throw Mismatch() }
            if parser.bytes[parser.index] == UInt8(ascii: ",") { parser.index += 1; continue }
            if parser.bytes[parser.index] == UInt8(ascii: "}") { parser.index += 1; return }
            throw Mismatch()
        }
    }

    /// Calls `element` for each element of an array, the reader positioned on it.
    public mutating func readArray(_ element: (inout JSONReader) throws -> Void) throws {
        parser.skipSpace()
        guard parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "[") else { throw Mismatch() }
        parser.index += 1
        parser.skipSpace()
        if parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "]") { parser.index += 1; return }
        while true {
            parser.skipSpace()
            try element(&self)
            parser.skipSpace()
            guard parser.index < end else { throw Mismatch() }
            if parser.bytes[parser.index] == UInt8(ascii: ",") { parser.index += 1; continue }
            if parser.bytes[parser.index] == UInt8(ascii: "]") { parser.index += 1; return }
            throw Mismatch()
        }
    }

    /// A string value (escapes decoded); anything else is a mismatch.
    public mutating func readString() throws -> String {
        guard parser.index < end, parser.bytes[parser.index] == UInt8(ascii: "\"") else { throw Mismatch() }
        return try parser.string()
    }

    /// A string value, or nil for `null`.
    public mutating func readOptionalString() throws -> String? {
        guard parser.index < end else { throw Mismatch() }
        if parser.bytes[parser.index] == UInt8(ascii: "n") {
            try parser.literal("null")
            return nil
        }
        return try readString()
    }

    /// An integer value.
    public mutating func readInt() throws -> Int {
        guard parser.index < end else { throw Mismatch() }
        let text = try parser.number()
        guard let value = Int(text) else { throw Mismatch() }
        return value
    }

    /// Skips one value of any kind, nested containers included, without making anything.
    public mutating func skipValue() throws {
        let bytes = parser.bytes
        guard parser.index < end else { throw Mismatch() }
        var depth = 0
        repeat {
            parser.skipSpace()
            guard parser.index < end else { throw Mismatch() }
            switch bytes[parser.index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                parser.index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                parser.index += 1
                guard depth >= 0 else { throw Mismatch() }
            case UInt8(ascii: "\""):
                parser.index += 1
                while parser.index < end {
                    let byte = bytes[parser.index]
                    if byte == UInt8(ascii: "\"") { break }
                    parser.index += byte == UInt8(ascii: "\\") ? 2 : 1
                }
                guard parser.index < end else { throw Mismatch() }
                parser.index += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                guard depth > 0 else { throw Mismatch() }
                parser.index += 1
            case UInt8(ascii: "t"): try parser.literal("true")
            case UInt8(ascii: "f"): try parser.literal("false")
            case UInt8(ascii: "n"): try parser.literal("null")
            default: _ = try parser.number()
            }
        } while depth > 0
    }
}

/// A type with a hand-written decoder over `JSONReader` (the hot messages: tracked visits and
/// leads). Where it throws, `Envelope.payload(as:)` decodes with `Codable` for the error.
public protocol JSONFastDecodable {
    init(json reader: inout JSONReader) throws
}
