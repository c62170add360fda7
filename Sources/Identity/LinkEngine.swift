import Domain
import Foundation
import Postgres
import Runtime
import Settings

/// A project's linking settings in the units the linker works in.
public struct LinkSettings: Sendable {
    public var lookbackSeconds: Int64
    public var duplicateWindowSeconds: Int64
    public var contactWindowSeconds: Int64
    public var contactMaxAgeSeconds: Int64?
    public var customerCap: Int
    /// `p:+7…` / `e:…` keys that never link anything.
    public var blockedKeys: Set<String>
    public var timeZone: TimeZone

    public init(_ project: Project) {
        let linking = project.linking
        lookbackSeconds = Int64(linking.lookbackDays) * 86_400
        duplicateWindowSeconds = Int64(linking.duplicateWindowHours) * 3600
        contactWindowSeconds = Int64(linking.contactWindowMinutes) * 60
        contactMaxAgeSeconds = linking.contactMaxAgeDays.map { Int64($0) * 86_400 }
        customerCap = linking.customerCap
        blockedKeys = linking.blockedKeys
        timeZone = TimeZone(identifier: project.timeZone) ?? TimeZone(identifier: "UTC")!
    }
}

/// What one linking pass changed, for `attribution.dirty`.
struct LinkChanges {
    /// Leads whose touches, duplicate flag, customer or deals changed.
    var leads = Set<String>()
    /// Deals (`connection/deal`) that link to no lead and changed: orphan revenue sits on their day.
    var orphanDeals = Set<String>()
    /// Days (project time zone) whose figures may have changed.
    var days = Set<LocalDay>()
    /// The changed leads whose own row (duplicate flag, customer) or touches changed — not only
    /// their deals.
    var journeyLeads = Set<String>()
    /// The days of `days` where only deals changed (a changed lead's deals, an orphan deal): the
    /// aggregator can recompute them from its stored credits, visits untouched.
    var dealDays = Set<LocalDay>()
}

/// The linking pass of one project for one batch, inside the batch's transaction.
///
/// Everything the batch can change lies in the connected component, over shared keys, of the
/// batch's leads and deals (duplicates chain along phones, e-mails and visits; deals find leads
/// by request id, visit and contact; customers are those components), plus the touches of the
/// leads whose client id gained visits. The pass finds that component in `journey.keys`, loads
/// its leads and deals, recomputes everything with `Linker` and writes what differs. Passes of a
/// project are serialised by a transaction-level advisory lock taken before anything is read, so
/// each sees every earlier pass's commit: two replicas produce exactly what one does.
struct LinkPass {
    let project: String
    let settings: LinkSettings
    let connection: PGConnection

    /// Runs the pass for the batch's new visits (id, client id, start in µs), leads (request
    /// ids; `leadsWaitingForVisit`: those whose visit was not stored when they were) and deals
    /// (connection, deal id).
    func run(visits: [(id: String, client: String?, start: Int64)], leads: [String], leadsWaitingForVisit: [String] = [],
             deals: [(connection: String, id: String)]) async throws -> LinkChanges {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 18))", ["identity-link:" + project])
        var changes = LinkChanges()
        for visit in visits { changes.days.insert(day(visit.start)) }

        // 1. Leads whose visit arrived: it gives them their client key when they posted none
        // (definition 3) and their own-visit touch. Under the project's lock, leads still waiting
        // are matched with the visits now visible — found through the batch's visits (a small
        // partial index) and through the batch's own waiting leads (their visit may have been
        // committed by another batch meanwhile).
        let visitIDs = visits.map(\.id)
        var rekeyed: [String] = []
        var visitArrived: [String] = []
        // First the waiting leads whose visit is now stored, each visit found by primary key;
        // then the update, joined to that list. As one `UPDATE … FROM journey.visits` the plan
        // hung on the statistics: they say almost no lead waits (the partial index is nearly
        // empty when ANALYZE samples it), and with a webinar's 7,000 waiting leads in one batch
        // the planner's nested loop rescanned the 3,500-row subquery 7,000 times (4.4 s).
        var arrivedClients: [String?] = []
        for row in try await connection.query("""
            SELECT w.request_id, w.client_id IS NULL AND v.client_id IS NOT NULL, v.client_id
            FROM (SELECT request_id, visit_id, client_id FROM journey.leads WHERE project_id = $1 AND visit_pending AND visit_id = ANY($3)
                  UNION SELECT request_id, visit_id, client_id FROM journey.leads WHERE project_id = $1 AND visit_pending AND request_id = ANY($2)) AS w
            CROSS JOIN LATERAL (SELECT v.client_id FROM journey.visits v
                                WHERE v.project_id = $1 AND v.visit_id = w.visit_id LIMIT 1) AS v
            """, [project, leadsWaitingForVisit, visitIDs]) {
            let id = try row.decode(String.self, 0)
            visitArrived.append(id)
            if try row.decode(Bool.self, 1) { rekeyed.append(id) }
            arrivedClients.append(try row.decode(String?.self, 2))
        }
        if !visitArrived.isEmpty {
            try await connection.query("""
                UPDATE journey.leads l SET visit_pending = false, client_key = COALESCE(l.client_key, u.client_id)
                FROM unnest($2::text[], $3::text[]) AS u(request_id, client_id)
                WHERE l.project_id = $1 AND l.request_id = u.request_id AND l.visit_pending
                """, [project, visitArrived, PGNullableArray(arrivedClients)])
        }

        // 2. Keys of the leads that gained a client id (the batch's own leads got theirs when
        // they were stored).
        let keyedLeads = Array(Set(leads).union(rekeyed))
        if !rekeyed.isEmpty { try await Self.insertKeys(ofLeads: rekeyed, project: project, on: connection) }
        // Keys of the batch's deals: replaced (a contact's phone can change); the old ones
        // still say where the deal used to belong.
        var seedKeys = Set<String>()
        var seedOwners = Set(keyedLeads.map { "l:" + $0 })
        let dealOwners = deals.map { "d:\($0.connection)/\($0.id)" }
        seedOwners.formUnion(dealOwners)
        if !deals.isEmpty {
            for row in try await connection.query("DELETE FROM journey.keys WHERE project_id = $1 AND owner = ANY($2) AND owner LIKE 'd:%' RETURNING key",
                                                  [project, dealOwners]) {
                seedKeys.insert(try row.decode(String.self, 0))
            }
            try await connection.query("""
                INSERT INTO journey.keys (project_id, key, owner)
                SELECT DISTINCT d.project_id, x.key, 'd:' || d.connection_id || '/' || d.deal_id
                FROM unnest($2::text[], $3::text[]) AS w(connection_id, deal_id)
                -- Deal by deal and contact by contact on the primary key, whatever the planner
                -- knows: deal-sync may have written 100,000 deals a moment ago, before any
                -- ANALYZE, and a join planned without statistics hashed all of a connection's
                -- contacts for every deal (24 s for 1,000 deals). `LIMIT 1` (a primary key finds
                -- one row at most) keeps the planner from flattening each lookup into a join.
                CROSS JOIN LATERAL (SELECT * FROM crm.deals d
                                    WHERE d.project_id = $1 AND d.connection_id = w.connection_id AND d.deal_id = w.deal_id LIMIT 1) AS d
                CROSS JOIN LATERAL (
                    SELECT 'r:' || NULLIF(btrim(d.request_id), '')
                    UNION ALL SELECT 'v:' || NULLIF(btrim(d.visit_id), '')
                    UNION ALL SELECT 'k:' || d.connection_id || '/' || cid FROM unnest(d.contact_ids) AS cid
                    UNION ALL SELECT y.key FROM unnest(d.contact_ids) AS cid
                              CROSS JOIN LATERAL (SELECT c.phones, c.emails FROM crm.contacts c
                                                  WHERE c.project_id = d.project_id AND c.connection_id = d.connection_id AND c.contact_id = cid
                                                  LIMIT 1) AS c
                              CROSS JOIN LATERAL (SELECT 'p:' || p FROM unnest(c.phones) AS p UNION ALL SELECT 'e:' || e FROM unnest(c.emails) AS e) AS y(key)
                ) AS x(key)
                WHERE d.project_id = $1 AND NOT d.is_deleted AND x.key IS NOT NULL
                ON CONFLICT DO NOTHING
                """, [project, deals.map(\.connection), deals.map(\.id)])
        }

        // 3. The component: every record reachable from the batch over unblocked keys.
        // A lead's request-id key (`r:`) is its owner id and is not stored: a deal naming a
        // request id reaches `l:<id>` directly.
        var ownerKeys: [String: [String]] = [:]
        for owner in seedOwners { ownerKeys[owner] = Self.unstoredKeys(of: owner) }
        for row in try await connection.query("SELECT f.owner, k.key FROM unnest($2::text[]) AS f(owner) CROSS JOIN \(Self.keysOfOwner)",
                                              [project, Array(seedOwners)]) {
            let (owner, key) = (try row.decode(String.self, 0), try row.decode(String.self, 1))
            ownerKeys[owner, default: []].append(key)
        }
        for keys in ownerKeys.values { seedKeys.formUnion(keys) }
        var seenKeys = Set<String>()
        var frontier = seedKeys.subtracting(settings.blockedKeys)
        while !frontier.isEmpty {
            seenKeys.formUnion(frontier)
            let named = frontier.filter { $0.hasPrefix("r:") }.map { String($0.dropFirst(2)) }
            let rows = try await connection.query("""
                WITH reached AS (
                    SELECT owner FROM journey.keys WHERE project_id = $1 AND key = ANY($2)
                    UNION SELECT 'l:' || request_id FROM journey.leads WHERE project_id = $1 AND request_id = ANY($4))
                SELECT f.owner, k.key FROM reached AS f
                LEFT JOIN \(Self.keysOfOwner) ON true
                WHERE NOT (f.owner = ANY($3))
                """, [project, Array(frontier), Array(ownerKeys.keys), named])
            var reached: [String: [String]] = [:]
            for row in rows {
                let owner = try row.decode(String.self, 0)
                if reached[owner] == nil { reached[owner] = Self.unstoredKeys(of: owner) }
                if let key = try row.decode(String?.self, 1) { reached[owner]!.append(key) }
            }
            frontier = []
            for (owner, keys) in reached {
                ownerKeys[owner] = keys
                for key in keys where !seenKeys.contains(key) && !settings.blockedKeys.contains(key) { frontier.insert(key) }
            }
        }

        // 4. Its leads and deals as stored, with their current results.
        let leadIDs = ownerKeys.keys.filter { $0.hasPrefix("l:") }.map { String($0.dropFirst(2)) }
        var stored: [String: StoredLead] = [:]
        for row in try await connection.query("""
            SELECT request_id, (extract(epoch FROM occurred_at) * 1000000)::int8, visit_id, client_key, phone, email, duplicate_of, customer_id
            FROM journey.leads WHERE project_id = $1 AND request_id = ANY($2)
            """, [project, leadIDs]) {
            let lead = Linker.Lead(
                requestID: try row.decode(String.self, 0), occurredAt: try row.decode(Int64.self, 1), visitID: try row.decode(String?.self, 2),
                clientID: try row.decode(String?.self, 3), phone: try row.decode(String?.self, 4).flatMap { settings.blockedKeys.contains("p:" + $0) ? nil : $0 },
                email: try row.decode(String?.self, 5).flatMap { settings.blockedKeys.contains("e:" + $0) ? nil : $0 })
            stored[lead.requestID] = StoredLead(lead: lead, duplicateOf: try row.decode(String?.self, 6), customer: try row.decode(String?.self, 7))
        }
        let dealKeys = ownerKeys.keys.filter { $0.hasPrefix("d:") }
        var storedDeals: [String: StoredDeal] = [:]
        if !dealKeys.isEmpty {
            let pairs = dealKeys.map { Self.deal(ofOwner: $0) }
            for row in try await connection.query("""
                SELECT d.connection_id, d.deal_id, (extract(epoch FROM d.created_at) * 1000000)::int8, d.is_deleted,
                       l.request_id, l.rule, l.customer_id
                FROM unnest($2::text[], $3::text[]) AS w(connection_id, deal_id)
                -- On the primary keys whatever the statistics (see the deal keys above).
                CROSS JOIN LATERAL (SELECT * FROM crm.deals d
                                    WHERE d.project_id = $1 AND d.connection_id = w.connection_id AND d.deal_id = w.deal_id LIMIT 1) AS d
                LEFT JOIN LATERAL (SELECT * FROM journey.deal_links l
                                   WHERE l.project_id = d.project_id AND l.connection_id = d.connection_id AND l.deal_id = d.deal_id
                                   LIMIT 1) AS l ON true
                """, [project, pairs.map(\.0), pairs.map(\.1)]) {
                let owner = "d:\(try row.decode(String.self, 0))/\(try row.decode(String.self, 1))"
                let keys = ownerKeys[owner] ?? []
                func values(_ prefix: String) -> [String] {
                    keys.filter { $0.hasPrefix(prefix) && !settings.blockedKeys.contains($0) }.map { String($0.dropFirst(2)) }.sorted()
                }
                let deal = Linker.Deal(dealID: owner, createdAt: try row.decode(Int64.self, 2), requestID: values("r:").first, visitID: values("v:").first,
                                       phones: values("p:"), emails: values("e:"))
                storedDeals[owner] = StoredDeal(
                    deal: deal, deleted: try row.decode(Bool.self, 3), lead: try row.decode(String?.self, 4), rule: try row.decode(String?.self, 5),
                    customer: try row.decode(String?.self, 6))
            }
        }

        // 5. Recompute: duplicates, deal → lead, customers.
        let leadsInComponent = stored.values.map(\.lead)
        let duplicates = Linker.duplicates(leadsInComponent, windowSeconds: settings.duplicateWindowSeconds)
        let index = Linker.LeadIndex(leadsInComponent, duplicates: duplicates)
        var dealLinks: [String: (requestID: String, rule: Linker.Rule)?] = [:]
        for (owner, deal) in storedDeals where !deal.deleted {
            dealLinks[owner] = Linker.lead(of: deal.deal, in: index, nearSeconds: settings.contactWindowSeconds,
                                           maxAgeSeconds: settings.contactMaxAgeSeconds)
        }
        let records = ownerKeys.filter { owner, _ in
            owner.hasPrefix("l:") ? stored[String(owner.dropFirst(2))] != nil : !(storedDeals[owner]?.deleted ?? true)
        }.map { (id: $0.key, keys: $0.value.filter { !settings.blockedKeys.contains($0) }) }
        let (component, cut) = Linker.customers(records, cap: settings.customerCap)
        var groups: [Int: [Int]] = [:]
        for index in records.indices { groups[component[index], default: []].append(index) }
        var customerOf: [String: String] = [:]
        for (_, members) in groups {
            let ids = members.map { records[$0].id }
            // The customer's id: its first non-duplicate lead's request id (its acquisition), else
            // its bytewise-first deal.
            // (A duplicate cut off from its chain's first lead by the cap falls back to its own.)
            let memberLeads = ids.compactMap { $0.hasPrefix("l:") ? stored[String($0.dropFirst(2))]?.lead : nil }
            let firstLead = memberLeads.filter { duplicates[$0.requestID] == nil }.min(by: Linker.precedes) ?? memberLeads.min(by: Linker.precedes)
            let firstDeal = ids.filter { $0.hasPrefix("d:") }.min { Bytewise.precedes($0, $1) }
            let name = firstLead.map(\.requestID) ?? "deal:" + String(firstDeal?.dropFirst(2) ?? "")
            for id in ids { customerOf[id] = name }
        }

        // 6. Write what differs.
        var leadUpdates: [(String, String?, String?)] = []
        for (id, lead) in stored {
            let duplicateOf = duplicates[id]
            let customer = customerOf["l:" + id]
            if lead.duplicateOf != duplicateOf || lead.customer != customer {
                leadUpdates.append((id, duplicateOf, customer))
                changes.leads.insert(id)
                changes.journeyLeads.insert(id)
            }
        }
        if !leadUpdates.isEmpty {
            try await connection.query("""
                UPDATE journey.leads l SET duplicate_of = u.duplicate_of, customer_id = u.customer_id
                FROM unnest($2::text[], $3::text[], $4::text[]) AS u(request_id, duplicate_of, customer_id)
                WHERE l.project_id = $1 AND l.request_id = u.request_id
                """, [project, leadUpdates.map(\.0), PGNullableArray(leadUpdates.map(\.1)), PGNullableArray(leadUpdates.map(\.2))])
        }
        var linkRows: [(connection: String, deal: String, lead: String?, rule: String, customer: String)] = []
        var unlinked: [(String, String)] = []
        let batchDeals = Set(dealOwners)
        for (owner, deal) in storedDeals {
            let (connectionID, dealID) = Self.deal(ofOwner: owner)
            let body = "\(connectionID)/\(dealID)"
            if deal.deleted {
                guard deal.rule != nil else { continue }
                unlinked.append((connectionID, dealID))
                if let lead = deal.lead { changes.leads.insert(lead) } else { changes.orphanDeals.insert(body); changes.days.insert(day(deal.deal.createdAt)) }
                continue
            }
            let link = dealLinks[owner] ?? nil
            let rule = link?.rule.rawValue ?? "none"
            let customer = customerOf[owner]!
            let changed = deal.lead != link?.requestID || deal.rule != rule || deal.customer != customer
            if changed { linkRows.append((connectionID, dealID, link?.requestID, rule, customer)) }
            if changed || batchDeals.contains(owner) {
                // The deal's figures (status, amount, payments) may have changed too: its lead's
                // day, or its own day when it is orphan revenue.
                // A deal of no lead sits on its creation day: that day loses it when it links.
                if let lead = deal.lead { changes.leads.insert(lead) } else { changes.days.insert(day(deal.deal.createdAt)) }
                if let lead = link?.requestID { changes.leads.insert(lead) } else { changes.orphanDeals.insert(body); changes.days.insert(day(deal.deal.createdAt)) }
            }
        }
        if !unlinked.isEmpty {
            try await connection.query("""
                DELETE FROM journey.deal_links l USING unnest($2::text[], $3::text[]) AS u(connection_id, deal_id)
                WHERE l.project_id = $1 AND l.connection_id = u.connection_id AND l.deal_id = u.deal_id
                """, [project, unlinked.map(\.0), unlinked.map(\.1)])
        }
        if !linkRows.isEmpty {
            try await connection.query("""
                INSERT INTO journey.deal_links (project_id, connection_id, deal_id, request_id, rule, customer_id)
                SELECT $1, u.connection_id, u.deal_id, u.request_id, u.rule, u.customer_id
                FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(connection_id, deal_id, request_id, rule, customer_id)
                ON CONFLICT (project_id, connection_id, deal_id) DO UPDATE
                SET request_id = EXCLUDED.request_id, rule = EXCLUDED.rule, customer_id = EXCLUDED.customer_id, linked_at = now()
                """, [project, linkRows.map(\.connection), linkRows.map(\.deal), PGNullableArray(linkRows.map(\.lead)), linkRows.map(\.rule),
                      linkRows.map(\.customer)])
        }
        // Cut keys: the component's entries are replaced by what this pass found.
        let componentKeys = Set(records.flatMap(\.keys))
        if !componentKeys.isEmpty {
            try await connection.query("DELETE FROM journey.overloaded_keys WHERE project_id = $1 AND key = ANY($2)", [project, Array(componentKeys)])
        }
        if !cut.isEmpty {
            try await connection.query("""
                INSERT INTO journey.overloaded_keys (project_id, key, owners)
                SELECT $1, u.key, u.reach FROM unnest($2::text[], $3::int[]) AS u(key, reach)
                ON CONFLICT (project_id, key) DO UPDATE SET owners = EXCLUDED.owners, noted_at = now()
                """, [project, cut.map(\.key), cut.map(\.reach)])
        }

        // 7. Touches: the batch's leads, leads that gained a client id, and leads whose client
        // id or own visit gained visits.
        var touchLeads = Set(leads).union(visitArrived)
        let withClient = visits.filter { $0.client != nil }
        if !withClient.isEmpty {
            for row in try await connection.query("""
                SELECT DISTINCT l.request_id FROM journey.leads l
                JOIN unnest($2::text[], $3::int8[]) AS v(client, started) ON l.client_key = v.client
                WHERE l.project_id = $1
                  AND (extract(epoch FROM l.occurred_at) * 1000000)::int8 BETWEEN v.started AND v.started + $4::int8 * 1000000
                """, [project, withClient.map { $0.client! }, withClient.map(\.start), Int(settings.lookbackSeconds)]) {
                touchLeads.insert(try row.decode(String.self, 0))
            }
        }
        if !touchLeads.isEmpty { try await relinkTouches(Array(touchLeads), changes: &changes) }

        // The days of every changed lead; days where no visit and no lead's journey changed are
        // deal-only days.
        // (So far `days` holds the new visits' days and the orphan deals' creation days.)
        var journeyDays = Set(visits.map { day($0.start) })
        var dealDays = changes.days.subtracting(journeyDays)
        changes.journeyLeads.formUnion(Set(leads).intersection(changes.leads))
        if !changes.leads.isEmpty {
            for row in try await connection.query("""
                SELECT request_id, (extract(epoch FROM occurred_at) * 1000000)::int8 FROM journey.leads WHERE project_id = $1 AND request_id = ANY($2)
                """, [project, Array(changes.leads)]) {
                let leadDay = day(try row.decode(Int64.self, 1))
                changes.days.insert(leadDay)
                if changes.journeyLeads.contains(try row.decode(String.self, 0)) { journeyDays.insert(leadDay) } else { dealDays.insert(leadDay) }
            }
        }
        changes.dealDays = dealDays.subtracting(journeyDays)
        return changes
    }

    /// A lead's keys, from its row `l`: phone, e-mail, visit, client key (NULL when absent).
    static let leadKeys = "ARRAY['p:' || l.phone, 'e:' || l.email, 'v:' || l.visit_id, 'c:' || l.client_key]"

    /// `LATERAL (…) AS k(key)`: the stored keys of owner `f.owner` in project `$1` — a deal's from
    /// `journey.keys` (replaced when its contacts change), a lead's from its row, which they are a
    /// function of (`journey.keys` holds them too, to be found by key, but is not indexed by a
    /// lead owner). Lookups by primary key, one owner at a time, whatever the statistics say.
    static let keysOfOwner = """
        LATERAL (
            SELECT k.key FROM journey.keys k
            WHERE f.owner LIKE 'd:%' AND k.project_id = $1 AND k.owner = f.owner AND k.owner LIKE 'd:%'
            UNION ALL
            SELECT x FROM (SELECT * FROM journey.leads l
                           WHERE f.owner LIKE 'l:%' AND l.project_id = $1 AND l.request_id = substr(f.owner, 3) LIMIT 1) AS l,
                          unnest(\(leadKeys)) AS x
            WHERE x IS NOT NULL
        ) AS k(key)
        """

    /// A record's keys that `journey.keys` does not hold: a lead's request id (`r:`) is its owner
    /// id (`l:<id>`).
    static func unstoredKeys(of owner: String) -> [String] {
        owner.hasPrefix("l:") ? ["r:" + owner.dropFirst(2)] : []
    }

    /// Inserts the identifying keys of these stored leads (phone, e-mail, visit, client key; the
    /// request id is the owner's own id). In key order: batches storing the same lead at once (a
    /// redelivery) wait for each other instead of deadlocking.
    static func insertKeys(ofLeads requestIDs: [String], project: String, on connection: PGConnection) async throws {
        try await connection.query("""
            INSERT INTO journey.keys (project_id, key, owner)
            SELECT l.project_id, k, 'l:' || l.request_id FROM journey.leads l, unnest(\(leadKeys)) AS k
            WHERE l.project_id = $1 AND l.request_id = ANY($2) AND k IS NOT NULL
            ORDER BY 1, 2, 3
            ON CONFLICT DO NOTHING
            """, [project, requestIDs])
    }

    /// Planner settings for a batch's transaction (`SET LOCAL`: this transaction only), set
    /// before anything is stored. A batch is a few thousand key lookups in tables that live in
    /// memory: with the default random_page_cost (4, spinning disks) the planner preferred
    /// scanning all 100,000 leads to 2,500 index probes — so did the lead keys' insert, which
    /// runs before the pass, while this was set for the pass alone. JIT compilation (15–20 ms a statement once a plan's cost passes `jit_above_cost`)
    /// and parallel workers (started for each statement, on the cores the other batch in flight
    /// is using) cost more than they save on statements of tens of milliseconds.
    static func tune(_ connection: PGConnection) async throws {
        try await connection.simpleQuery("SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0")
    }

    /// `d:<connection>/<deal>` → (connection, deal). Connection ids hold no `/`.
    static func deal(ofOwner owner: some StringProtocol) -> (connection: String, id: String) {
        let body = owner.dropFirst(2)
        let slash = body.firstIndex(of: "/")!
        return (String(body[..<slash]), String(body[body.index(after: slash)...]))
    }

    func day(_ micros: Int64) -> LocalDay {
        LocalDay.of(micros: micros, in: settings.timeZone)
    }

    /// Recomputes the touches of these leads and rewrites those that differ.
    func relinkTouches(_ requestIDs: [String], changes: inout LinkChanges) async throws {
        var leads: [Linker.Lead] = []
        for row in try await connection.query("""
            SELECT request_id, (extract(epoch FROM occurred_at) * 1000000)::int8, visit_id, client_key
            FROM journey.leads WHERE project_id = $1 AND request_id = ANY($2)
            """, [project, requestIDs]) {
            leads.append(Linker.Lead(requestID: try row.decode(String.self, 0), occurredAt: try row.decode(Int64.self, 1),
                                     visitID: try row.decode(String?.self, 2), clientID: try row.decode(String?.self, 3)))
        }
        let clients = Array(Set(leads.compactMap(\.clientID)))
        let own = Array(Set(leads.compactMap(\.visitID)))
        var visits: [String: Linker.Visit] = [:]
        var byClient: [String: [Linker.Visit]] = [:]
        for row in try await connection.query("""
            SELECT visit_id, client_id, (extract(epoch FROM occurred_at) * 1000000)::int8 FROM journey.visits
            WHERE project_id = $1 AND client_id = ANY($2)
            UNION ALL  -- a visit found both ways is one entry of `visits` below
            SELECT visit_id, client_id, (extract(epoch FROM occurred_at) * 1000000)::int8 FROM journey.visits
            WHERE project_id = $1 AND visit_id = ANY($3)
            """, [project, clients, own]) {
            let visit = Linker.Visit(visitID: try row.decode(String.self, 0), clientID: try row.decode(String?.self, 1), startedAt: try row.decode(Int64.self, 2))
            visits[visit.visitID] = visit
            if let client = visit.clientID { byClient[client, default: []].append(visit) }
        }
        var current: [String: [String]] = [:]
        for row in try await connection.query("""
            SELECT request_id, visit_id || '|' || rule FROM journey.touches WHERE project_id = $1 AND request_id = ANY($2) ORDER BY request_id, position
            """, [project, requestIDs]) {
            current[try row.decode(String.self, 0), default: []].append(try row.decode(String.self, 1))
        }
        var rewrite: [String] = []
        var rows: [(String, Int, String, Int64, String)] = []
        for lead in leads {
            let touches = Linker.touches(of: lead, visits: visits, visitsByClient: byClient, lookbackSeconds: settings.lookbackSeconds)
            let described = touches.map { $0.visitID + "|" + ($0.visitID == lead.visitID ? "own_visit" : "client_lookback") }
            guard described != (current[lead.requestID] ?? []) else { continue }
            rewrite.append(lead.requestID)
            changes.leads.insert(lead.requestID)
            changes.journeyLeads.insert(lead.requestID)
            for (position, touch) in touches.enumerated() {
                rows.append((lead.requestID, position + 1, touch.visitID, touch.startedAt, touch.visitID == lead.visitID ? "own_visit" : "client_lookback"))
            }
        }
        guard !rewrite.isEmpty else { return }
        try await connection.query("DELETE FROM journey.touches WHERE project_id = $1 AND request_id = ANY($2)", [project, rewrite])
        if !rows.isEmpty {
            try await connection.query("""
                INSERT INTO journey.touches (project_id, request_id, position, visit_id, started_at, rule)
                SELECT $1, u.request_id, u.position, u.visit_id, to_timestamp(0) + u.started * interval '1 microsecond', u.rule
                FROM unnest($2::text[], $3::int[], $4::text[], $5::int8[], $6::text[]) AS u(request_id, position, visit_id, started, rule)
                """, [project, rows.map(\.0), rows.map(\.1), rows.map(\.2), rows.map(\.3), rows.map(\.4)])
        }
    }
}

struct StoredLead {
    var lead: Linker.Lead
    var duplicateOf: String?
    var customer: String?
}

struct StoredDeal {
    var deal: Linker.Deal
    var deleted: Bool
    var lead: String?
    var rule: String?
    var customer: String?
}
