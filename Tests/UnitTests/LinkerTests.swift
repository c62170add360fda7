import Identity
import Testing

@Suite struct LinkerTests {
    static let h: Int64 = 3600 * 1_000_000
    static let t0: Int64 = 1_772_000_000 * 1_000_000
    typealias L = Linker.Lead

    @Test func duplicatesChainWithinTwelveHoursInclusiveAndTiesOrderByRequestID() {
        let leads = [
            L(requestID: "a", occurredAt: Self.t0, phone: "+79990000001"),
            L(requestID: "b", occurredAt: Self.t0 + 12 * Self.h, phone: "+79990000001"),           // exactly 12 h: a duplicate
            L(requestID: "c", occurredAt: Self.t0 + 23 * Self.h, phone: "+79990000001", email: "x@y.ru"),  // 11 h after b: chains to a
            L(requestID: "d", occurredAt: Self.t0 + 35 * Self.h + 1, email: "x@y.ru"),             // 12 h + 1 µs after c: not
            L(requestID: "e2", occurredAt: Self.t0 + 40 * Self.h, visitID: "v1"),
            L(requestID: "e1", occurredAt: Self.t0 + 40 * Self.h, visitID: "v1"),                  // same µs: "e1" < "e2" bytewise
        ]
        let duplicates = Linker.duplicates(leads.shuffled())
        #expect(duplicates == ["b": "a", "c": "a", "e2": "e1"])
    }

    @Test func touchesAreTheClientsVisitsInTheLookbackPlusItsOwnVisit() {
        let visits = [
            Linker.Visit(visitID: "v-old", clientID: "c1", startedAt: Self.t0 - 30 * 24 * Self.h - 1),  // 1 µs too old
            Linker.Visit(visitID: "v-edge", clientID: "c1", startedAt: Self.t0 - 30 * 24 * Self.h),     // exactly 30 days: in
            Linker.Visit(visitID: "v-b", clientID: "c1", startedAt: Self.t0 - Self.h),
            Linker.Visit(visitID: "v-a", clientID: "c1", startedAt: Self.t0 - Self.h),                  // same start: by id
            Linker.Visit(visitID: "v-after", clientID: "c1", startedAt: Self.t0 + 1),                   // after the lead
            Linker.Visit(visitID: "v-other", clientID: "c2", startedAt: Self.t0 - Self.h),              // another device
        ]
        let byID = Dictionary(uniqueKeysWithValues: visits.map { ($0.visitID, $0) })
        let byClient = Dictionary(grouping: visits.filter { $0.clientID != nil }, by: { $0.clientID! })
        // The client id comes from the lead's own visit when none was posted.
        let lead = L(requestID: "r", occurredAt: Self.t0, visitID: "v-b")
        #expect(Linker.touches(of: lead, visits: byID, visitsByClient: byClient).map(\.visitID) == ["v-edge", "v-a", "v-b"])
        // Its own visit counts even outside the window; no client id, no visit: no touch ((unknown)).
        let late = L(requestID: "s", occurredAt: Self.t0 + 90 * 24 * Self.h, visitID: "v-other")
        #expect(Linker.touches(of: late, visits: byID, visitsByClient: byClient).map(\.visitID) == ["v-other"])
        #expect(Linker.touches(of: L(requestID: "u", occurredAt: Self.t0), visits: byID, visitsByClient: byClient).isEmpty)
    }

    @Test func dealsLinkByRequestIDThenVisitThenContactNearestOrLatestEarlier() {
        let leads = [
            L(requestID: "r1", occurredAt: Self.t0, visitID: "v1", phone: "+79990000001"),
            L(requestID: "r2", occurredAt: Self.t0 + Self.h, visitID: "v1", phone: "+79990000001"),   // duplicate of r1 (same visit/phone)
            L(requestID: "r3", occurredAt: Self.t0 + 48 * Self.h, email: "a@b.ru"),
            L(requestID: "r4", occurredAt: Self.t0 + 100 * Self.h, email: "a@b.ru"),
        ]
        let duplicates = Linker.duplicates(leads)
        #expect(duplicates == ["r2": "r1"])
        func link(_ deal: Linker.Deal, maxAge: Int64? = nil) -> String? {
            Linker.lead(of: deal, leads: leads, duplicates: duplicates, maxAgeSeconds: maxAge).map { "\($0.requestID) \($0.rule.rawValue)" }
        }
        // (a) a request id, a duplicate's re-linked to its chain's first lead.
        #expect(link(.init(dealID: "d1", createdAt: Self.t0, requestID: "r2")) == "r1 request_id")
        // (b) the visit: its earliest non-duplicate lead.
        #expect(link(.init(dealID: "d2", createdAt: Self.t0, visitID: "v1")) == "r1 visit_id")
        // (c) contact within ±1 h: the nearest (r4 is 30 min away, after the deal).
        #expect(link(.init(dealID: "d3", createdAt: Self.t0 + 99 * Self.h + Self.h / 2, emails: ["a@b.ru"])) == "r4 contact_near")
        // (c) else the most recent at or before the deal, however old — unless a maximum age says no.
        #expect(link(.init(dealID: "d4", createdAt: Self.t0 + 90 * Self.h, emails: ["a@b.ru"])) == "r3 contact_earlier")
        #expect(link(.init(dealID: "d5", createdAt: Self.t0 + 90 * Self.h, emails: ["a@b.ru"]), maxAge: 24 * 3600) == nil)
        // Nothing matches: an orphan.
        #expect(link(.init(dealID: "d6", createdAt: Self.t0, requestID: "unknown", phones: ["+70000000000"])) == nil)
    }

    /// Partition of owner ids by component, independent of indices.
    static func partition(_ owners: [(id: String, keys: [String])], cap: Int) -> Set<Set<String>> {
        let (component, _) = Linker.customers(owners, cap: cap)
        var groups: [Int: Set<String>] = [:]
        for (index, owner) in owners.enumerated() { groups[component[index], default: []].insert(owner.id) }
        return Set(groups.values)
    }

    /// Definition 18 as a property: without a cap, the customers are exactly the connected
    /// components (a plain search over the shared keys says which), whatever the records' order.
    /// One key joining three sets once overwrote its first union and split a person in two.
    @Test func uncappedCustomersAreExactlyTheConnectedComponents() {
        // The case that split: A and Y share a phone, B and Z an e-mail, and X, Y, Z one device.
        let five: [(id: String, keys: [String])] = [
            ("A", ["p:P"]), ("B", ["e:E"]), ("X", ["c:C"]), ("Y", ["c:C", "p:P"]), ("Z", ["c:C", "e:E"]),
        ]
        func permutations(_ items: [Int]) -> [[Int]] {
            items.count <= 1 ? [items] : items.indices.flatMap { i in
                permutations(Array(items[..<i] + items[(i + 1)...])).map { [items[i]] + $0 }
            }
        }
        for order in permutations(Array(five.indices)) {
            #expect(Self.partition(order.map { five[$0] }, cap: 100) == [["A", "B", "X", "Y", "Z"]], "\(order)")
        }
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let count = Int.random(in: 2...40, using: &generator)
            let owners: [(id: String, keys: [String])] = (0..<count).map { index in
                (id: "o\(index)", keys: (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                    ["p:", "e:", "c:", "k:"].randomElement(using: &generator)! + String(Int.random(in: 0..<(count / 2 + 1), using: &generator))
                })
            }
            // The reference: a search from each record over records sharing a key.
            var seen = Set<Int>()
            var expected = Set<Set<String>>()
            for start in owners.indices where !seen.contains(start) {
                var group = Set<String>()
                var stack = [start]
                seen.insert(start)
                while let index = stack.popLast() {
                    group.insert(owners[index].id)
                    for other in owners.indices where !seen.contains(other) && !Set(owners[other].keys).isDisjoint(with: owners[index].keys) {
                        seen.insert(other)
                        stack.append(other)
                    }
                }
                expected.insert(group)
            }
            #expect(Self.partition(owners.shuffled(using: &generator), cap: 1000) == expected, "round \(round): \(owners)")
        }
    }

    @Test func customersAreComponentsAndTheCapCutsTheWidestSharedKeyWhateverTheOrder() {
        // Three people sharing one office phone; each has a device and an e-mail of their own,
        // and the third a CRM deal naming their lead.
        var owners: [(id: String, keys: [String])] = []
        for person in 0..<3 {
            owners.append((id: "l:\(person)a", keys: ["r:\(person)a", "p:office", "c:dev\(person)"]))
            owners.append((id: "l:\(person)b", keys: ["r:\(person)b", "e:\(person)@x.ru", "c:dev\(person)"]))
        }
        owners.append((id: "d:amo/1", keys: ["r:2a", "k:amo/9", "p:+7999"]))
        // Uncapped: one customer of everything.
        #expect(Self.partition(owners, cap: 100).count == 1)
        // Cap 4 person keys: the office phone (reaching 3 devices) goes; each person stands alone.
        let expected: Set<Set<String>> = [["l:0a", "l:0b"], ["l:1a", "l:1b"], ["l:2a", "l:2b", "d:amo/1"]]
        for _ in 0..<20 {
            let shuffled = owners.shuffled()
            #expect(Self.partition(shuffled, cap: 4) == expected)
            #expect(Linker.customers(shuffled, cap: 4).cut.map(\.key) == ["p:office"])
        }
        // A single record over the cap cannot be split and stays whole.
        #expect(Self.partition([(id: "l:x", keys: ["p:1", "p:2", "e:a", "e:b", "c:1"])], cap: 2) == [["l:x"]])
    }
}
