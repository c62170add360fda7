import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Settings
import Testing

/// The identity resolver's store: visits and leads as accepted, first write wins.
@Suite struct IdentityStoreTests {
    static func envelope(_ type: String, project: String = "school", _ payload: some Encodable) throws -> Envelope {
        try Envelope(decoding: Envelope.encode(type: type, project: project, payload: payload))
    }

    @Test func repeatedVisitAndRequestIDsChangeNothing() async throws {
        let pool = PGPool(PGConfiguration(url: try await TestStack.freshDatabase()), logger: TestStack.logger)
        let visit = TrackedVisit(visitID: "v-1", clientID: "c-1", occurredAt: "2026-03-01T07:15:00.500000Z", landingURL: "https://school.example/",
                                 referrerKind: "none", utmSource: "yandex", utmMedium: "cpc", traffic: "paid", receivedAt: "2026-03-01T07:15:01Z")
        var again = visit
        again.landingURL = "https://school.example/other"
        again.utmSource = "vk"
        let lead = TrackedLead(requestID: "r-1", visitID: "v-1", occurredAt: "2026-03-01T07:20:00Z", kind: "form", phone: "+79991234567",
                               receivedAt: "2026-03-01T07:20:00Z")
        let handler = IdentityHandler(projects: [Project(id: "school", name: "School")])
        let first = try Self.envelope(ClusterTopology.eventsTracked, TrackedBatch(visits: [visit], leads: [lead]))
        // The same ids again, in the same batch and in a later one, with other data.
        let second = try Self.envelope(ClusterTopology.eventsTracked, TrackedBatch(visits: [again, again], leads: [lead]))
        struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
        let deals = try Self.envelope(ClusterTopology.dealChanged, Changed(connection: "amo", crm: "amocrm", deals: ["19001", "19002", "19001"]))
        try await pool.withTransaction { try await handler.handle([first, deals], on: $0, logger: TestStack.logger) }
        try await pool.withTransaction { try await handler.handle([second, deals], on: $0, logger: TestStack.logger) }
        let row = try await pool.query("SELECT count(*), max(utm_source), max(landing_url), max(occurred_at) FROM journey.visits")[0]
        #expect(try row.decode(Int.self, 0) == 1)
        #expect(try row.decode(String.self, 1) == "yandex")  // the first write stands
        #expect(try row.decode(String.self, 2) == "https://school.example/")
        #expect(try row.decode(Date.self, 3) == Timestamp.parse("2026-03-01T07:15:00.5Z"))
        #expect(try await pool.query("SELECT count(*) FROM journey.leads WHERE phone = '+79991234567' AND visit_id = 'v-1'")[0].decode(Int.self, 0) == 1)
        // Deal ids deal-sync never stored link to nothing and fail nothing.
        #expect(try await pool.query("SELECT count(*) FROM journey.deal_links")[0].decode(Int.self, 0) == 0)
        // A message the resolver does not take fails with the reason (and is dead-lettered by the runtime).
        let foreign = try Self.envelope("spend.updated", ["x": 1])
        await #expect(throws: EnvelopeError.self) { try await pool.withTransaction { try await handler.handle([foreign], on: $0, logger: TestStack.logger) } }
        await pool.close()
    }
}
