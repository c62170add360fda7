import CRabbitMQ
import Foundation

/// A value in an AMQP field table (message headers, queue arguments).
public enum AMQPFieldValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    /// A kind this client does not decode (nested tables, arrays such as `x-death`), by its
    /// one-letter AMQP kind.
    case unsupported(Character)

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return String(b)
        case .double(let d): return String(d)
        case .unsupported(let kind): return "<\(kind)>"
        }
    }

    /// The value as text, if it is a string.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The value as an integer, if it is one.
    public var intValue: Int64? { if case .int(let i) = self { return i } else { return nil } }
}

/// Owns C memory lent to rabbitmq-c for one call (strings, table entries) and frees it.
/// Confined to the connection's queue; never shared.
final class AMQPArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { blocks.forEach { free($0) } }

    /// Copies a string's UTF-8 bytes into C memory.
    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(Array(string.utf8))
    }

    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty else { return amqp_empty_bytes }
        let raw = malloc(data.count)!
        blocks.append(raw)
        data.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        return amqp_bytes_t(len: data.count, bytes: raw)
    }

    /// Builds a field table; every byte lives as long as the arena.
    func table(_ fields: [(String, AMQPFieldValue)]) -> amqp_table_t {
        let supported = fields.filter { if case .unsupported = $0.1 { return false } else { return true } }
        guard !supported.isEmpty else { return amqp_empty_table }
        let raw = malloc(MemoryLayout<amqp_table_entry_t>.stride * supported.count)!
        blocks.append(raw)
        let entries = raw.bindMemory(to: amqp_table_entry_t.self, capacity: supported.count)
        for (index, (key, value)) in supported.enumerated() {
            var field = amqp_field_value_t()
            switch value {
            case .string(let s):
                field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                field.value.bytes = bytes(s)
            case .int(let i):
                field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                field.value.i64 = i
            case .bool(let b):
                field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                field.value.boolean = b ? 1 : 0
            case .double(let d):
                field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
                field.value.f64 = d
            case .unsupported:
                continue
            }
            (entries + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field))
        }
        return amqp_table_t(num_entries: Int32(supported.count), entries: entries)
    }
}

enum AMQPDecode {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let base = bytes.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }

    static func data(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let base = bytes.bytes else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: base, count: bytes.len))
    }

    static func table(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        var result: [String: AMQPFieldValue] = [:]
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[string(entry.key)] = value(entry.value)
        }
        return result
    }

    static func value(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: return .string(string(field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: return .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: return .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: return .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: return .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: return .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue, AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return .int(Int64(bitPattern: field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: return .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: return .double(field.value.f64)
        default: return .unsupported(Character(Unicode.Scalar(field.kind)))
        }
    }
}
