import Foundation

/// `application/x-www-form-urlencoded` bodies, as CRM webhooks send them (PHP-style bracket keys
/// such as `leads[status][0][id]` are left as they are).
public enum FormURLEncoded {
    /// The pairs in order, `+` as space, percent-decoded; a pair without `=` has an empty value.
    /// Split on the bytes `&` and `=` (as URL parsers do; the tracker parses every landing URL's
    /// query, and splitting by `Character` cost a grapheme-cluster walk per byte).
    public static func parse(_ body: String) -> [(key: String, value: String)] {
        var text = body
        return text.withUTF8 { bytes in
            var pairs: [(key: String, value: String)] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var equals = start
                    while equals < end && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                    let key = decode(UnsafeBufferPointer(rebasing: bytes[start..<equals]))
                    let value = equals < end ? decode(UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end])) : ""
                    pairs.append((key, value))
                }
                start = end + 1
            }
            return pairs
        }
    }

    /// Encodes pairs (keys and values percent-encoded except unreserved characters).
    public static func encode(_ pairs: [(String, String)]) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return pairs.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
    }

    /// `+` as a space and `%XX` decoded, on the bytes (no Foundation call: the tracker decodes
    /// every landing URL's query). A `%` not followed by two hex digits stays as it is; bytes that
    /// do not form UTF-8 become U+FFFD.
    public static func decode(_ text: Substring) -> String {
        var text = text
        return text.withUTF8 { decode($0) }
    }

    static func decode(_ utf8: UnsafeBufferPointer<UInt8>) -> String {
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: utf8, as: UTF8.self)
        }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), index + 2 < utf8.count, let high = hex(utf8[index + 1]), let low = hex(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
