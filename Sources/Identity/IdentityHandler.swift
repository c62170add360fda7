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
        let stored = try await store(visits: visits, leads: leads, deals: deals, on: connection)
        var messages: [OutboxMessage] = []
        // Projects in a fixed order: a batch spanning projects takes their locks in one order.
        for project in Set(stored.visits.map(\.0) + leads.map(\.0) + deals.map(\.0)).sorted() {
            let pass = LinkPass(project: project, settings: settings[project]!, connection: connection)
            let changes = try await pass.run(
                visits: stored.visits.filter { $0.0 == project }.map { ($0.1, $0.2, $0.3) },
                leads: Array(Set(leads.filter { $0.0 == project }.map(\.1.requestID))),
                leadsWaitingForVisit: stored.leadsWaitingForVisit[project] ?? [],
                deals: Set(deals.filter { $0.0 == project }.map { "d:\($0.1)/\($0.2)" }).sorted().map { LinkPass.deal(ofOwner: $0) })
            messages += try Self.dirtyMessages(project: project, changes)
        }
        if !messages.isEmpty { try await Outbox.enqueue(messages, on: connection) }
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
    /// indices of `keys` (`project \0 id`, which sort as the pairs do), the first of each key
    /// kept. Replicas storing the same records then take their row locks in one order and wait
    /// for each other instead of deadlocking.
    static func distinctInKeyOrder(_ keys: [String]) -> [Int] {
        var entries = keys.enumerated().map { (key: $0.element, index: $0.offset) }
        entries.sort { a, b in
            if a.key == b.key { return a.index < b.index }
            return a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var distinct: [Int] = []
        distinct.reserveCapacity(entries.count)
        for position in entries.indices where position == 0 || entries[position - 1].key != entries[position].key {
            distinct.append(entries[position].index)
        }
        return distinct
    }

    /// Stores visits and leads (insert-new) and the leads' keys. A lead's client key is written
    /// with it: its posted client id, else its visit's when the visit is already stored.
    func store(visits: [(String, TrackedVisit)], leads: [(String, TrackedLead)], deals: [(String, String, String)], on connection: PGConnection)
        async throws -> Stored
    {
        var stored = Stored()
        if !visits.isEmpty {
            let order = Self.distinctInKeyOrder(visits.withUnsafeBufferPointer { buffer in buffer.indices.map { buffer[$0].0 + "\u{0}" + buffer[$0].1.visitID } })
            // Checked before the COPY starts: a bad time fails the message, not half a write.
            var times: [(occurred: Int64, received: Int64)] = []
            times.reserveCapacity(order.count)
            stored.visits.reserveCapacity(order.count)
            try visits.withUnsafeBufferPointer { buffer in
                for index in order {
                    let time = try Self.times(buffer[index].1.occurredAt, buffer[index].1.receivedAt)
                    times.append(time)
                    stored.visits.append((buffer[index].0, buffer[index].1.visitID, buffer[index].1.clientID, time.occurred))
                }
            }
            let copyTimes = times
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.visits",
                columns: ["project_id", "visit_id", "client_id", "occurred_at", "landing_url", "referrer", "referrer_host", "referrer_kind",
                          "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "click_id", "click_id_kind", "user_agent",
                          "traffic", "received_at"],
                // Binary: neither side formats or parses two timestamps per visit.
                mode: .insertNew(key: ["project_id", "visit_id"]), format: .binary)) { writer in
                // Through a buffer pointer: its elements are read in place (an array's subscript
                // copies the visit, 17 strings retained and released, for each field).
                try visits.withUnsafeBufferPointer { buffer in
                    for (position, index) in order.enumerated() {
                        writer.field(buffer[index].0)
                        writer.field(buffer[index].1.visitID)
                        writer.field(buffer[index].1.clientID)
                        writer.field(microseconds: copyTimes[position].occurred)
                        writer.field(buffer[index].1.landingURL)
                        writer.field(buffer[index].1.referrer)
                        writer.field(buffer[index].1.referrerHost)
                        writer.field(buffer[index].1.referrerKind)
                        writer.field(buffer[index].1.utmSource)
                        writer.field(buffer[index].1.utmMedium)
                        writer.field(buffer[index].1.utmCampaign)
                        writer.field(buffer[index].1.utmContent)
                        writer.field(buffer[index].1.utmTerm)
                        writer.field(buffer[index].1.clickID)
                        writer.field(buffer[index].1.clickIDKind)
                        writer.field(buffer[index].1.userAgent)
                        writer.field(buffer[index].1.traffic)
                        writer.field(microseconds: copyTimes[position].received)
                        try writer.endRow()
                    }
                }
            }
        }
        if !leads.isEmpty {
            let order = Self.distinctInKeyOrder(leads.map { $0.0 + "\u{0}" + $0.1.requestID })
            let times = try order.map { try Self.times(leads[$0].1.occurredAt, leads[$0].1.receivedAt) }
            // The visits the leads name, stored before or just above: a lead's client key is its
            // posted client id, else its visit's; a lead whose visit is missing waits for it.
            var visitClients: [String: String?] = [:]
            var byProject: [String: [Int]] = [:]
            for index in order { byProject[leads[index].0, default: []].append(index) }
            for (project, members) in byProject {
                let named = members.filter { leads[$0].1.visitID != nil }
                guard !named.isEmpty else { continue }
                for row in try await connection.query("SELECT visit_id, client_id FROM journey.visits WHERE project_id = $1 AND visit_id = ANY($2)",
                                                      [project, Array(Set(named.map { leads[$0].1.visitID! }))]) {
                    visitClients[project + "\u{0}" + (try row.decode(String.self, 0))] = .some(try row.decode(String?.self, 1))
                }
                let waiting = named.filter { visitClients[project + "\u{0}" + leads[$0].1.visitID!] == nil }.map { leads[$0].1.requestID }
                if !waiting.isEmpty { stored.leadsWaitingForVisit[project] = waiting }
            }
            let clients = visitClients
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "journey.leads",
                columns: ["project_id", "request_id", "visit_id", "client_id", "occurred_at", "kind", "phone", "email", "name", "page", "product",
                          "received_at", "client_key", "visit_pending"],
                mode: .insertNew(key: ["project_id", "request_id"]), format: .binary)) { writer in
                for (position, index) in order.enumerated() {
                    let (project, lead) = leads[index]
                    writer.field(project)
                    writer.field(lead.requestID)
                    writer.field(lead.visitID)
                    writer.field(lead.clientID)
                    writer.field(microseconds: times[position].occurred)
                    writer.field(lead.kind)
                    writer.field(lead.phone)
                    writer.field(lead.email)
                    writer.field(lead.name)
                    writer.field(lead.page)
                    writer.field(lead.product)
                    writer.field(microseconds: times[position].received)
                    var visitClient: String?
                    var pending = false
                    if let visitID = lead.visitID {
                        if let known = clients[project + "\u{0}" + visitID] { visitClient = known } else { pending = true }
                    }
                    writer.field(lead.clientID ?? visitClient)
                    writer.field(pending)
                    try writer.endRow()
                }
            }
            // Their keys, before the linking pass takes the project's lock: inserting them is
            // a third of the pass's work and needs nobody else's results.
            for (project, members) in byProject.sorted(by: { $0.key < $1.key }) {
                try await LinkPass.insertKeys(ofLeads: members.map { leads[$0].1.requestID }, project: project, on: connection)
            }
        }
        return stored
    }
}
