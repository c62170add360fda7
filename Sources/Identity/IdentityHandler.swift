import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Settings

/// The identity resolver's consumer: stores the tracker's visits and leads (first write wins, so
/// a repeated `visit_id` / `request_id` changes nothing, and a redelivered message is harmless),
/// then links what the batch can change (`LinkPass`) and publishes `attribution.dirty` with the
/// changed leads and days — all in the batch's transaction.
public struct IdentityHandler: BatchHandler {
    let settings: [String: LinkSettings]

    public init(projects: [Project]) {
        settings = Dictionary(projects.map { ($0.id, LinkSettings($0)) }, uniquingKeysWith: { first, _ in first })
    }

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
        for project in Set(visits.map(\.0) + leads.map(\.0) + deals.map(\.0)) where settings[project] == nil {
            throw EnvelopeError("project '\(project)' is not in the identity resolver's configuration")
        }
        let storedVisits = try await store(visits: visits, leads: leads, deals: deals, on: connection)
        var messages: [OutboxMessage] = []
        // Projects in a fixed order: a batch spanning projects takes their locks in one order.
        for project in Set(storedVisits.map(\.0) + leads.map(\.0) + deals.map(\.0)).sorted() {
            let pass = LinkPass(project: project, settings: settings[project]!, connection: connection)
            let changes = try await pass.run(
                visits: storedVisits.filter { $0.0 == project }.map { ($0.1, $0.2, $0.3) },
                leads: Array(Set(leads.filter { $0.0 == project }.map(\.1.requestID))),
                deals: Set(deals.filter { $0.0 == project }.map { "d:\($0.1)/\($0.2)" }).sorted().map { LinkPass.deal(ofOwner: $0) })
            messages += try Self.dirtyMessages(project: project, changes)
        }
        if !messages.isEmpty { try await Outbox.enqueue(messages, on: connection) }
    }

    /// `attribution.dirty` payload: the project's changed leads, orphan deals and days.
    public struct Dirty: Codable, Sendable, Equatable {
        public var leads: [String]
        public var deals: [String]
        public var days: [String]
    }

    static func dirtyMessages(project: String, _ changes: LinkChanges) throws -> [OutboxMessage] {
        guard !changes.days.isEmpty || !changes.leads.isEmpty || !changes.orphanDeals.isEmpty else { return [] }
        let leads = changes.leads.sorted()
        let deals = changes.orphanDeals.sorted()
        let days = changes.days.sorted().map(\.description)
        var messages: [OutboxMessage] = []
        // Chunks of at most 5,000 leads; every chunk carries all the days.
        var start = 0
        repeat {
            let slice = Array(leads[start..<min(leads.count, start + 5000)])
            let payload = Dirty(leads: slice, deals: start == 0 ? deals : [], days: days)
            let key = "\(project)|\(slice.joined(separator: ","))|\(payload.deals.joined(separator: ","))|\(days.joined(separator: ","))"
            messages.append(try OutboxMessage(
                exchange: ClusterTopology.exchange, routingKey: ClusterTopology.attributionDirty, type: ClusterTopology.attributionDirty,
                project: project, id: "attribution.dirty:\(project):\(FNV1a.hex(key)):\(Date().timeIntervalSince1970)", payload: payload))
            start += 5000
        } while start < leads.count
        return messages
    }

    static func instant(_ text: String, _ field: String) throws -> Date {
        guard let date = Timestamp.parse(text) else { throw EnvelopeError("\(field) '\(text)' is not an RFC 3339 time") }
        return date
    }

    /// Stores visits and leads (insert-new); returns each distinct visit's (project, id, client,
    /// start in µs).
    func store(visits: [(String, TrackedVisit)], leads: [(String, TrackedLead)], deals: [(String, String, String)], on connection: PGConnection)
        async throws -> [(String, String, String?, Int64)]
    {
        var stored: [(String, String, String?, Int64)] = []
        if !visits.isEmpty {
            // Checked before the COPY starts: a bad time fails the message, not half a write.
            var seenVisits = Set<String>()
            let rows = try visits.filter { seenVisits.insert($0.0 + "\u{0}" + $0.1.visitID).inserted }.map { project, visit in
                (project, visit, try Self.instant(visit.occurredAt, "occurred_at"), try Self.instant(visit.receivedAt, "received_at"))
            }
            stored = rows.map { ($0.0, $0.1.visitID, $0.1.clientID, Timestamp.micros($0.2)) }
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
        return stored
    }
}
