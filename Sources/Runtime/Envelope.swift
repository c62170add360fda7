import Domain
import Foundation

/// The versioned JSON envelope every message of the cluster travels in.
///
/// ```json
/// {"v": 1, "type": "visits.recorded", "project": "school", "id": "…",
///  "occurred_at": "2026-11-23T04:56:00.123Z", "payload": {…}}
/// ```
///
/// `id` is the message's idempotency key (redelivered or republished copies share it). A
/// payload may carry a batch of records (thousands of visits in one message).
public struct Envelope: Sendable {
    /// The envelope versions this build reads.
    public static let supportedVersions: ClosedRange<Int> = 1...1
    public static let currentVersion = 1

    public let version: Int
    public let type: String
    public let project: String
    public let id: String
    public let occurredAt: Date
    /// The whole message as received, for decoding the payload.
    public let raw: [UInt8]

    private struct Header: Decodable {
        let v: Int
        let type: String
        let project: String
        let id: String
        let occurred_at: String
    }

    private struct Body<Payload: Decodable>: Decodable { let payload: Payload }

    private struct Outgoing<Payload: Encodable>: Encodable {
        let v: Int
        let type: String
        let project: String
        let id: String
        let occurred_at: String
        let payload: Payload
    }

    /// Where the payload's value lies in `raw`, when the header was read by the fast path.
    let payloadRange: Range<Int>?

    /// The header read in one pass that skips the payload without building anything (a message
    /// can hold thousands of visits); nil when the text is not a plain object of the expected
    /// fields, and `JSONDecoder` then reads it and names what is wrong.
    private static func skim(_ bytes: [UInt8]) -> (Header, Range<Int>?)? {
        var reader = JSONReader(bytes)
        var v: Int?, type: String?, project: String?, id: String?, occurred: String?, payload: Range<Int>?
        do {
            try reader.readObject { reader, key in
                switch key {
                case "v": v = try reader.readInt()
                case "type": type = try reader.readString()
                case "project": project = try reader.readString()
                case "id": id = try reader.readString()
                case "occurred_at": occurred = try reader.readString()
                case "payload":
                    let start = reader.offset
                    try reader.skipValue()
                    payload = start..<reader.offset
                default: try reader.skipValue()
                }
            }
        } catch { return nil }
        guard reader.isAtEnd(), let v, let type, let project, let id, let occurred else { return nil }
        return (Header(v: v, type: type, project: project, id: id, occurred_at: occurred), payload)
    }

    /// Reads and checks the header fields.
    /// - Throws: `EnvelopeError` naming the field that is missing or wrong.
    public init(decoding bytes: [UInt8]) throws {
        let header: Header
        if let (skimmed, range) = Self.skim(bytes) {
            header = skimmed
            payloadRange = range
        } else {
            do {
                header = try JSONDecoder().decode(Header.self, from: Data(bytes))
            } catch let error as DecodingError {
                throw EnvelopeError(DecodingProblem.describe(error))
            } catch {
                throw EnvelopeError("not JSON: \(error)")
            }
            payloadRange = nil
        }
        guard Self.supportedVersions.contains(header.v) else {
            throw EnvelopeError("v: unsupported envelope version \(header.v) (this build reads \(Self.supportedVersions))")
        }
        guard !header.type.isEmpty else { throw EnvelopeError("type: empty") }
        guard !header.id.isEmpty, header.id.utf8.count <= 200 else { throw EnvelopeError("id: empty or longer than 200 bytes") }
        guard !header.project.isEmpty, header.project.count <= 64,
              header.project.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" })
        else { throw EnvelopeError("project: '\(header.project.prefix(80))' is not a project id") }
        guard let occurredAt = Timestamp.parse(header.occurred_at) else {
            throw EnvelopeError("occurred_at: '\(header.occurred_at.prefix(80))' is not an RFC 3339 time with an offset")
        }
        version = header.v
        type = header.type
        project = header.project
        id = header.id
        self.occurredAt = occurredAt
        raw = bytes
    }

    /// Decodes the payload.
    /// - Throws: `EnvelopeError` naming the payload field that is wrong.
    public func payload<Payload: Decodable>(as type: Payload.Type = Payload.self) throws -> Payload {
        if let range = payloadRange {
            // Only the payload's bytes; a hand-written decoder where the type has one.
            if let fast = Payload.self as? any JSONFastDecodable.Type {
                var reader = JSONReader(raw, range: range)
                if let value = try? fast.init(json: &reader), reader.isAtEnd(), let payload = value as? Payload { return payload }
            } else if let payload = try? JSONDecoder().decode(Payload.self, from: Data(raw[range])) {
                return payload
            }
        }
        // The whole message again, so that the error's path starts at `payload`.
        do {
            return try JSONDecoder().decode(Body<Payload>.self, from: Data(raw)).payload
        } catch let error as DecodingError {
            throw EnvelopeError(DecodingProblem.describe(error))
        }
    }

    /// Encodes a message whose payload has a hand-written encoder (the same JSON, faster).
    public static func encode<Payload: JSONFastEncodable>(
        type: String, project: String, id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date(), fast payload: Payload
    ) -> [UInt8] {
        // The envelope's keys in the order `encode` writes them (sorted).
        var writer = JSONWriter(capacity: 4096)
        writer.raw("{")
        writer.field("id", id, first: true)
        writer.field("occurred_at", Timestamp.format(occurredAt))
        writer.raw(#","payload":"#)
        payload.write(json: &writer)
        writer.field("project", project)
        writer.field("type", type)
        writer.raw(#","v":"#)
        writer.raw(Array(String(currentVersion).utf8))
        writer.raw("}")
        return writer.bytes
    }

    /// Encodes a message.
    public static func encode<Payload: Encodable>(
        type: String, project: String, id: String = UUID().uuidString.lowercased(), occurredAt: Date = Date(),
        payload: Payload
    ) throws -> [UInt8] {
        let outgoing = Outgoing(v: currentVersion, type: type, project: project, id: id,
                                occurred_at: Timestamp.format(occurredAt), payload: payload)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(outgoing))
    }
}

/// A message that cannot be read; the reason names the field.
public struct EnvelopeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
