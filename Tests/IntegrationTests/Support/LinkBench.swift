import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Settings

/// A project's journey in a fresh database, fed to the identity handler message by message:
/// visits and leads as the tracker sends them, deals as deal-sync stores them.
struct LinkBench {
    let pool: PGPool
    let handler: IdentityHandler
    let project: String

    static let t0 = Timestamp.parse("2026-03-02T09:00:00Z")!

    static func make(_ linking: Linking = Linking(), project: String = "school") async throws -> LinkBench {
        let pool = PGPool(PGConfiguration(url: try await TestStack.freshDatabase()), logger: TestStack.logger)
        return LinkBench(pool: pool, handler: IdentityHandler(projects: [Project(id: project, name: project, linking: linking)]), project: project)
    }

    /// `t0` plus this many seconds, as the tracker sends it.
    static func at(_ seconds: Double) -> String { Timestamp.format(t0.addingTimeInterval(seconds)) }

    static func visit(_ id: String, client: String?, at seconds: Double, source: String? = nil) -> TrackedVisit {
        TrackedVisit(visitID: id, clientID: client, occurredAt: at(seconds), landingURL: "https://school.example/", referrerKind: "none",
                     utmSource: source, traffic: source == nil ? "direct" : "tagged", receivedAt: at(seconds))
    }

    static func lead(_ id: String, at seconds: Double, visit: String? = nil, client: String? = nil, phone: String? = nil, email: String? = nil) -> TrackedLead {
        TrackedLead(requestID: id, visitID: visit, clientID: client, occurredAt: at(seconds), kind: "form", phone: phone, email: email, receivedAt: at(seconds))
    }

    struct Deal: Sendable {
        var connection = "amo"
        var id: String
        var createdAt: Double
        var status = "won"
        var requestID: String?
        var visitID: String?
        var contacts: [(id: String, phones: [String], emails: [String])] = []
        var deleted = false
    }

    func send(visits: [TrackedVisit] = [], leads: [TrackedLead] = []) async throws {
        let envelope = try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: project,
                                                              payload: TrackedBatch(visits: visits, leads: leads)))
        try await handle([envelope])
    }

    /// Stores the deals as deal-sync would (deal and contacts), then hands the resolver their
    /// `deal.changed`.
    func send(deals: [Deal]) async throws {
        try await pool.withTransaction { connection in
            for deal in deals {
                for contact in deal.contacts {
                    try await connection.query("""
                        INSERT INTO crm.contacts (project_id, connection_id, contact_id, phones, emails) VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (project_id, connection_id, contact_id) DO UPDATE SET phones = EXCLUDED.phones, emails = EXCLUDED.emails
                        """, [project, deal.connection, contact.id, contact.phones, contact.emails])
                }
                let created = Self.t0.addingTimeInterval(deal.createdAt)
                try await connection.query("""
                    INSERT INTO crm.deals (project_id, connection_id, deal_id, crm, pipeline_id, stage_id, status, created_at, updated_at, amount,
                                           currency, contact_ids, visit_id, request_id, is_deleted)
                    VALUES ($1, $2, $3, 'amocrm', 'p1', 's1', $4, $5, $5, 1000, 'RUB', $6, $7, $8, $9)
                    ON CONFLICT (project_id, connection_id, deal_id) DO UPDATE SET status = EXCLUDED.status, contact_ids = EXCLUDED.contact_ids,
                        visit_id = EXCLUDED.visit_id, request_id = EXCLUDED.request_id, is_deleted = EXCLUDED.is_deleted
                    """, [project, deal.connection, deal.id, deal.status, created, deal.contacts.map(\.id), deal.visitID, deal.requestID, deal.deleted])
            }
        }
        struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
        var envelopes: [Envelope] = []
        for (connection, group) in Dictionary(grouping: deals, by: \.connection) {
            envelopes.append(try Envelope(decoding: Envelope.encode(type: ClusterTopology.dealChanged, project: project,
                                                                     payload: Changed(connection: connection, crm: "amocrm", deals: group.map(\.id)))))
        }
        try await handle(envelopes)
    }

    func handle(_ envelopes: [Envelope]) async throws {
        try await pool.withTransaction { try await handler.handle(envelopes, on: $0, logger: TestStack.logger) }
    }

    /// request id → its touches' visit ids (with the rule), in order.
    func touches() async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for row in try await pool.query("SELECT request_id, visit_id, rule FROM journey.touches ORDER BY request_id, position") {
            let rule = try row.decode(String.self, 2) == "own_visit" ? "*" : ""
            result[try row.decode(String.self, 0), default: []].append(try row.decode(String.self, 1) + rule)
        }
        return result
    }

    /// request id → the first lead of its duplicate chain.
    func duplicates() async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await pool.query("SELECT request_id, duplicate_of FROM journey.leads WHERE duplicate_of IS NOT NULL") {
            result[try row.decode(String.self, 0)] = try row.decode(String.self, 1)
        }
        return result
    }

    /// deal id → "lead rule" ("- none" for no lead).
    func dealLinks() async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await pool.query("SELECT connection_id || '/' || deal_id, coalesce(request_id, '-'), rule FROM journey.deal_links") {
            result[try row.decode(String.self, 0)] = try row.decode(String.self, 1) + " " + row.decode(String.self, 2)
        }
        return result
    }

    /// Leads and deals grouped by customer id.
    func customers() async throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for row in try await pool.query("""
            SELECT customer_id, 'l:' || request_id FROM journey.leads WHERE customer_id IS NOT NULL
            UNION ALL SELECT customer_id, 'd:' || connection_id || '/' || deal_id FROM journey.deal_links
            """) {
            result[try row.decode(String.self, 0), default: []].insert(try row.decode(String.self, 1))
        }
        return result
    }

    /// Every link the resolver stores, as sorted lines: equal snapshots mean equal links.
    func snapshot() async throws -> [String] {
        var lines: [String] = []
        for row in try await pool.query("""
            SELECT 'lead ' || request_id || ' client=' || coalesce(client_key, '-') || ' dup=' || coalesce(duplicate_of, '-') || ' customer=' || coalesce(customer_id, '-')
            FROM journey.leads
            UNION ALL SELECT 'touch ' || request_id || ' #' || position || ' ' || visit_id || ' ' || rule || ' ' || started_at FROM journey.touches
            UNION ALL SELECT 'deal ' || connection_id || '/' || deal_id || ' → ' || coalesce(request_id, '-') || ' ' || rule || ' customer=' || customer_id
            FROM journey.deal_links
            UNION ALL SELECT 'cut ' || key || ' ' || owners FROM journey.overloaded_keys
            """) {
            lines.append(try row.decode(String.self, 0))
        }
        return lines.sorted()
    }
}
