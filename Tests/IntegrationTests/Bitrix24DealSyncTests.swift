import DealSync
import Domain
import Foundation
import Postgres
import Runtime
import Sandbox
import Settings
import Testing

/// deal-sync against the Bitrix24 fake, on a real PostgreSQL.
@Suite struct Bitrix24DealSyncTests {
    static let code = "k3y5ecr3tw3bh00k"
    static let token = "51856fefc120afa4b628cc82d3935cce"

    /// `count` deals over both categories and every stage, with payment items on some.
    static func world(_ count: Int) -> FakeBitrix24 {
        let fake = FakeBitrix24(code: code, applicationToken: token)
        var deals: [FakeBitrix24.Deal] = []
        var contacts: [Int: (name: String, phones: [String], emails: [String])] = [:]
        var payments: [Int: [FakeBitrix24.Payment]] = [:]
        let start: Int64 = 1_772_000_000
        for index in 0..<count {
            let id = 4_100 + index
            let category = index % 3 == 0 ? 2 : 0
            let stages = FakeBitrix24.stages[category]!
            let stage = stages[(index / 3) % stages.count]
            let cents = index % 100
            deals.append(FakeBitrix24.Deal(
                id: id, title: "Сделка #\(id)", categoryID: category, stageID: stage.id, opportunity: "\(20_000 + index).\(String(format: "%02d", cents))",
                contactID: 900 + index, created: start + Int64(index), closed: stage.semantics == nil ? nil : start + Int64(index),
                utm: ["UTM_SOURCE": index % 2 == 0 ? "yandex" : "vk", "UTM_CAMPAIGN": "brand"], custom: ["UF_CRM_1721244482250": String(384_000 + index)]))
            contacts[900 + index] = ("Клиент \(index)", ["+7 999 555-\(String(format: "%02d", index % 100))-00"], ["c\(index)@Example.org"])
            if stage.semantics == "S" && index % 2 == 0 {
                // Received in two parts, one instalment still expected.
                payments[id] = [FakeBitrix24.Payment(id: id * 10 + 1, paid: true, datePaid: start + 86_400, sum: "5000.50"),
                                FakeBitrix24.Payment(id: id * 10 + 2, paid: true, datePaid: start + 2 * 86_400, sum: "4000"),
                                FakeBitrix24.Payment(id: id * 10 + 3, paid: false, datePaid: nil, sum: "10000")]
            } else if stage.semantics == "S" && index % 5 == 1 {
                payments[id] = [FakeBitrix24.Payment(id: id * 10 + 1, paid: false, datePaid: nil, sum: "7000")]  // only expected: received 0
            }
        }
        fake.load(deals, contacts: contacts, payments: payments)
        return fake
    }

    static func connection(_ url: String, database: String, pool: PGPool, options extra: [String: String] = [:]) throws -> CRMConnection {
        var options = ["requests_per_second": "0", "backoff_seconds": "0.01", "overlap_seconds": "5", "visit_id_field": "UF_CRM_1721244482250"]
        for (key, value) in extra { options[key] = value }
        let project = Project(id: "school", name: "School", timeZone: "Europe/Moscow", currency: "RUB", sources: [
            Source(id: "b24", kind: "bitrix24", credentials: ["webhook_url": Secret(.inline("\(url)/rest/1/\(code)/")),
                                                              "application_token": Secret(.inline(token))], options: options),
        ])
        return try CRMConnection.make(project.sources[0], project: project, pool: pool, logger: TestStack.logger)
    }

    static func expectedStatus(_ deal: FakeBitrix24.Deal) -> String {
        switch FakeBitrix24.semantics(deal.categoryID, deal.stageID) {
        case "S": return "won"
        case "F": return "lost"
        default: return "open"
        }
    }

    static func expectMatches(_ fake: FakeBitrix24, _ pool: PGPool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var stored: [String: (String, Decimal, String, String)] = [:]
        for row in try await pool.query("SELECT deal_id, status, amount, pipeline_id, stage_id FROM crm.deals WHERE NOT is_deleted") {
            stored[try row.decode(String.self, 0)] = (try row.decode(String.self, 1), try row.decode(Decimal.self, 2), try row.decode(String.self, 3),
                                                     try row.decode(String.self, 4))
        }
        #expect(stored.count == fake.deals.count, sourceLocation: sourceLocation)
        for deal in fake.deals {
            let row = stored[String(deal.id)]
            #expect(row?.0 == expectedStatus(deal), "deal \(deal.id)", sourceLocation: sourceLocation)
            #expect(row?.1 == Decimal(string: deal.opportunity), "deal \(deal.id)", sourceLocation: sourceLocation)
            #expect(row?.2 == String(deal.categoryID) && row?.3 == deal.stageID, "deal \(deal.id)", sourceLocation: sourceLocation)
        }
    }

    @Test func fastFullSyncThenIncrementalEqualTheFakeWithReceivedAndExpectedPayments() async throws {
        let fake = Self.world(260)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        var knobs = FakeBitrix24.Knobs()
        knobs.queryLimitExceeded = 3
        knobs.operationTimeLimit = 1
        fake.setKnobs(knobs)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            let catalog = try await connection.engine.syncCatalog()
            #expect(catalog.pipelines.map(\.id) == ["0", "2"])
            let first = try await connection.engine.poll(catalog: catalog)
            #expect(first.written == 260 && first.pages == 6)
            // The full sync used the fast mode: no page asked for a count.
            #expect(fake.methods.filter { $0 == "crm.deal.list" }.count == 6)
            try await Self.expectMatches(fake, pool)
            func payments(_ deal: Int) async throws -> [String] {
                try await pool.query("SELECT kind || ':' || origin || ':' || amount::text FROM crm.deal_payments WHERE deal_id = $1 ORDER BY paid_at NULLS LAST, payment_id",
                                     [String(deal)]).map { try $0.decode(String.self, 0) }
            }
            let won = fake.deals.filter { FakeBitrix24.semantics($0.categoryID, $0.stageID) == "S" }
            let instalments = won.first { !fake.payments(of: $0.id).isEmpty && fake.payments(of: $0.id).count == 3 }!
            #expect(try await payments(instalments.id) == ["received:crm_payment:5000.5000", "received:crm_payment:4000.0000", "expected:crm_payment:10000.0000"])
            let onlyExpected = won.first { fake.payments(of: $0.id).count == 1 }!
            #expect(try await payments(onlyExpected.id) == ["expected:crm_payment:7000.0000"])  // received 0 so far
            let none = won.first { fake.payments(of: $0.id).isEmpty }!
            #expect(try await payments(none.id) == ["received:won_amount:\(none.opportunity)00"])  // its amount at its close
            let deal = try await pool.query("""
                SELECT d.visit_id, d.utm_source, c.phones[1], c.emails[1] FROM crm.deals d JOIN crm.contacts c ON c.contact_id = d.contact_ids[1]
                WHERE d.deal_id = '4102'
                """)[0]
            #expect(try deal.decode(String?.self, 0) == "384002")
            #expect(try deal.decode(String?.self, 1) == "yandex")
            #expect(try deal.decode(String?.self, 2) == "+79995550200")
            #expect(try deal.decode(String?.self, 3) == "c2@example.org")

            // Incremental: stage moves (history), a new payment item; only changed deals are read.
            let lists = fake.methods.filter { $0 == "crm.deal.list" }.count
            fake.move(4_101, stage: "WON")
            fake.setPayments(4_101, [FakeBitrix24.Payment(id: 999, paid: true, datePaid: fake.deals[0].created, sum: "1.01")])
            fake.move(4_104, category: 2, stage: "C2:LOSE")
            let second = try await connection.engine.poll(catalog: catalog)
            #expect(second.written >= 2 && second.written <= 8)  // the two changed deals and the overlap's few
            #expect(fake.methods.filter { $0 == "crm.deal.list" }.count == lists + 1)
            try await Self.expectMatches(fake, pool)
            #expect(try await payments(4_101) == ["received:crm_payment:1.0100"])
            #expect(try await pool.query("SELECT count(*) FROM crm.stage_changes")[0].decode(Int.self, 0) == 2)
        }
        await pool.close()
    }

    /// Managers move deals while an incremental pass pages through them. Offsets over
    /// `DATE_MODIFY` order shifted when a deal read on the first page changed again: the deal
    /// that slid onto that page was never read, and the next poll started past it. Pages keyed
    /// by ID read every change in the same pass.
    @Test func dealsMovedWhileAnIncrementalPassPagesAreAllRead() async throws {
        let fake = Self.world(260)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            // 120 deals lost, the highest id first (modification order is not ID order); the
            // first of them won after the pass's first page.
            let moved = (0..<120).map { 4_359 - $0 }
            for id in moved { fake.move(id, stage: (id - 4_100) % 3 == 0 ? "C2:LOSE" : "LOSE") }
            var knobs = FakeBitrix24.Knobs()
            knobs.movesAfterListCall = [fake.dealListCalls + 1: [(deal: 4_359, stage: "WON")]]
            fake.setKnobs(knobs)
            let second = try await connection.engine.poll(catalog: catalog)
            #expect(second.written >= 120)
            try await Self.expectMatches(fake, pool)  // every change, the one after the first page too, in this pass
            #expect(try await pool.query("SELECT status FROM crm.deals WHERE deal_id = '4359'")[0].decode(String.self, 0) == "won")
        }
        await pool.close()
    }

    @Test func deletedAndMovedDealsAreFoundAndWebhooksAreCheckedByTheirApplicationToken() async throws {
        let fake = Self.world(60)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            fake.delete(4_110)
            fake.move(4_111, category: 2, stage: "C2:NEW")
            #expect(try await connection.engine.reconcile(catalog: catalog).deleted == 1)
            try await Self.expectMatches(fake, pool)
            // A webhook: the application token must match; the deal is read alone.
            fake.move(4_113, stage: "WON")
            let good = CRMWebhookMessage(connection: "b24", body: fake.webhookBody(deal: 4_113))
            let forged = CRMWebhookMessage(connection: "b24", body: fake.webhookBody(deal: 4_113, token: "forged"))
            #expect(throws: WebhookError.self) { _ = try WebhookHandler.dealIDs(forged, connection: connection) }
            let ids = try WebhookHandler.dealIDs(good, connection: connection)
            #expect(ids == ["4113"])
            let before = fake.methods.count
            _ = try await pool.withTransaction { try await connection.engine.syncDeals(ids: ids, catalog: catalog, on: $0) }
            #expect(Array(fake.methods.dropFirst(before)).sorted() == ["crm.contact.get", "crm.deal.list", "crm.deal.productrows.get", "crm.item.payment.list"])
            #expect(try await pool.query("SELECT status FROM crm.deals WHERE deal_id = '4113'")[0].decode(String.self, 0) == "won")
            // A stage created in the portal after the catalog was read: the deal's own
            // STAGE_SEMANTIC_ID says won (definition 9), not unknown.
            fake.move(4_116, stage: "EXTRA_WON")
            _ = try await pool.withTransaction { try await connection.engine.syncDeals(ids: ["4116"], catalog: catalog, on: $0) }
            #expect(try await pool.query("SELECT status FROM crm.deals WHERE deal_id = '4116'")[0].decode(String.self, 0) == "won")
            // A delete event: the deal is gone from the CRM and is marked deleted.
            fake.delete(4_114)
            let deleted = try await pool.withTransaction { try await connection.engine.syncDeals(ids: ["4114"], catalog: catalog, on: $0) }
            #expect(deleted.deleted == 1)
        }
        await pool.close()
    }

    /// The webhook's user may not run every command (Bitrix24 rights are per manager): a
    /// command that fails inside a batch fails only what it reads. A deal whose product rows are
    /// denied is a problem of its own; a denied contact is left out and its deal still syncs; a
    /// deal whose payments are denied keeps its stored payments. The pass goes on — one denied
    /// command used to fail every page from the same watermark, stopping the connection.
    @Test func aCommandTheWebhooksUserMayNotRunFailsOnlyWhatItReads() async throws {
        let fake = Self.world(60)
        var knobs = FakeBitrix24.Knobs()
        knobs.deniedCommands = ["crm.deal.productrows.get?id=4110", "crm.contact.get?id=905", "crm.item.payment.list?entityId=4112&entityTypeId=2"]
        fake.setKnobs(knobs)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            let catalog = try await connection.engine.syncCatalog()
            let first = try await connection.engine.poll(catalog: catalog)
            #expect(first.problems.map(\.dealID) == ["4110"])
            #expect(try await pool.query("SELECT count(*) FROM crm.deals")[0].decode(Int.self, 0) == 59)
            let error = try await pool.query("SELECT field, message FROM crm.sync_errors WHERE deal_id = '4110'")
            #expect(try error.first?.decode(String.self, 0) == "product rows")
            #expect(try error.first?.decode(String.self, 1).contains("ACCESS_DENIED") == true)
            #expect(try await pool.query("SELECT count(*) FROM crm.deals WHERE deal_id = '4105'")[0].decode(Int.self, 0) == 1)
            #expect(try await pool.query("SELECT count(*) FROM crm.contacts WHERE contact_id = '905'")[0].decode(Int.self, 0) == 0)
            #expect(try await pool.query("SELECT count(*) FROM crm.contacts")[0].decode(Int.self, 0) == 58)  // the 59 deals taken, less 905
            // Rights granted: the next reconciliation takes the deal and the contact.
            fake.setKnobs(FakeBitrix24.Knobs())
            _ = try await connection.engine.reconcile(catalog: catalog)
            try await Self.expectMatches(fake, pool)
            #expect(try await pool.query("SELECT count(*) FROM crm.contacts WHERE contact_id = '905'")[0].decode(Int.self, 0) == 1)
            #expect(try await pool.query("SELECT count(*) FROM crm.sync_errors")[0].decode(Int.self, 0) == 0)
        }
        await pool.close()
    }

    @Test func aMalformedOpportunityFailsThatDealOnlyAndABadWebhookURLStops() async throws {
        let fake = Self.world(30)
        var knobs = FakeBitrix24.Knobs()
        knobs.malformedOpportunity = [4_105]
        fake.setKnobs(knobs)
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            let outcome = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            #expect(outcome.written == 29)
            #expect(outcome.problems.map(\.description) == ["bitrix24 deal 4105: OPPORTUNITY: '45 000,00' is not valid"])
            // A wrong webhook code: 401 NO_AUTH_FOUND, not retried, the URL (a secret) not in the message.
            let project = Project(id: "school", name: "School", sources: [
                Source(id: "b24", kind: "bitrix24", credentials: ["webhook_url": Secret(.inline("\(url)/rest/1/wrong-secret-code"))],
                       options: ["requests_per_second": "0", "backoff_seconds": "0.01"]),
            ])
            let wrong = try CRMConnection.make(project.sources[0], project: project, pool: pool, logger: TestStack.logger)
            let requests = fake.requests
            do {
                _ = try await wrong.engine.syncCatalog()
                Issue.record("a wrong webhook URL was accepted")
            } catch {
                #expect("\(error)".contains("NO_AUTH_FOUND"))
                #expect(!"\(error)".contains("wrong-secret-code"))
            }
            #expect(fake.requests == requests + 1)
        }
        await pool.close()
    }

    @Test func productRowsAreReadInBatches() async throws {
        let fake = Self.world(0)
        var deal = FakeBitrix24.Deal(id: 7_001, title: "С товарами", categoryID: 0, stageID: "NEW", opportunity: "15001.00", created: 1_772_000_000)
        deal.rows = [FakeBitrix24.ProductRow(name: "Тариф «Про»", price: "15000", quantity: 1), FakeBitrix24.ProductRow(name: "Доставка", price: "0.5", quantity: 2)]
        fake.load([deal, FakeBitrix24.Deal(id: 7_002, title: "Без товаров", categoryID: 0, stageID: "NEW", opportunity: "1", created: 1_772_000_001)], contacts: [:])
        let database = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        try await FakeServer.serve(fake.router()) { url in
            let connection = try Self.connection(url, database: database, pool: pool)
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            let lines = try await pool.query("SELECT deal_id, name, quantity::text, price::text FROM crm.deal_products ORDER BY deal_id, line")
                .map { row in try (0..<4).map { try row.decode(String.self, $0) }.joined(separator: "|") }
            #expect(lines == ["7001|Тариф «Про»|1.0000|15000.0000", "7001|Доставка|2.0000|0.5000"])
            #expect(fake.methods.filter { $0 == "crm.deal.productrows.get" }.count == 2)
        }
        await pool.close()
    }
}
