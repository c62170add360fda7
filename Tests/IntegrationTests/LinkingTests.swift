import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Settings
import Testing

/// The identity resolver's links as stored in PostgreSQL: every rule of domain.md definitions 3,
/// 6, 8, 13 and 18, arriving in awkward orders.
@Suite struct LinkingTests {
    typealias B = LinkBench
    static let hour = 3600.0
    static let day = 86_400.0

    @Test func touchesAreTheClientsVisitsInTheLookbackPlusItsOwnVisitEvenWhenVisitsComeLate() async throws {
        let bench = try await B.make()
        // The lead first: nothing to touch yet.
        try await bench.send(leads: [B.lead("r1", at: 0, visit: "v-own", client: "c1")])
        #expect(try await bench.touches().isEmpty)
        // Visits of its client come later, one of them exactly 30 days before, one 1 s too old,
        // one after the lead, one of another device.
        try await bench.send(visits: [
            B.visit("v-edge", client: "c1", at: -30 * Self.day),
            B.visit("v-old", client: "c1", at: -30 * Self.day - 1),
            B.visit("v-after", client: "c1", at: 1),
            B.visit("v-mid", client: "c1", at: -Self.hour),
            B.visit("v-phone", client: "c2", at: -Self.hour),
        ])
        #expect(try await bench.touches() == ["r1": ["v-edge", "v-mid"]])
        // Its own visit arrives last (and counts even from another client id).
        try await bench.send(visits: [B.visit("v-own", client: "c9", at: -60 * Self.day)])
        #expect(try await bench.touches() == ["r1": ["v-own*", "v-edge", "v-mid"]])

        // A lead posted without a client id takes its visit's — known only when the visit comes.
        try await bench.send(leads: [B.lead("r2", at: 10 * Self.day, visit: "v-late")])
        #expect(try await bench.touches()["r2"] == nil)
        try await bench.send(visits: [B.visit("v-late", client: "c3", at: 10 * Self.day - 60), B.visit("v-c3", client: "c3", at: 9 * Self.day)])
        #expect(try await bench.touches()["r2"] == ["v-c3", "v-late*"])
        #expect(try await bench.pool.query("SELECT client_key FROM journey.leads WHERE request_id = 'r2'")[0].decode(String.self, 0) == "c3")
        // A lead with neither: no touch rows (its one touch is `(unknown)`).
        try await bench.send(leads: [B.lead("r3", at: 0, phone: "+79990000003")])
        #expect(try await bench.touches()["r3"] == nil)
        await bench.pool.close()
    }

    @Test func theLookbackWindowIsTheProjects() async throws {
        let bench = try await B.make(Linking(lookbackDays: 7))
        try await bench.send(visits: [B.visit("a", client: "c1", at: -7 * Self.day), B.visit("b", client: "c1", at: -7 * Self.day - 0.000001)])
        try await bench.send(leads: [B.lead("r1", at: 0, client: "c1")])
        #expect(try await bench.touches() == ["r1": ["a"]])
        await bench.pool.close()
    }

    @Test func dealsLinkByRequestIDThenVisitThenNearestContactThenLatestEarlierContact() async throws {
        let bench = try await B.make()
        try await bench.send(leads: [
            B.lead("r-form", at: 0, visit: "v1", phone: "+79990000001"),
            B.lead("r-second", at: 5 * Self.day, visit: "v1", phone: "+79990000001"),
            B.lead("r-mail", at: 10 * Self.day, email: "anna@example.com"),
            B.lead("r-mail-2", at: 20 * Self.day, email: "anna@example.com"),
            // No phone, e-mail, visit or client id: nothing of it is in journey.keys (its request
            // id is its owner id), yet a deal naming it finds it.
            B.lead("r-bare", at: 25 * Self.day),
        ])
        try await bench.send(deals: [
            // (a) the request id wins over everything else the deal carries.
            B.Deal(id: "1", createdAt: 30 * Self.day, requestID: "r-second", visitID: "v1", contacts: [("k1", [], ["anna@example.com"])]),
            // (b) the visit: its earliest (non-duplicate) lead.
            B.Deal(id: "2", createdAt: 30 * Self.day, visitID: "v1"),
            // (c) a contact lead within ±1 h (this one 59 min after the deal) beats an earlier one.
            B.Deal(id: "3", createdAt: 20 * Self.day - 59 * 60, contacts: [("k2", [], ["anna@example.com"])]),
            // (c) else the latest matching lead at or before the creation, however old.
            B.Deal(id: "4", createdAt: 400 * Self.day, contacts: [("k3", ["+79990000001"], [])]),
            // A request id nobody sent, a visit without leads, an unknown phone: no lead.
            B.Deal(id: "5", createdAt: 0, requestID: "r-nope", visitID: "v-nope", contacts: [("k4", ["+79990000099"], [])]),
            // A contact lead only after the deal (beyond 1 h): not linked.
            B.Deal(id: "6", createdAt: 20 * Self.day - 2 * Self.hour, contacts: [("k5", [], ["anna@example.com"])]),
            B.Deal(id: "7", createdAt: 26 * Self.day, requestID: "r-bare"),
        ])
        let links = try await bench.dealLinks()
        #expect(links["amo/1"] == "r-second request_id")
        #expect(links["amo/2"] == "r-form visit_id")
        #expect(links["amo/3"] == "r-mail-2 contact_near")
        #expect(links["amo/4"] == "r-second contact_earlier")
        #expect(links["amo/5"] == "- none")
        #expect(links["amo/6"] == "r-mail contact_earlier")
        #expect(links["amo/7"] == "r-bare request_id")
        await bench.pool.close()
    }

    @Test func aProjectsMaximumAgeStopsOldContactLeadsAndTheNearWindowIsInclusive() async throws {
        let bench = try await B.make(Linking(contactMaxAgeDays: 90))
        try await bench.send(leads: [B.lead("r-old", at: 0, phone: "+79990000001"), B.lead("r-near", at: 200 * Self.day, email: "b@example.com")])
        try await bench.send(deals: [
            B.Deal(id: "old", createdAt: 90 * Self.day + 1, contacts: [("k1", ["89990000001"].compactMap(ContactNormalization.phone), [])]),
            B.Deal(id: "edge", createdAt: 90 * Self.day, contacts: [("k1", ["+79990000001"], [])]),
            B.Deal(id: "near", createdAt: 200 * Self.day + Self.hour, contacts: [("k2", [], ["b@example.com"])]),
        ])
        let links = try await bench.dealLinks()
        #expect(links["amo/old"] == "- none")
        #expect(links["amo/edge"] == "r-old contact_earlier")
        #expect(links["amo/near"] == "r-near contact_near")
        await bench.pool.close()
    }

    @Test func duplicatesChainAndALateEarlierLeadReRootsTheChainAndItsDeals() async throws {
        let bench = try await B.make()
        try await bench.send(leads: [
            B.lead("b", at: 10 * Self.hour, phone: "+79990000001"),
            B.lead("c", at: 21 * Self.hour, phone: "+79990000001", email: "x@example.com"),
            B.lead("d", at: 32 * Self.hour, email: "x@example.com"),
            B.lead("e", at: 44 * Self.hour + 1, email: "x@example.com"),  // 12 h + 1 s after d: a new chain
        ])
        #expect(try await bench.duplicates() == ["c": "b", "d": "b"])
        // A deal on a duplicate's request id goes to its chain's first lead.
        try await bench.send(deals: [B.Deal(id: "1", createdAt: 33 * Self.hour, requestID: "d")])
        #expect(try await bench.dealLinks()["amo/1"] == "b request_id")
        // An earlier lead arrives late: it becomes the chain's first, and the deal follows it.
        try await bench.send(leads: [B.lead("a", at: 0, phone: "+79990000001")])
        #expect(try await bench.duplicates() == ["b": "a", "c": "a", "d": "a"])
        #expect(try await bench.dealLinks()["amo/1"] == "a request_id")
        // The same visit within 12 h is a duplicate too (inclusive).
        try await bench.send(leads: [B.lead("v1", at: 100 * Self.hour, visit: "vv"), B.lead("v2", at: 112 * Self.hour, visit: "vv")])
        #expect(try await bench.duplicates()["v2"] == "v1")
        await bench.pool.close()
    }

    @Test func theDuplicateWindowIsTheProjects() async throws {
        let bench = try await B.make(Linking(duplicateWindowHours: 1))
        try await bench.send(leads: [B.lead("a", at: 0, phone: "+79990000001"), B.lead("b", at: 2 * Self.hour, phone: "+79990000001"),
                                     B.lead("c", at: 3 * Self.hour, phone: "+79990000001")])
        #expect(try await bench.duplicates() == ["c": "b"])
        await bench.pool.close()
    }

    @Test func customersJoinDevicesAndCRMContactsAndARepeatPurchaseJoinsTheFirstAcquisition() async throws {
        let bench = try await B.make()
        try await bench.send(visits: [B.visit("v-laptop", client: "laptop", at: -Self.hour), B.visit("v-phone", client: "phone", at: 40 * Self.day)])
        try await bench.send(leads: [
            B.lead("first", at: 0, visit: "v-laptop", phone: "+79990000001"),
            // Weeks later from the phone, with an e-mail and the same number: same customer.
            B.lead("again", at: 40 * Self.day, visit: "v-phone", phone: "8 (999) 000-00-01".normalisedPhone, email: "ivan@example.com"),
            // Someone else entirely.
            B.lead("other", at: 1, phone: "+79990000002"),
        ])
        try await bench.send(deals: [
            B.Deal(id: "100", createdAt: Self.hour, contacts: [("ivan", ["+79990000001"], ["ivan@example.com"])]),
            // The repeat purchase: linked to the latest earlier lead, same customer as the first.
            B.Deal(id: "200", createdAt: 60 * Self.day, contacts: [("ivan", ["+79990000001"], ["ivan@example.com"])]),
            // A deal of a contact known only by e-mail that matches no lead.
            B.Deal(id: "300", createdAt: 0, contacts: [("nobody", [], ["nobody@example.com"])]),
        ])
        let links = try await bench.dealLinks()
        #expect(links["amo/100"] == "first contact_near")
        #expect(links["amo/200"] == "again contact_earlier")
        let customers = try await bench.customers()
        #expect(customers["first"] == ["l:first", "l:again", "d:amo/100", "d:amo/200"])
        #expect(customers["other"] == ["l:other"])
        #expect(customers["deal:amo/300"] == ["d:amo/300"])
        await bench.pool.close()
    }

    @Test func blockedIdentifiersLinkNothingAndTheCapCutsTheSharedValue() async throws {
        // The office phone is blocked: leads carrying it are neither duplicates nor one customer,
        // and a deal cannot find a lead through it.
        let blocked = try await B.make(Linking(blocked: ["+7 (495) 000-00-00", "Test@Example.com"]))
        try await blocked.send(leads: [
            B.lead("a", at: 0, phone: "+74950000000"), B.lead("b", at: 60, phone: "+74950000000", email: "b@example.com"),
            B.lead("c", at: 120, email: "test@example.com"), B.lead("d", at: 180, email: "test@example.com"),
        ])
        try await blocked.send(deals: [B.Deal(id: "1", createdAt: 30, contacts: [("k", ["+74950000000"], [])])])
        #expect(try await blocked.duplicates().isEmpty)
        #expect(try await blocked.dealLinks()["amo/1"] == "- none")
        #expect(try await blocked.customers().values.allSatisfy { $0.count == 1 })
        await blocked.pool.close()

        // Not blocked, one shared phone reaching past the cap of 5 person keys is cut; the people
        // behind it stay apart, each with their own devices; the cut is recorded.
        let capped = try await B.make(Linking(customerCap: 5))
        var leads: [TrackedLead] = []
        for person in 0..<4 {
            leads.append(B.lead("p\(person)-1", at: Double(person) * Self.day, client: "dev\(person)a", phone: "+74950000000"))
            leads.append(B.lead("p\(person)-2", at: Double(person) * Self.day + 13 * Self.hour, client: "dev\(person)b", email: "p\(person)@example.com"))
            leads.append(B.lead("p\(person)-3", at: Double(person) * Self.day + 14 * Self.hour, client: "dev\(person)a", email: "p\(person)@example.com"))
        }
        try await capped.send(leads: leads)
        let customers = try await capped.customers()
        #expect(customers.count == 4)
        for person in 0..<4 {
            #expect(customers["p\(person)-1"] == ["l:p\(person)-1", "l:p\(person)-2", "l:p\(person)-3"])
        }
        #expect(try await capped.pool.query("SELECT key, owners FROM journey.overloaded_keys").map { try "\($0.decode(String.self, 0)) \($0.decode(Int.self, 1))" }
            == ["p:+74950000000 4"])
        await capped.pool.close()
    }

    @Test func twoBatchesOfOneCustomerAtOnceSerialiseAndSeeEachOther() async throws {
        // Replica A holds its transaction open after linking lead a; replica B links a's
        // duplicate b meanwhile. B must wait for A's commit and then see a — else each links
        // without the other and b is never flagged.
        let bench = try await B.make()
        let first = try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: "school",
                                                           payload: TrackedBatch(leads: [B.lead("a", at: 0, phone: "+79990000001")])))
        let second = try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: "school",
                                                            payload: TrackedBatch(leads: [B.lead("b", at: 60, phone: "+79990000001")])))
        let other = PGPool(PGConfiguration(url: bench.pool.configuration.url), logger: TestStack.logger)
        let handler = bench.handler
        let replicaA = Task {
            try await bench.pool.withTransaction { connection in
                try await handler.handle([first], on: connection, logger: TestStack.logger)
                try await Task.sleep(for: .seconds(1.5))
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        try await other.withTransaction { try await handler.handle([second], on: $0, logger: TestStack.logger) }
        try await replicaA.value
        #expect(try await bench.duplicates() == ["b": "a"])
        #expect(Set(try await bench.customers().keys) == ["a"])
        await other.close()
        await bench.pool.close()
    }

    @Test func deletedDealsLoseTheirLinkAndChangesPublishTheAffectedLeadsAndDays() async throws {
        let bench = try await B.make()
        try await bench.send(visits: [B.visit("v1", client: "c1", at: 0)])
        try await bench.send(leads: [B.lead("r1", at: 60, visit: "v1", phone: "+79990000001")])
        try await bench.send(deals: [B.Deal(id: "1", createdAt: 120, requestID: "r1"), B.Deal(id: "2", createdAt: 5 * Self.day)])
        var deleted = B.Deal(id: "1", createdAt: 120, requestID: "r1")
        deleted.deleted = true
        try await bench.send(deals: [deleted])
        #expect(try await bench.dealLinks() == ["amo/2": "- none"])
        let messages = try await bench.pool.query("""
            SELECT convert_from(body, 'UTF8') FROM runtime.outbox WHERE routing_key = 'attribution.dirty' ORDER BY id
            """).map { try Envelope(decoding: Array(try $0.decode(String.self, 0).utf8)).payload(as: IdentityHandler.Dirty.self) }
        // The visit's day; the lead's (its touches); the deals' (the lead, then the orphan's own
        // day, Moscow time); the deletion (the lead again).
        #expect(messages.map(\.days) == [["2026-03-02"], ["2026-03-02"], ["2026-03-02", "2026-03-07"], ["2026-03-02"]])
        #expect(messages.map(\.leads) == [[], ["r1"], ["r1"], ["r1"]])
        #expect(messages.map(\.deals) == [[], [], ["amo/2"], []])
        // Days where only deals changed say so: the aggregator need not recompute their journeys.
        #expect(messages.map(\.dealDays) == [nil, nil, ["2026-03-02", "2026-03-07"], ["2026-03-02"]])
        await bench.pool.close()
    }
}

extension String {
    var normalisedPhone: String? { ContactNormalization.phone(self) }
}
