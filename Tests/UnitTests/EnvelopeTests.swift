import Foundation
import Runtime
import Testing

@Suite struct EnvelopeTests {
    struct Visit: Codable, Equatable { let visit_id: String }

    @Test func roundTripWithABatchPayload() throws {
        let visits = (0..<3000).map { Visit(visit_id: "v\($0)") }
        let bytes = try Envelope.encode(type: "visits.recorded", project: "school", id: "batch-1",
                                        occurredAt: Date(timeIntervalSince1970: 1_795_000_000), payload: visits)
        let envelope = try Envelope(decoding: bytes)
        #expect(envelope.type == "visits.recorded")
        #expect(envelope.project == "school")
        #expect(envelope.id == "batch-1")
        #expect(envelope.occurredAt == Date(timeIntervalSince1970: 1_795_000_000))
        #expect(try envelope.payload(as: [Visit].self) == visits)
    }

    @Test func undecodableMessagesNameTheProblem() {
        func reason(_ text: String) -> String {
            do { _ = try Envelope(decoding: Array(text.utf8)); return "" } catch { return "\(error)" }
        }
        #expect(reason("not json").contains("JSON"))
        #expect(reason(#"{"v":1,"type":"t","project":"p","occurred_at":"2026-11-23T00:00:00Z","payload":{}}"#).contains("id"))
        #expect(reason(#"{"v":2,"type":"t","project":"p","id":"i","occurred_at":"2026-11-23T00:00:00Z"}"#).contains("version"))
        #expect(reason(#"{"v":1,"type":"t","project":"P Q","id":"i","occurred_at":"2026-11-23T00:00:00Z"}"#).contains("project"))
        #expect(reason(#"{"v":1,"type":"t","project":"p","id":"i","occurred_at":"2026-11-23"}"#).contains("occurred_at"))
        let envelope = try? Envelope(decoding: Array(#"{"v":1,"type":"t","project":"p","id":"i","occurred_at":"2026-11-23T00:00:00Z","payload":{"visit_id":5}}"#.utf8))
        #expect(throws: EnvelopeError.self) { try envelope?.payload(as: Visit.self) }
    }
}
