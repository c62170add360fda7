import Domain
import Foundation
import Logging
import Postgres
import Runtime

/// The identity resolver's consumer: stores the tracker's visits and leads (first write wins, so
/// a repeated `visit_id` / `request_id` changes nothing, and a redelivered message is harmless),
/// and notes the deals deal-sync changed for linking.
public struct IdentityHandler: BatchHandler {
    public init() {}

    public func handle(_ messages: [Envelope], on connection: PGConnection, logger: Logger) async throws {
        var visits: [(String, TrackedVisit)] = []
        var leads: [(String, TrackedLead)] = []
        var deals: [(String, String, String)] = []
        for envelope in messages {
            switch envelope.type {
            case ClusterTopology.eventsTracked:
                let batch = try envelope.payload(as: TrackedBatch.self)
                visits += batch.visits.map { (envelope.project, $0) }
                leads += batch.leads.map { (envelope.project, $0) }
            case ClusterTopology.dealChanged:
                struct Changed: Decodable { let connection: String; let deals: [String] }
                let changed = try envelope.payload(as: Changed.self)
                deals += changed.deals.map { (envelope.project, changed.connection, $0) }
            default:
                throw EnvelopeError("the identity resolver does not take \(envelope.type) messages")
            }
        }
        try await store(visits: visits, leads: leads, deals: deals, on: connection)
    }

    static func instant(_ text: String, _ field: String) throws -> Date {
        guard let date = Timestamp.parse(text) else { throw EnvelopeError("\(field) '\(text)' is not an RFC 3339 time") }
        return date
    }

    func store(visits: [(String, TrackedVisit)], leads: [(String, TrackedLead)], deals: [(String, String, String)], on connection: PGConnection) async throws {
        if !visits.isEmpty {
            // Checked before the COPY starts: a bad time fails the message, not half a write.
            let rows = try visits.map { project, visit in
                (project, visit, try Self.instant(visit.occurredAt, "occurred_at"), try Self.instant(visit.receivedAt, "received_at"))
            }
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.visits",
                columns: ["project_id", "visit_id", "client_id", "occurred_at", "landing_url", "referrer", "referrer_host", "referrer_kind",
                          "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id", "click_id_kind", "user_agent",
                          "traffic", "received_at"],
                mode: .insertNew(key: ["project_id", "visit_id"]))) { writer in
                var seen = Set<String>()
                for (project, visit, occurred, received) in rows where seen.insert(project + "\u{0}" + visit.visitID).inserted {
                    let values: [(any PGEncodable)?] = [
                        project, visit.visitID, visit.clientID, occurred, visit.landingURL, visit.referrer, visit.referrerHost, visit.referrerKind,
                        visit.utmSource, visit.utmMedium, visit.utmCampaign, visit.utmContent, visit.utmTerm, visit.clickID, visit.clickIDKind,
                        visit.userAgent, visit.traffic, received,
                    ]
                    for value in values { writer.field(value) }
                    try writer.endRow()
                }
            }
        }
        if !leads.isEmpty {
            let rows = try leads.map { project, lead in
                (project, lead, try Self.instant(lead.occurredAt, "occurred_at"), try Self.instant(lead.receivedAt, "received_at"))
            }
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.leads",
                columns: ["project_id", "request_id", "visit_id", "client_id", "occurred_at", "kind", "phone", "email", "name", "page", "product",
                          "received_at"],
                mode: .insertNew(key: ["project_id", "request_id"]))) { writer in
                var seen = Set<String>()
                for (project, lead, occurred, received) in rows where seen.insert(project + "\u{0}" + lead.requestID).inserted {
                    let values: [(any PGEncodable)?] = [
                        project, lead.requestID, lead.visitID, lead.clientID, occurred, lead.kind, lead.phone, lead.email, lead.name, lead.page,
                        lead.product, received,
                    ]
                    for value in values { writer.field(value) }
                    try writer.endRow()
                }
            }
        }
        if !deals.isEmpty {
            try await connection.query("""
                INSERT INTO journey.deals_to_link (project_id, connection_id, deal_id)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                """, [deals.map(\.0), deals.map(\.1), deals.map(\.2)])
        }
    }
}
