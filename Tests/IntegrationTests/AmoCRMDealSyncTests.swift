import AMQP
import DealSync
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Sandbox
import Settings
import Testing

/// deal-sync against the amoCRM fake, on a real PostgreSQL (and RabbitMQ for webhooks).
@Suite struct AmoCRMDealSyncTests {
    static let paid = String(FakeAmoCRM.paidFieldID)

    /// `count` leads over both pipelines and every stage; a few with UTM, visit and request ids,
    /// contacts; prices in whole roubles.
    static func leads(_ count: Int) -> ([FakeAmoCRM.Lead], [FakeAmoCRM.Contact]) {
        var leads: [FakeAmoCRM.Lead] = []
        var contacts: [FakeAmoCRM.Contact] = []
        let start: Int64 = 1_772_000_000
        for index in 0..<count {
            let id = Int64(19_000 + index)
            let pipeline = FakeAmoCRM.pipelines[index % 2]
            let status = pipeline.statuses[(index / 2) % pipeline.statuses.count]
            var fields: [Int64: (code: String?, name: String, value: String)] = [
                700101: ("UTM_SOURCE", "utm_source", index % 3 == 0 ? "yandex" : "vk"),
                700103: ("UTM_CAMPAIGN", "utm_campaign", "campaign-\(index % 5)"),
                700120: (nil, "roistat", String(384_000 + index)),
                700121: (nil, "request_id", "req-\(index)"),
            ]
            if index % 7 == 0 { fields[700101] = nil }
            let contact = Int64(80_000 + index)
            contacts.append(FakeAmoCRM.Contact(id: contact, name: "Клиент \(index)", phones: ["8 (999) 123-\(String(format: "%04d", index))"],
                                               emails: [" Client\(index)@Example.ORG "]))
            leads.append(FakeAmoCRM.Lead(
                id: id, name: "Заявка \(index)", price: Int64(10_000 + index * 7), pipelineID: pipeline.id, statusID: status.id,
                createdAt: start + Int64(index), updatedAt: start + Int64(index),
                closedAt: status.id == 142 || status.id == 143 ? start + Int64(index) : nil, fields: fields,
                tags: index % 4 == 0 ? ["site"] : [], contactIDs: [contact]))
        }
        return (leads, contacts)
    }

    /// The status a deal in `stage` must have under the default mapping (definition 9).
    static func expectedStatus(_ stage: Int64) -> String {
        switch stage {
        case 142: return "won"
        case 143: return "lost"
        case 41000, 42000: return "excluded"
        default: return "open"
        }
    }

    struct World {
        let fake = FakeAmoCRM(clientID: "integration-id", clientSecret: "client-secret-x", refreshToken: "def502initial-refresh")
        let databaseURL: String
        let pool: PGPool

        static func make(leads count: Int = 620) async throws -> World {
            let url = try await TestStack.freshDatabase()
            let world = World(databaseURL: url, pool: PGPool(PGConfiguration(url: url), logger: TestStack.logger))
            let (leads, contacts) = AmoCRMDealSyncTests.leads(count)
            world.fake.load(leads, contacts: contacts)
            return world
        }

        func source(_ url: String, options extra: [String: String] = [:]) -> Source {
            var options = ["paid_field_id": AmoCRMDealSyncTests.paid, "requests_per_second": "0", "backoff_seconds": "0.01",
                           "overlap_seconds": "5", "redirect_uri": "https://example.org/amo/callback", "account_id": "29000001"]
            for (key, value) in extra { options[key] = value }
            return Source(id: "amo", kind: "amocrm", baseURL: url,
                          credentials: ["client_id": Secret(.inline("integration-id")), "client_secret": Secret(.inline("client-secret-x")),
                                        "refresh_token": Secret(.inline("def502initial-refresh"))],
                          options: options)
        }

        func settings(_ url: String, options: [String: String] = [:]) -> Settings {
            Settings(databaseURL: databaseURL, amqpURL: TestStack.amqpURL, projects: [
                Project(id: "school", name: "School", timeZone: "Europe/Moscow", currency: "RUB", sources: [source(url, options: options)]),
            ])
        }

        func connection(_ url: String, options: [String: String] = [:]) throws -> CRMConnection {
            let settings = settings(url, options: options)
            return try CRMConnection.make(settings.projects[0].sources[0], project: settings.projects[0], pool: pool, logger: TestStack.logger)
        }

        /// deal id → (status, amount, pipeline, stage) as stored.
        func stored() async throws -> [String: (String, Decimal, String, String)] {
            var deals: [String: (String, Decimal, String, String)] = [:]
            for row in try await pool.query("SELECT deal_id, status, amount, pipeline_id, stage_id FROM crm.deals WHERE NOT is_deleted") {
                deals[try row.decode(String.self, 0)] = (try row.decode(String.self, 1), try row.decode(Decimal.self, 2),
                                                        try row.decode(String.self, 3), try row.decode(String.self, 4))
            }
            return deals
        }

        /// Asserts the stored deals are the fake's leads: same set, amounts, stages and statuses.
        func expectMatchesFake(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let stored = try await stored()
            let leads = fake.leads
            #expect(stored.count == leads.count, sourceLocation: sourceLocation)
            for lead in leads {
                guard let deal = stored[String(lead.id)] else {
                    Issue.record("deal \(lead.id) is missing", sourceLocation: sourceLocation)
                    continue
                }
                #expect(deal.0 == AmoCRMDealSyncTests.expectedStatus(lead.statusID), "deal \(lead.id)", sourceLocation: sourceLocation)
                #expect(deal.1 == Decimal(lead.price), "deal \(lead.id)", sourceLocation: sourceLocation)
                #expect(deal.2 == String(lead.pipelineID) && deal.3 == String(lead.statusID), "deal \(lead.id)", sourceLocation: sourceLocation)
            }
        }

        func count(_ sql: String) async throws -> Int { try await pool.query(sql)[0].decode(Int.self, 0) }
    }

    @Test func fullThenIncrementalSyncEqualsTheFakeWithPaymentsAsDefinitionTenSays() async throws {
        let world = try await World.make()
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            let first = try await connection.engine.poll(catalog: catalog)
            #expect(first.written == 620 && first.problems.isEmpty)
            #expect(first.pages == 3)  // 250 + 250 + 120
            try await world.expectMatchesFake()
            // Contacts normalised; custom fields by code and by name; tags; managers and stages.
            let deal = try await world.pool.query("""
                SELECT d.visit_id, d.request_id, d.utm_source, d.utm_campaign, c.phones[1], c.emails[1], d.tags, d.manager_id
                FROM crm.deals d JOIN crm.contacts c ON c.contact_id = d.contact_ids[1] WHERE d.deal_id = '19003'
                """)[0]
            #expect(try deal.decode(String?.self, 0) == "384003")
            #expect(try deal.decode(String?.self, 1) == "req-3")
            #expect(try deal.decode(String?.self, 2) == "yandex")
            #expect(try deal.decode(String?.self, 3) == "campaign-3")
            #expect(try deal.decode(String?.self, 4) == "+79991230003")
            #expect(try deal.decode(String?.self, 5) == "client3@example.org")
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE utm_source IS NULL") == 89)  // every 7th lead has none
            #expect(try await world.count("SELECT count(*) FROM crm.stages") == 11)
            #expect(try await world.count("SELECT count(*) FROM crm.users") == 2)

            // Changes in the CRM: stage moves (with events), a paid total with events, one set
            // silently, a price change. The next poll reads only what changed.
            let callsBefore = world.fake.calls
            world.fake.move(19_001, stage: 142)        // won, no payment information → one payment of its amount
            world.fake.move(19_002, stage: 142)
            world.fake.setPaid(19_002, to: "4000")     // events: +4000
            world.fake.setPaid(19_002, to: "3500")     //         −500 (a refund)
            world.fake.move(19_003, stage: 142)
            world.fake.setPaid(19_003, to: "12000", silently: true)  // no event: a residual at close
            world.fake.setPrice(19_005, 77_777)
            // A manager typed text into the paid total for a while: the events on either side of
            // it are skipped (not read as a refund of 1000 and a payment of 1500); the residual
            // at the close settles the total.
            world.fake.setPaid(19_004, to: "1000")
            world.fake.setPaid(19_004, to: "оплачено частично")
            world.fake.setPaid(19_004, to: "1500")
            world.fake.move(19_004, stage: 142)
            let second = try await connection.engine.poll(catalog: catalog)
            #expect(second.written >= 4 && second.written < 20)
            #expect(world.fake.calls - callsBefore < 12)
            try await world.expectMatchesFake()
            func payments(_ deal: String) async throws -> [String] {
                try await world.pool.query("SELECT origin || ':' || amount::text FROM crm.deal_payments WHERE deal_id = $1 ORDER BY paid_at, origin", [deal])
                    .map { try $0.decode(String.self, 0) }
            }
            #expect(try await payments("19001") == ["won_amount:10007.0000"])
            #expect(try await payments("19002") == ["field_event:4000.0000", "field_event:-500.0000"])
            #expect(try await payments("19003") == ["field_residual:12000.0000"])
            #expect(try await payments("19004") == ["field_event:1000.0000", "field_residual:500.0000"])
            #expect(try await world.count("SELECT count(*) FROM crm.stage_changes") == 4)
            // Re-polling with the overlap writes the same rows again and changes nothing.
            _ = try await connection.engine.poll(catalog: catalog)
            try await world.expectMatchesFake()
            #expect(try await payments("19002") == ["field_event:4000.0000", "field_event:-500.0000"])
            // Every page's deal.changed went to the outbox with it.
            #expect(try await world.count("SELECT count(*) FROM runtime.outbox WHERE routing_key = 'deal.changed'") >= 4)
        }
    }

    @Test func rotatingRefreshTokensAreStoredAtOnceAndThrottlingIsWaitedOut() async throws {
        let world = try await World.make(leads: 300)
        var knobs = FakeAmoCRM.Knobs()
        knobs.tokenLifetimeCalls = 3
        knobs.tooManyRequests = 3
        knobs.serverErrors = 2
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            try await world.expectMatchesFake()
            #expect(world.fake.tokensIssued >= 3)  // expired after 3 calls: refreshed, rotated, again
            let stored = try await world.pool.query("SELECT refresh_token FROM crm.tokens")[0].decode(String.self, 0)
            #expect(stored == "def502fake-refresh-\(world.fake.tokensIssued)")  // the newest, stored at once
            // The configured initial refresh token was spent: a new client relies on the stored one.
            let again = try world.connection(url)
            _ = try await again.engine.poll(catalog: catalog)
            #expect(try await world.count("SELECT count(*) FROM crm.deals") == 300)
        }
    }

    @Test func reconciliationMarksDeletedDealsAndFollowsPipelineMoves() async throws {
        let world = try await World.make(leads: 40)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            world.fake.delete(19_010)
            world.fake.delete(19_011)
            world.fake.move(19_012, pipeline: 3002, stage: 42001)
            let outcome = try await connection.engine.reconcile(catalog: catalog)
            #expect(outcome.deleted == 2)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE is_deleted AND deal_id IN ('19010', '19011')") == 2)
            try await world.expectMatchesFake()  // the moved deal is in its new pipeline; deleted ones are left out
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19012' AND pipeline_id = '3002' AND stage_id = '42001'") == 1)
            // Reconciling again changes nothing.
            #expect(try await connection.engine.reconcile(catalog: catalog).deleted == 0)
        }
    }

    /// A manager edits deals while a sync pages through the list in modification order: the edited
    /// deal moves to the end, and with page numbers the deal that slid into the page already read
    /// was never read. Paging by key reads every deal. And a deal a listing leaves out is asked
    /// for by id before reconciliation marks it deleted.
    @Test func dealsEditedWhileASyncPagesAreNeitherSkippedNorMarkedDeleted() async throws {
        let world = try await World.make(leads: 620)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            var knobs = FakeAmoCRM.Knobs()
            knobs.editsAfterListCall = [1: [19_005], 2: [19_300, 19_301]]
            world.fake.setKnobs(knobs)
            _ = try await connection.engine.poll(catalog: catalog)
            try await world.expectMatchesFake()  // 19,250 and 19,502 slid into pages already read: still there
            #expect(try await world.count("SELECT count(*) FROM crm.deals") == 620)

            // Reconciliation: a listing that misses a live deal, and a manager's edit meanwhile.
            knobs = FakeAmoCRM.Knobs()
            knobs.missingFromLists = [19_100]
            knobs.editsAfterListCall = [world.fake.leadListCalls + 1: [19_010]]
            world.fake.setKnobs(knobs)
            world.fake.delete(19_011)
            let outcome = try await connection.engine.reconcile(catalog: catalog)
            #expect(outcome.deleted == 1)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE is_deleted") == 1)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19100' AND NOT is_deleted") == 1)
            try await world.expectMatchesFake()
        }
    }

    /// A page read before a deal was deleted and committed after (a poll on one replica, the
    /// delete webhook on another) carries the version the deletion saw: it does not bring the
    /// deal back. A version the CRM makes later (a lead restored) does.
    @Test func aPageReadBeforeADeletionDoesNotBringTheDealBack() async throws {
        let world = try await World.make(leads: 3)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            let store = connection.engine.store
            let read = try await connection.engine.source.deals(ids: ["19001"])  // read before the deletion
            world.fake.delete(19_001)
            let deleted = try await world.pool.withTransaction { try await connection.engine.syncDeals(ids: ["19001"], catalog: catalog, on: $0) }
            #expect(deleted.deleted == 1)
            _ = try await world.pool.withTransaction { try await store.write(read, contacts: [], history: CRMHistory(), catalog: catalog, on: $0) }
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19001' AND is_deleted") == 1)
            var restored = read
            restored.deals[0].updatedAt = restored.deals[0].updatedAt.addingTimeInterval(60)
            _ = try await world.pool.withTransaction { try await store.write(restored, contacts: [], history: CRMHistory(), catalog: catalog, on: $0) }
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19001' AND NOT is_deleted") == 1)
        }
    }

    /// Two deals name one contact, and the contact's phone is corrected while only one deal
    /// changes: the other deal is announced too (`deal.changed`), so the resolver links both by
    /// the new phone (definition 8c) instead of leaving the second on the old one.
    @Test func aContactsNewPhoneAnnouncesEveryDealNamingIt() async throws {
        let generated = AmoCRMDealSyncTests.leads(4)
        var leads = generated.0
        let contacts = generated.1
        leads[2].contactIDs = leads[1].contactIDs  // 19001 and 19002 share contact 80001
        for index in leads.indices { leads[index].updatedAt += Int64(index) * 1000 }  // far apart: the poll's overlap reads none again
        let world = try await World.make(leads: 0)
        world.fake.load(leads, contacts: contacts)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            try await world.pool.query("DELETE FROM runtime.outbox")
            var contact = contacts[1]
            contact.phones = ["+7 999 000-11-22"]
            world.fake.load([], contacts: [contact])
            world.fake.setPrice(19_001, 12_345)  // only 19001 changes in the CRM
            _ = try await connection.engine.poll(catalog: catalog)
            var announced = Set<String>()
            for row in try await world.pool.query("SELECT convert_from(body, 'UTF8') FROM runtime.outbox WHERE routing_key = 'deal.changed'") {
                let envelope = try JSONValue.parse(Array(try row.decode(String.self, 0).utf8))
                for deal in envelope["payload"]?["deals"]?.array ?? [] { announced.insert(deal.text ?? "") }
            }
            #expect(announced.isSuperset(of: ["19001", "19002"]), "\(announced)")
            #expect(!announced.contains("19000"))
            #expect(try await world.count("SELECT count(*) FROM crm.contacts WHERE contact_id = '80001' AND phones = ARRAY['+79990001122']") == 1)
        }
    }

    @Test func remappingAStageChangesStatusesWithoutCallingTheCRM() async throws {
        let world = try await World.make(leads: 60)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            let signed = try await world.count("SELECT count(*) FROM crm.deals WHERE stage_id = '41003'")
            #expect(signed > 0)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE stage_id = '41003' AND status = 'open'") == signed)
            let calls = world.fake.calls
            // "Договор подписан" now counts as won; the webinar pipeline's cleaning stage is excluded;
            // margins give cost of goods, at full precision (definition 15).
            let remapped = try world.connection(url, options: ["status.3001.41003": "won", "status.42002": "excluded",
                                                               "margin_pipeline.3001": "33.333"])
            let outcome = try await DealRemap.run(remapped.engine.store, pool: world.pool)
            #expect(outcome.changed[.won] == signed)
            #expect(outcome.changed[.excluded] == (try await world.count("SELECT count(*) FROM crm.deals WHERE stage_id = '42002'")))
            #expect(world.fake.calls == calls)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE stage_id = '41003' AND status = 'won'") == signed)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE pipeline_id = '3001' AND cost_of_goods = amount * 0.66667") ==
                    (try await world.count("SELECT count(*) FROM crm.deals WHERE pipeline_id = '3001'")))
            // 10,007 × 0.66667 = 6,671.36669: more decimals than the amounts have, none cut.
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE pipeline_id = '3001' AND cost_of_goods <> round(cost_of_goods, 4)") > 0)
            // A won deal without payment information now has its implied payment.
            #expect(try await world.count("SELECT count(*) FROM crm.deal_payments p JOIN crm.deals d USING (project_id, connection_id, deal_id) WHERE d.stage_id = '41003' AND p.origin = 'won_amount'") == signed)
            #expect(try await DealRemap.run(remapped.engine.store, pool: world.pool).changed.isEmpty)
        }
    }

    @Test func aStageCreatedInTheCRMAfterTheCatalogWasReadIsPickedUpAtOnce() async throws {
        let world = try await World.make(leads: 10)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let catalog = try await connection.engine.syncCatalog()
            _ = try await connection.engine.poll(catalog: catalog)
            let catalogCalls = world.fake.paths.filter { $0 == "/api/v4/leads/pipelines" }.count
            // A manager adds a stage and moves a deal there; the poller still holds the old catalog.
            var knobs = FakeAmoCRM.Knobs()
            knobs.addedStage = 41_009
            world.fake.setKnobs(knobs)
            world.fake.move(19_000, stage: 41_009)
            let outcome = try await connection.engine.poll(catalog: catalog)
            #expect(outcome.catalog?.kind(pipeline: "3001", stage: "41009") == .regular)
            #expect(world.fake.paths.filter { $0 == "/api/v4/leads/pipelines" }.count == catalogCalls + 1)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19000' AND status = 'open'") == 1)
            // A poll with nothing new reads no catalog.
            _ = try await connection.engine.poll(catalog: outcome.catalog!)
            #expect(world.fake.paths.filter { $0 == "/api/v4/leads/pipelines" }.count == catalogCalls + 1)
        }
    }

    @Test func aMalformedAmountFailsOnlyThatDealAndAnUnknownStageIsKept() async throws {
        let world = try await World.make(leads: 30)
        var knobs = FakeAmoCRM.Knobs()
        knobs.malformedPrice = [19_004]
        knobs.strayStage = [19_006]
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let outcome = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            #expect(outcome.written == 29)
            #expect(outcome.problems.map(\.description) == ["amocrm deal 19004: price: '45 000 руб' is not valid"])
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19004'") == 0)
            #expect(try await world.pool.query("SELECT message FROM crm.sync_errors WHERE deal_id = '19004'")[0].decode(String.self, 0)
                    .contains("price"))
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19006' AND status = 'unknown'") == 1)
            // The operator sees both in the CLI's status.
            let config = try Self.configFile(url: url, pollSeconds: "60")
            let status = try ChildProcess("analytics", arguments: ["deals", "status", "--config", config],
                                          environment: ["DATABASE_URL": world.databaseURL, "AMO_CLIENT_SECRET": "client-secret-x"])
            #expect(await status.waitForExit(seconds: 60) == 0, "\(status.log)")
            #expect(status.log.contains("unknown: 1 deals"), "\(status.log)")
            #expect(status.log.contains("unknown stage 3001/99999: 1 deals"), "\(status.log)")
            #expect(status.log.contains("not synced: amocrm deal 19004: price: '45 000 руб' is not valid"), "\(status.log)")
            // Fixed in the CRM: the next sync takes it and clears the error.
            world.fake.setKnobs(FakeAmoCRM.Knobs())
            world.fake.setPrice(19_004, 5_000)
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            #expect(try await world.count("SELECT count(*) FROM crm.sync_errors") == 0)
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19004' AND amount = 5000") == 1)
        }
    }

    /// A configuration file for the deal-sync executable.
    static func configFile(url: String, pollSeconds: String, requestsPerSecond: String = "0") throws -> String {
        let path = "/tmp/\(TestStack.unique("amo")).yaml"
        try """
            projects:
              - id: school
                name: School
                time_zone: Europe/Moscow
                currency: RUB
                sources:
                  - id: amo
                    kind: amocrm
                    base_url: \(url)
                    credentials:
                      client_id: {value: integration-id}
                      client_secret: {env: AMO_CLIENT_SECRET}
                      refresh_token: {value: def502initial-refresh}
                    options: {paid_field_id: "\(paid)", requests_per_second: "\(requestsPerSecond)", poll_seconds: "\(pollSeconds)",
                              backoff_seconds: "0.01", account_id: "29000001", redirect_uri: "https://example.org/cb"}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func anEmptyCRMAnswers204AndPaymentSheetsReplaceTheirDealsPayments() async throws {
        let world = try await World.make(leads: 0)
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url)
            let outcome = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            #expect(outcome.written == 0 && outcome.pages == 0)
            #expect(world.fake.paths.filter { $0 == "/api/v4/leads" }.count == 1)  // one 204, no second page asked
            #expect(try await world.count("SELECT count(*) FROM crm.sync_state WHERE full_sync_done_at IS NOT NULL") == 1)

            // Payments kept elsewhere: a CSV for two deals, then a corrected export of one of them.
            let (leads, contacts) = AmoCRMDealSyncTests.leads(4)
            world.fake.load(leads, contacts: contacts)
            world.fake.move(19_001, stage: 142)
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            let moscow = TimeZone(identifier: "Europe/Moscow")!
            let first = try PaymentSheet("deal;date;amount\n19001;01.03.2026;5000\n19001;02.03.2026;5 007,00\n19002;03.03.2026;100\n",
                                         currency: "RUB", timeZone: moscow)
            let stored = try await first.store(connection.engine.store, pool: world.pool)
            #expect(stored.payments == 3 && stored.deals == 2 && stored.unknownDeals == 0)
            let corrected = try PaymentSheet("deal;date;amount\n19001;01.03.2026;5000\n19001;05.03.2026;-1000\n", currency: "RUB", timeZone: moscow)
            _ = try await corrected.store(connection.engine.store, pool: world.pool)
            let rows = try await world.pool.query("""
                SELECT deal_id, origin, amount::text FROM crm.deal_payments WHERE deal_id IN ('19001', '19002') ORDER BY deal_id, paid_at
                """).map { "\(try $0.decode(String.self, 0)) \(try $0.decode(String.self, 1)) \(try $0.decode(String.self, 2))" }
            // 19001: the corrected file replaced its payments (a refund included); the won deal's
            // implied payment gave way to them. 19002 keeps its payment.
            #expect(rows == ["19001 csv 5000.0000", "19001 csv -1000.0000", "19002 csv 100.0000"])
        }
    }

    @Test func productsComeFromCatalogElementsWithTheirNamesPricesAndMargins() async throws {
        let world = try await World.make(leads: 0)
        var (leads, contacts) = AmoCRMDealSyncTests.leads(6)
        leads[1].products = [(9001, 1), (9002, 3)]
        leads[2].products = [(9003, 1)]
        world.fake.load(leads, contacts: contacts)
        let changed = leads[1]
        try await FakeServer.serve(world.fake.router()) { url in
            let connection = try world.connection(url, options: ["margin.Курс «Аналитика»": "80"])
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            let lines = try await world.pool.query("SELECT deal_id, line, product_id, name, quantity::text, price::text FROM crm.deal_products ORDER BY 1, 2")
                .map { row in try (0..<6).map { try row.decode(String.self, $0) }.joined(separator: "|") }
            #expect(lines == ["19001|1|9001|Курс «Аналитика»|1.0000|45000.0000", "19001|2|9002|Консультация|3.0000|5000.5000",
                              "19002|1|9003|Вебинар|1.0000|0.0000"])
            // The first product with a margin sets cost of goods: 20 % of the amount.
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19001' AND cost_of_goods = amount * 0.2 AND products[1] = 'Курс «Аналитика»'") == 1)
            // A product removed in the CRM disappears here with the next version of the deal.
            world.fake.load([{ var lead = changed; lead.products = [(9002, 1)]; lead.updatedAt = world.fake.now + 1; return lead }()], contacts: [])
            _ = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
            #expect(try await world.count("SELECT count(*) FROM crm.deal_products WHERE deal_id = '19001'") == 1)
        }
    }
}

/// The tests that run the deal-sync executable. Every deal-sync process consumes the one
/// `deal-sync` queue of the shared broker, so two of them at once would take each other's
/// webhooks: these run one after the other.
@Suite(.serialized) struct DealSyncProcessTests {
    @Test func aWebhookSyncsThatDealAtOnceWithoutAFullPoll() async throws {
        let world = try await AmoCRMDealSyncTests.World.make(leads: 80)
        _ = try? await AMQPAdmin.purge(ClusterTopology.dealSyncQueue, configuration: TestStack.amqp)  // leftovers of earlier runs
        try await FakeServer.serve(world.fake.router()) { url in
            let config = try AmoCRMDealSyncTests.configFile(url: url, pollSeconds: "3600")
            let environment = ["DATABASE_URL": world.databaseURL, "AMO_CLIENT_SECRET": "client-secret-x"]
            let service = try ChildProcess("deal-sync", arguments: ["--config", config], environment: environment)
            let synced = await TestStack.eventually(seconds: 60) { ((try? await world.count("SELECT count(*) FROM crm.deals")) ?? 0) == 80 }
            #expect(synced, "\(service.log)")
            // The first poll is done (and the next is an hour away); a deal changes and its webhook arrives.
            _ = await TestStack.eventually(seconds: 30) { ((try? await world.count("SELECT count(*) FROM crm.sync_state WHERE reconciled_at IS NOT NULL")) ?? 0) == 1 }
            let callsBefore = world.fake.paths.count
            #expect(try await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19021' AND status = 'excluded'") == 1)
            world.fake.move(19_021, stage: 142)
            world.fake.setPaid(19_021, to: "2500")
            let hook = try ChildProcess("analytics", arguments: ["deals", "webhook", "--config", config, "--body-file",
                                                                 try Self.write(world.fake.webhookBody(for: 19_021, action: "status"))],
                                        environment: environment)
            #expect(await hook.waitForExit(seconds: 60) == 0, "\(hook.log)")
            let updated = await TestStack.eventually(seconds: 60) {
                ((try? await world.count("SELECT count(*) FROM crm.deals WHERE deal_id = '19021' AND status = 'won'")) ?? 0) == 1
            }
            #expect(updated, "\(service.log)")
            #expect(try await world.count("SELECT count(*) FROM crm.deal_payments WHERE deal_id = '19021' AND origin = 'field_event' AND amount = 2500") == 1)
            // Only that deal was read: the lead, its contact and its events — no list of every lead.
            let paths = Array(world.fake.paths.dropFirst(callsBefore))
            #expect(paths.count <= 4, "\(paths)")
            #expect(Set(paths).isSubset(of: ["/api/v4/leads", "/api/v4/contacts", "/api/v4/events", "/api/v4/leads/pipelines"]))
            // A webhook for another amoCRM account is refused with the reason (dead-lettered).
            let deadBefore = (try? await AMQPAdmin.queueStatus("deal-sync.dead", configuration: TestStack.amqp).messages) ?? 0
            let foreign = try ChildProcess("analytics", arguments: ["deals", "webhook", "--config", config, "--body-file",
                                                                    try Self.write("leads[update][0][id]=19023&account[id]=1")],
                                           environment: environment)
            #expect(await foreign.waitForExit(seconds: 60) == 0)
            let dead = await TestStack.eventually(seconds: 60) {
                ((try? await AMQPAdmin.queueStatus("deal-sync.dead", configuration: TestStack.amqp).messages) ?? 0) >= deadBefore + 1
            }
            #expect(dead, "\(service.log)")
            service.signal(SIGTERM)
            #expect(await service.waitForExit(seconds: 30) == 0, "\(service.log)")
            #expect(!service.log.contains("client-secret-x"))
        }
    }

    static func write(_ text: String) throws -> String {
        let path = "/tmp/\(TestStack.unique("hook")).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func killingDealSyncMidSyncThenRestartingLosesAndDoublesNothing() async throws {
        let world = try await AmoCRMDealSyncTests.World.make(leads: 3000)
        for id in stride(from: Int64(19_000), to: 19_300, by: 3) { world.fake.setPaid(id, to: "1000") }
        _ = try? await AMQPAdmin.purge(ClusterTopology.dealSyncQueue, configuration: TestStack.amqp)  // leftovers of earlier runs
        try await FakeServer.serve(world.fake.router()) { url in
            // 25 requests a second: the 12 pages of the full sync take a few seconds.
            let config = try AmoCRMDealSyncTests.configFile(url: url, pollSeconds: "3600", requestsPerSecond: "25")
            let environment = ["DATABASE_URL": world.databaseURL, "AMO_CLIENT_SECRET": "client-secret-x"]
            let first = try ChildProcess("deal-sync", arguments: ["--config", config], environment: environment)
            let started = await TestStack.eventually(seconds: 60) { ((try? await world.count("SELECT count(*) FROM crm.deals")) ?? 0) >= 500 }
            #expect(started, "\(first.log)")
            first.signal(SIGKILL)
            _ = await first.waitForExit(seconds: 10)
            let partial = try await world.count("SELECT count(*) FROM crm.deals")
            #expect(partial < 3000, "the kill came after the full sync; nothing was tested")
            let second = try ChildProcess("deal-sync", arguments: ["--config", config], environment: environment)
            let done = await TestStack.eventually(seconds: 120) {
                ((try? await world.count("SELECT count(*) FROM crm.sync_state WHERE full_sync_done_at IS NOT NULL AND events_watermark IS NOT NULL")) ?? 0) == 1
            }
            #expect(done, "\(second.log)")
            try await world.expectMatchesFake()
            #expect(try await world.count("SELECT count(*) FROM crm.payments") == 100)
            #expect(try await world.count("SELECT count(*) FROM crm.deal_payments WHERE origin = 'field_event' AND amount = 1000") == 100)
            second.signal(SIGTERM)
            _ = await second.waitForExit(seconds: 30)
        }
    }
}
