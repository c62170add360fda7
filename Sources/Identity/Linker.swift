import Domain
import Foundation

/// The linking rules of domain.md, as pure functions over one project's visits, leads and deals:
/// given the same data they give the same links whatever order the data arrived in, which is
/// what makes the resolver's results independent of arrival order and of replicas.
///
/// Times are microseconds since the epoch (the precision stored), so comparisons are exact.
public enum Linker {
    public struct Lead: Sendable, Equatable {
        public var requestID: String
        public var occurredAt: Int64
        public var visitID: String?
        public var clientID: String?
        public var phone: String?
        public var email: String?
        public init(requestID: String, occurredAt: Int64, visitID: String? = nil, clientID: String? = nil, phone: String? = nil, email: String? = nil) {
            self.requestID = requestID
            self.occurredAt = occurredAt
            self.visitID = visitID
            self.clientID = clientID
            self.phone = phone
            self.email = email
        }
    }

    public struct Visit: Sendable, Equatable {
        public var visitID: String
        public var clientID: String?
        public var startedAt: Int64
        public init(visitID: String, clientID: String?, startedAt: Int64) {
            self.visitID = visitID
            self.clientID = clientID
            self.startedAt = startedAt
        }
    }

    public struct Deal: Sendable, Equatable {
        public var dealID: String
        public var createdAt: Int64
        public var requestID: String?
        public var visitID: String?
        public var phones: [String]
        public var emails: [String]
        public init(dealID: String, createdAt: Int64, requestID: String? = nil, visitID: String? = nil, phones: [String] = [], emails: [String] = []) {
            self.dealID = dealID
            self.createdAt = createdAt
            self.requestID = requestID
            self.visitID = visitID
            self.phones = phones
            self.emails = emails
        }
    }

    public static let microsPerSecond: Int64 = 1_000_000

    /// The order of leads everywhere: (occurred_at to the microsecond, request_id bytewise).
    static func precedes(_ a: Lead, _ b: Lead) -> Bool {
        if a.occurredAt != b.occurredAt { return a.occurredAt < b.occurredAt }
        return Bytewise.precedes(a.requestID, b.requestID)
    }

    // MARK: - definition 6: duplicates

    /// For every duplicate lead, the first lead of its chain (request id → root request id).
    /// A lead is a duplicate when an earlier lead has the same phone, e-mail or visit id and is at
    /// most `window` older (inclusive); earlier duplicates count too, so duplicates chain. Of
    /// several matching earlier leads, the chain continued is the latest one's (ties: the later
    /// in lead order).
    public static func duplicates(_ leads: [Lead], windowSeconds: Int64 = 12 * 3600) -> [String: String] {
        let window = windowSeconds * microsPerSecond
        let ordered = leads.sorted(by: precedes)
        var latest: [String: Int] = [:]  // "p:…" / "e:…" / "v:…" → index of the latest lead with it
        var root: [Int] = Array(repeating: -1, count: ordered.count)
        var result: [String: String] = [:]
        for (index, lead) in ordered.enumerated() {
            let keys = [lead.phone.map { "p:" + $0 }, lead.email.map { "e:" + $0 }, lead.visitID.map { "v:" + $0 }].compactMap { $0 }
            var match: Int?
            for key in keys {
                guard let earlier = latest[key], lead.occurredAt - ordered[earlier].occurredAt <= window else { continue }
                if match == nil || earlier > match! { match = earlier }
            }
            if let match {
                root[index] = root[match] >= 0 ? root[match] : match
                result[lead.requestID] = ordered[root[index]].requestID
            }
            for key in keys { latest[key] = index }
        }
        return result
    }

    // MARK: - definition 3: touches

    /// A lead's touches: the visits of its client id (the posted one, else its visit's) that
    /// started in [lead − lookback, lead], both ends inclusive, plus its own visit; ordered by
    /// start, then visit id. Empty means the one `(unknown)` touch.
    public static func touches(of lead: Lead, visits: [String: Visit], visitsByClient: [String: [Visit]],
                               lookbackSeconds: Int64 = 30 * 86_400) -> [Visit] {
        let own = lead.visitID.flatMap { visits[$0] }
        let client = lead.clientID ?? own?.clientID
        var chosen: [String: Visit] = [:]
        if let client {
            let from = lead.occurredAt - lookbackSeconds * microsPerSecond
            for visit in visitsByClient[client] ?? [] where visit.startedAt >= from && visit.startedAt <= lead.occurredAt {
                chosen[visit.visitID] = visit
            }
        }
        if let own { chosen[own.visitID] = own }
        return chosen.values.sorted {
            $0.startedAt != $1.startedAt ? $0.startedAt < $1.startedAt : Bytewise.precedes($0.visitID, $1.visitID)
        }
    }

    // MARK: - definition 8: deal → lead

    public enum Rule: String, Sendable { case requestID = "request_id", visitID = "visit_id", contactNear = "contact_near", contactEarlier = "contact_earlier" }

    /// Leads indexed for `lead(of:in:)`: by request id, and the non-duplicates by visit, phone
    /// and e-mail. Built once for many deals.
    public struct LeadIndex: Sendable {
        let requests: Set<String>
        let duplicates: [String: String]
        let originalsByVisit: [String: [Lead]]
        let originalsByPhone: [String: [Lead]]
        let originalsByEmail: [String: [Lead]]

        /// - Parameter duplicates: `duplicates(_:)` of the same leads.
        public init(_ leads: [Lead], duplicates: [String: String]) {
            requests = Set(leads.map(\.requestID))
            self.duplicates = duplicates
            let originals = leads.filter { duplicates[$0.requestID] == nil }
            originalsByVisit = Dictionary(grouping: originals.filter { $0.visitID != nil }, by: { $0.visitID! })
            originalsByPhone = Dictionary(grouping: originals.filter { $0.phone != nil }, by: { $0.phone! })
            originalsByEmail = Dictionary(grouping: originals.filter { $0.email != nil }, by: { $0.email! })
        }
    }

    /// The lead a deal belongs to and the rule that found it; nil: orphan (definition 13).
    /// - Parameters:
    ///   - duplicates: `duplicates(_:)` of the same leads (a duplicate is replaced by its root).
    ///   - maxAgeSeconds: the project's limit on the age of a lead found by contact (nil: none).
    public static func lead(of deal: Deal, leads: [Lead], duplicates: [String: String], nearSeconds: Int64 = 3600,
                            maxAgeSeconds: Int64? = nil) -> (requestID: String, rule: Rule)? {
        lead(of: deal, in: LeadIndex(leads, duplicates: duplicates), nearSeconds: nearSeconds, maxAgeSeconds: maxAgeSeconds)
    }

    /// `lead(of:leads:duplicates:nearSeconds:maxAgeSeconds:)` over leads indexed once.
    public static func lead(of deal: Deal, in index: LeadIndex, nearSeconds: Int64 = 3600,
                            maxAgeSeconds: Int64? = nil) -> (requestID: String, rule: Rule)? {
        // (a) the request id.
        if let request = deal.requestID, index.requests.contains(request) {
            return (index.duplicates[request] ?? request, .requestID)
        }
        // (b) the visit id: the earliest non-duplicate lead of that visit.
        if let visit = deal.visitID, let first = index.originalsByVisit[visit]?.min(by: precedes) {
            return (first.requestID, .visitID)
        }
        // (c) the contact's phones and e-mails (a lead matching twice is still one candidate:
        // only the minimum and maximum below are taken).
        let matching = deal.phones.flatMap { index.originalsByPhone[$0] ?? [] } + deal.emails.flatMap { index.originalsByEmail[$0] ?? [] }
        guard !matching.isEmpty else { return nil }
        let near = nearSeconds * microsPerSecond
        let close = matching.filter { abs($0.occurredAt - deal.createdAt) <= near }
        if let nearest = close.min(by: { a, b in
            let (da, db) = (abs(a.occurredAt - deal.createdAt), abs(b.occurredAt - deal.createdAt))
            return da != db ? da < db : precedes(a, b)
        }) {
            return (nearest.requestID, .contactNear)
        }
        let earlier = matching.filter { lead in
            lead.occurredAt <= deal.createdAt && (maxAgeSeconds.map { deal.createdAt - lead.occurredAt <= $0 * microsPerSecond } ?? true)
        }
        if let latest = earlier.max(by: precedes) { return (latest.requestID, .contactEarlier) }
        return nil
    }

    // MARK: - definition 18: customers

    /// The kinds of key that measure a customer's size: phone, e-mail, client id, CRM contact.
    static func isPersonKey(_ key: String) -> Bool {
        key.hasPrefix("p:") || key.hasPrefix("e:") || key.hasPrefix("c:") || key.hasPrefix("k:")
    }

    /// Customers: connected components of records (leads and deals) joined by the keys they
    /// share. A component may hold at most `cap` person keys (phones, e-mails, client ids, CRM
    /// contacts); a larger one is split by cutting, one at a time, the key that pulls together
    /// the most other person keys (ties: bytewise smaller key) until every part fits. Request ids
    /// (a deal naming its lead) are never cut. The result depends only on the records, never on
    /// the order they came in.
    ///
    /// - Parameter owners: every record's keys (blocked keys already removed).
    /// - Returns: each record's component (the index of its component's first record in
    ///   `owners`), and the keys cut with the number of person keys each pulled together.
    public static func customers(_ owners: [(id: String, keys: [String])], cap: Int) -> (component: [Int], cut: [(key: String, reach: Int)]) {
        var keyOwners: [String: [Int]] = [:]
        for (index, owner) in owners.enumerated() {
            for key in Set(owner.keys) { keyOwners[key, default: []].append(index) }
        }
        // How many other person keys a key pulls together: the person keys of its owners.
        func reach(_ key: String) -> Int {
            var keys = Set<String>()
            for owner in keyOwners[key] ?? [] { for other in owners[owner].keys where isPersonKey(other) { keys.insert(other) } }
            keys.remove(key)
            return keys.count
        }
        var cut: [(key: String, reach: Int)] = []
        var isCut = Set<String>()
        while true {
            var parent = Array(0..<owners.count)
            func find(_ x: Int) -> Int {
                var x = x
                while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
                return x
            }
            for (key, holders) in keyOwners where !isCut.contains(key) && holders.count > 1 {
                // `root` is the merged set's root after every union: joining a third set to a stale
                // root would overwrite the second union and split one person in two.
                var root = find(holders[0])
                for other in holders.dropFirst() {
                    let theirs = find(other)
                    guard theirs != root else { continue }
                    parent[max(theirs, root)] = min(theirs, root)
                    root = min(theirs, root)
                }
            }
            // Roots are the smallest index of each component (unions always keep the smaller).
            var members: [Int: [Int]] = [:]
            for index in owners.indices { members[find(index), default: []].append(index) }
            var cutNow: [(String, Int)] = []
            for (_, group) in members {
                var personKeys = Set<String>()
                var shared = Set<String>()
                for index in group {
                    for key in owners[index].keys where !isCut.contains(key) {
                        if isPersonKey(key) { personKeys.insert(key) }
                        if (keyOwners[key]?.count ?? 0) > 1, !key.hasPrefix("r:") { shared.insert(key) }
                    }
                }
                guard personKeys.count > cap, !shared.isEmpty else { continue }
                var best: (key: String, reach: Int)?
                for key in shared {
                    let r = reach(key)
                    if best == nil || r > best!.reach || (r == best!.reach && Bytewise.precedes(key, best!.key)) {
                        best = (key, r)
                    }
                }
                cutNow.append(best!)
            }
            if cutNow.isEmpty {
                var component = Array(repeating: 0, count: owners.count)
                for index in owners.indices { component[index] = find(index) }
                return (component, cut.sorted { Bytewise.precedes($0.key, $1.key) })
            }
            for (key, r) in cutNow where isCut.insert(key).inserted { cut.append((key, r)) }
        }
    }
}
