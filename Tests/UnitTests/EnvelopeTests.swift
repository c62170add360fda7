import Domain
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

    /// The hand-written decoders of the tracker's batches give exactly what `Codable` gives:
    /// escapes, nulls, missing optional keys, unknown keys with nested values, any key order.
    @Test func trackedBatchesDecodeByHandExactlyAsCodableDoes() throws {
        let tricky = ["plain", "", "quote \" and \\ backslash", "tab\tnew\nline\r", "ёжик 😀", "\u{1}control", "/slash/"]
        var batch = TrackedBatch()
        for (index, text) in tricky.enumerated() {
            batch.visits.append(TrackedVisit(
                visitID: "v\(index)" + text, clientID: index % 2 == 0 ? nil : "c" + text, occurredAt: "2026-03-07T04:02:35.959388Z",
                landingURL: "https://school.example/?q=" + text, referrer: index % 3 == 0 ? nil : text, referrerHost: text, referrerKind: "none",
                utmSource: text, utmMedium: nil, utmCampaign: text, utmContent: text, utmTerm: index % 2 == 0 ? text : nil, clickID: nil,
                clickIDKind: nil, userAgent: text, traffic: "direct", receivedAt: "2026-03-07T04:02:36.000000Z"))
            batch.leads.append(TrackedLead(
                requestID: "r\(index)" + text, visitID: index % 2 == 0 ? "v" : nil, clientID: nil, occurredAt: "2026-03-07T04:02:35Z", kind: "form",
                phone: index % 2 == 0 ? "+79990000000" : nil, email: text, name: text, page: nil, product: text, receivedAt: "2026-03-07T04:02:35Z"))
        }
        let encoded = Array(try JSONEncoder().encode(batch))
        var reader = JSONReader(encoded)
        #expect(try TrackedBatch(json: &reader) == batch)
        let readAll = reader.isAtEnd()
        #expect(readAll)
        let envelope = try Envelope(decoding: try Envelope.encode(type: "events.tracked", project: "school", payload: batch))
        #expect(try envelope.payload(as: TrackedBatch.self) == batch)

        // Written by hand: spaces, \u escapes (a surrogate pair), nulls, keys missing or unknown.
        let text = #"""
            { "leads" : [ { "received_at":"2026-03-07T04:02:35Z", "kind":"call", "request_id":"r\u00e9\ud83d\ude00", "phone":null,
                            "extra": {"a": [1, -2.5e3, {"b": "}]\""}], "c": null}, "occurred_at":"2026-03-07T04:02:35Z", "email": "a\/b" } ],
              "unknown": [true, false, null, {}],
              "visits" : [ {"visit_id":"v","occurred_at":"2026-03-07T04:02:35.959388Z","landing_url":"https://x/","referrer_kind":"none",
                            "traffic":"direct","received_at":"2026-03-07T04:02:35.959388Z","client_id":null,"utm_term":"курсы"} ] }
            """#
        var handReader = JSONReader(Array(text.utf8))
        let byHand = try TrackedBatch(json: &handReader)
        let handReadAll = handReader.isAtEnd()
        #expect(handReadAll)
        #expect(byHand == (try JSONDecoder().decode(TrackedBatch.self, from: Data(text.utf8))))
        #expect(byHand.leads.first?.requestID == "ré😀")

        // What the fast path does not take, Codable names.
        for wrong in [#"{"visits":[{"visit_id":5}],"leads":[]}"#, #"{"visits":[]}"#, #"{"visits":[],"leads":[{"request_id":null}]}"#] {
            var wrongReader = JSONReader(Array(wrong.utf8))
            #expect(throws: JSONReader.Mismatch.self) { try TrackedBatch(json: &wrongReader) }
            let message = #"{"v":1,"type":"events.tracked","project":"p","id":"i","occurred_at":"2026-11-23T00:00:00Z","payload":"# + wrong + "}"
            let bad = try Envelope(decoding: Array(message.utf8))
            #expect {
                try bad.payload(as: TrackedBatch.self)
            } throws: { error in
                let reason = "\(error)"
                return reason.contains("payload") && (reason.contains("visit_id") || reason.contains("leads") || reason.contains("request_id"))
            }
        }
    }

    /// The hand-written encoder writes what `JSONEncoder` writes: the same JSON value (nil
    /// optionals left out, every control character escaped), read back equal by both decoders.
    @Test func trackedBatchesEncodeByHandAsCodableDoes() throws {
        let texts = ["plain", "", "quote \" and \\ backslash", "tab\tnew\nline\r", "ёжик 😀", "\u{1}\u{8}\u{C}\u{1F}control", "/slash/"]
        var batch = TrackedBatch()
        for (index, text) in texts.enumerated() {
            batch.visits.append(TrackedVisit(
                visitID: "v\(index)" + text, clientID: index % 2 == 0 ? nil : text, occurredAt: "2026-03-07T04:02:35.959388Z", landingURL: text,
                referrer: index % 3 == 0 ? nil : text, referrerKind: "none", utmSource: text, utmTerm: index % 2 == 0 ? text : nil,
                userAgent: text, traffic: "direct", receivedAt: "2026-03-07T04:02:36.000000Z"))
            batch.leads.append(TrackedLead(requestID: "r\(index)" + text, visitID: index % 2 == 0 ? text : nil, occurredAt: "2026-03-07T04:02:35Z",
                                           kind: "form", email: text, name: index % 3 == 0 ? nil : text, receivedAt: "2026-03-07T04:02:35Z"))
        }
        var writer = JSONWriter()
        batch.write(json: &writer)
        #expect(try JSONDecoder().decode(TrackedBatch.self, from: Data(writer.bytes)) == batch)
        #expect(try JSONValue.parse(writer.bytes) == JSONValue.parse(Array(try JSONEncoder().encode(batch))))

        let when = Date(timeIntervalSince1970: 1_795_000_000.25)
        let fast = Envelope.encode(type: "events.tracked", project: "school", id: "m-1", occurredAt: when, fast: batch)
        let codable = try Envelope.encode(type: "events.tracked", project: "school", id: "m-1", occurredAt: when, payload: batch)
        #expect(try JSONValue.parse(fast) == JSONValue.parse(codable))
        let envelope = try Envelope(decoding: fast)
        #expect(envelope.id == "m-1" && envelope.project == "school" && envelope.occurredAt == when)
        #expect(try envelope.payload(as: TrackedBatch.self) == batch)
    }
}
