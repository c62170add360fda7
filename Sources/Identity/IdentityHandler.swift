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
        var incoming = Incoming()
        var deals: [(String, String, String)] = []
        for envelope in messages {
            switch envelope.type {
            case ClusterTopology.eventsTracked:
                let batch = try envelope.payload(as: TrackedBatch.self)
                incoming.visitProjects.append(contentsOf: repeatElement(envelope.project, count: batch.visits.count))
                incoming.visits.append(contentsOf: batch.visits)
                incoming.leadProjects.append(contentsOf: repeatElement(envelope.project, count: batch.leads.count))
                incoming.leads.append(contentsOf: batch.leads)
            case ClusterTopology.dealChanged:
                struct Changed: Decodable { let connection: String; let deals: [String] }
                let changed = try envelope.payload(as: Changed.self)
                deals += changed.deals.map { (envelope.project, changed.connection, $0) }
            default:
                throw EnvelopeError("the identity resolver does not take \(envelope.type) messages")
            }
        }
        let projects = Set(incoming.visitProjects).union(incoming.leadProjects).union(deals.map(\.0))
        for project in projects where settings[project] == nil {
            throw EnvelopeError("project '\(project)' is not in the identity resolver's configuration")
        }
        try await LinkPass.tune(connection)
        let stored = try await store(incoming, on: connection)
        var messages: [OutboxMessage] = []
        // Projects in a fixed order: a batch spanning projects takes their locks in one order.
        for project in projects.sorted() {
            let pass = LinkPass(project: project, settings: settings[project]!, connection: connection)
            var leads = Set<String>()
            for index in incoming.leads.indices where incoming.leadProjects[index] == project { leads.insert(incoming.leads[index].requestID) }
            let changes = try await pass.run(
                visits: stored.visits.filter { $0.0 == project }.map { ($0.1, $0.2, $0.3) },
                leads: Array(leads),
                leadsWaitingForVisit: stored.leadsWaitingForVisit[project] ?? [],
                deals: Set(deals.filter { $0.0 == project }.map { "d:\($0.1)/\($0.2)" }).sorted().map { LinkPass.deal(ofOwner: $0) })
            messages += try Self.dirtyMessages(project: project, changes)
        }
        if !messages.isEmpty { try await Outbox.enqueue(messages, on: connection) }
    }

    /// A batch's tracked records, each with its project at the same index: the records stay in
    /// the arrays their messages decoded, and are read in place from there (a tuple of project
    /// and record was copied whole, 17 strings retained and released, on every field access).
    struct Incoming {
        var visitProjects: [String] = []
        var visits: [TrackedVisit] = []
        var leadProjects: [String] = []
        var leads: [TrackedLead] = []
    }

    /// `attribution.dirty` payload: the project's changed leads, orphan deals and days, and which
    /// of those days changed only in their deals (`deal_days`; absent: none).
    public struct Dirty: Codable, Sendable, Equatable {
        public var leads: [String]
        public var deals: [String]
        public var days: [String]
        public var dealDays: [String]?

        public init(leads: [String], deals: [String], days: [String], dealDays: [String]? = nil) {
            self.leads = leads
            self.deals = deals
            self.days = days
            self.dealDays = dealDays
        }

        enum CodingKeys: String, CodingKey {
            case leads, deals, days
            case dealDays = "deal_days"
        }
    }

    static func dirtyMessages(project: String, _ changes: LinkChanges) throws -> [OutboxMessage] {
        guard !changes.days.isEmpty || !changes.leads.isEmpty || !changes.orphanDeals.isEmpty else { return [] }
        let leads = changes.leads.sorted()
        let deals = changes.orphanDeals.sorted()
        let days = changes.days.sorted().map(\.description)
        let dealDays = changes.dealDays.isEmpty ? nil : changes.dealDays.sorted().map(\.description)
        var messages: [OutboxMessage] = []
        // Chunks of at most 5,000 leads; every chunk carries all the days.
        var start = 0
        repeat {
            let slice = Array(leads[start..<min(leads.count, start + 5000)])
            let payload = Dirty(leads: slice, deals: start == 0 ? deals : [], days: days, dealDays: dealDays)
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

    /// A record's `occurred_at` and `received_at` in µs, checked before any COPY starts (a bad
    /// time fails the message, not half a write).
    static func times(_ occurred: String, _ received: String) throws -> (occurred: Int64, received: Int64) {
        (Timestamp.micros(try instant(occurred, "occurred_at")), Timestamp.micros(try instant(received, "received_at")))
    }

    /// What `store` wrote: each distinct visit's (project, id, client, start in µs), and per
    /// project the leads whose visit was not stored (yet): their client key and own-visit touch
    /// wait for it, and it may be in a batch committing at the same time.
    struct Stored {
        var visits: [(String, String, String?, Int64)] = []
        var leadsWaitingForVisit: [String: [String]] = [:]
    }

    /// The distinct (project, id) records in key order, bytewise (the columns are `COLLATE "C"`):
    /// indices `0..<count`, ordered by project then id, the first of each key kept. Replicas
    /// storing the same records then take their row locks in one order and wait for each other
    /// instead of deadlocking.
    static func distinctInKeyOrder(count: Int, project: (Int) -> String, id: (Int) -> String) -> [Int] {
        var indices = Array(0..<count)
        func order(_ a: Int, _ b: Int) -> Int {
            let byProject = Bytewise.compare(project(a), project(b))
            return byProject != 0 ? byProject : Bytewise.compare(id(a), id(b))
        }
        indices.sort { a, b in
            let byKey = order(a, b)
            return byKey != 0 ? byKey < 0 : a < b
        }
        var distinct: [Int] = []
        distinct.reserveCapacity(count)
        for position in indices.indices where position == 0 || order(indices[position - 1], indices[position]) != 0 {
            distinct.append(indices[position])
        }
        return distinct
    }

    /// Stores visits and leads (insert-new) and the leads' keys. A lead's client key is written
    /// with it: its posted client id, else its visit's when the visit is already stored.
    func store(_ incoming: Incoming, on connection: PGConnection) async throws -> Stored {
        var stored = Stored()
        let visits = incoming.visits, visitProjects = incoming.visitProjects
        if !visits.isEmpty {
            let order = Self.distinctInKeyOrder(count: visits.count, project: { visitProjects[$0] }, id: { visits[$0].visitID })
            // Checked before the COPY starts: a bad time fails the message, not half a write.
            var times: [(occurred: Int64, received: Int64)] = []
            times.reserveCapacity(order.count)
            stored.visits.reserveCapacity(order.count)
            for index in order {
                let time = try Self.times(visits[index].occurredAt, visits[index].receivedAt)
                times.append(time)
                stored.visits.append((visitProjects[index], visits[index].visitID, visits[index].clientID, time.occurred))
            }
            let copyTimes = times
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.visits",
                columns: TrackedVisit.copyColumns,
                // Binary: neither side formats or parses two timestamps per visit.
                mode: .insertNew(key: ["project_id", "visit_id"]), format: .binary)) { writer in
                for (position, index) in order.enumerated() {
                    try visits[index].writeRow(project: visitProjects[index], occurred: copyTimes[position].occurred,
                                               received: copyTimes[position].received, to: writer)
                }
            }
        }
        let leads = incoming.leads, leadProjects = incoming.leadProjects
        if !leads.isEmpty {
            let order = Self.distinctInKeyOrder(count: leads.count, project: { leadProjects[$0] }, id: { leads[$0].requestID })
            let times = try order.map { try Self.times(leads[$0].occurredAt, leads[$0].receivedAt) }
            // The visits the leads name, stored before or just above: a lead's client key is its
            // posted client id, else its visit's; a lead whose visit is missing waits for it.
            var visitClients: [String: String?] = [:]
            var byProject: [String: [Int]] = [:]
            for index in order { byProject[leadProjects[index], default: []].append(index) }
            for (project, members) in byProject {
                let named = members.filter { leads[$0].visitID != nil }
                guard !named.isEmpty else { continue }
                for row in try await connection.query("SELECT visit_id, client_id FROM journey.visits WHERE project_id = $1 AND visit_id = ANY($2)",
                                                      [project, Array(Set(named.map { leads[$0].visitID! }))]) {
                    visitClients[project + "\u{0}" + (try row.decode(String.self, 0))] = .some(try row.decode(String?.self, 1))
                }
                let waiting = named.filter { visitClients[project + "\u{0}" + leads[$0].visitID!] == nil }.map { leads[$0].requestID }
                if !waiting.isEmpty { stored.leadsWaitingForVisit[project] = waiting }
            }
            let clients = visitClients
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.leads",
                columns: ["project_id", "request_id", "visit_id", "client_id", "occurred_at", "kind", "phone", "email", "name", "page", "product",
                          "received_at", "client_key", "visit_pending"],
                mode: .insertNew(key: ["project_id", "request_id"]), format: .binary)) { writer in
                for (position, index) in order.enumerated() {
                    let project = leadProjects[index]
                    var visitClient: String?
                    var pending = false
                    if let visitID = leads[index].visitID {
                        if let known = clients[project + "\u{0}" + visitID] { visitClient = known } else { pending = true }
                    }
                    try leads[index].writeRow(project: project, occurred: times[position].occurred, received: times[position].received,
                                              clientKey: leads[index].clientID ?? visitClient, visitPending: pending, to: writer)
                }
            }
            // Their keys, before the linking pass takes the project's lock: inserting them is
            // a third of the pass's work and needs nobody else's results.
            for (project, members) in byProject.sorted(by: { $0.key < $1.key }) {
                try await LinkPass.insertKeys(ofLeads: members.map { leads[$0].requestID }, project: project, on: connection)
            }
        }
        return stored
    }
}

// One COPY row per record, written by a method on the record: its fields are read where the
// array holds it, without copying the record.
extension TrackedVisit {
    static let copyColumns = [
        "project_id", "visit_id", "client_id", "occurred_at", "landing_url", "referrer", "referrer_host", "referrer_kind",
        "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id", "click_id_kind", "user_agent",
        "traffic", "received_at",
    ]

    func writeRow(project: String, occurred: Int64, received: Int64, to writer: PGCopyWriter) throws {
        writer.field(project)
        writer.field(visitID)
        writer.field(clientID)
        writer.field(microseconds: occurred)
        writer.field(landingURL)
        writer.field(referrer)
        writer.field(referrerHost)
        writer.field(referrerKind)
        writer.field(utmSource)
        writer.field(utmMedium)
        writer.field(utmCampaign)
        writer.field(utmContent)
        writer.field(utmTerm)
        writer.field(clickID)
        writer.field(clickIDKind)
        writer.field(userAgent)
        writer.field(traffic)
        writer.field(microseconds: received)
        try writer.endRow()
    }
}

extension TrackedLead {
    func writeRow(project: String, occurred: Int64, received: Int64, clientKey: String?, visitPending: Bool, to writer: PGCopyWriter) throws {
        writer.field(project)
        writer.field(requestID)
        writer.field(visitID)
        writer.field(clientID)
        writer.field(microseconds: occurred)
        writer.field(kind)
        writer.field(phone)
        writer.field(email)
        writer.field(name)
        writer.field(page)
        writer.field(product)
        writer.field(microseconds: received)
        writer.field(clientKey)
        writer.field(visitPending)
        try writer.endRow()
    }
}
