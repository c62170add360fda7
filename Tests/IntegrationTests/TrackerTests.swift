import AMQP
import AsyncHTTPClient
import Domain
import Foundation
import Identity
import Logging
import Postgres
import NIOCore
import Runtime
import Settings
import Testing
import Tracker

/// The tracker's HTTP API (contracts.md §1) against a real RabbitMQ: what it answers, and what it
/// publishes before answering.
@Suite struct TrackerTests {
    static let ingest = "ingest-secret-key"
    static let site = "public-site-key"

    /// A tracker in-process on a free port, a private queue that receives what it publishes, and
    /// the project id this test uses.
    struct World {
        let project: String
        let queue: String
        let url: String
        var amqp: AMQPConfiguration = TestStack.amqp
        let stop: @Sendable () async -> Void

        static func make() async throws -> World {
            let project = TestStack.unique("trk")
            let queue = "test-\(project)"
            try await AMQPAdmin.declare(AMQPTopology(exchanges: [.init(ClusterTopology.exchange)], queues: [.init(queue, type: .classic)],
                                                     bindings: [.init(queue: queue, exchange: ClusterTopology.exchange, routingKey: ClusterTopology.eventsTracked),
                                                                .init(queue: queue, exchange: ClusterTopology.exchange, routingKey: ClusterTopology.crmWebhook)]),
                                        configuration: TestStack.amqp)
            let settings = Settings(databaseURL: TestStack.databaseURL, amqpURL: TestStack.amqpURL, httpPort: 0, projects: [
                Project(id: project, name: "Tracker test", ingestKey: Secret(.inline(TrackerTests.ingest)), siteKey: Secret(.inline(TrackerTests.site)),
                        siteDomains: ["school.example"], sources: [
                            Source(id: "amo", kind: "amocrm", credentials: ["webhook_secret": Secret(.inline("amo-hook-secret"))]),
                            Source(id: "b24", kind: "bitrix24", credentials: ["webhook_secret": Secret(.inline("b24-hook-secret")),
                                                                            "application_token": Secret(.inline("app-token"))]),
                        ]),
            ])
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let group = try TrackerApp.build(settings: settings, host: "127.0.0.1", port: 0, logger: TestStack.logger) { port in continuation.yield(port) }
            let running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            return World(project: project, queue: queue, url: "http://127.0.0.1:\(port)/v1/projects/\(project)") {
                await group.triggerGracefulShutdown()
                _ = try? await running.value
                try? await AMQPAdmin.deleteQueues([queue], configuration: TestStack.amqp)
            }
        }

        /// Posts `body`; returns the status and the answer's JSON.
        func post(_ path: String, _ body: String, key: String? = TrackerTests.ingest, query: String = "",
                  contentType: String = "application/json") async throws -> (Int, JSONValue) {
            var request = HTTPClientRequest(url: url + path + query)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            request.body = .bytes(ByteBuffer(string: body))
            // A generous guard, not a timing assertion: the whole suite loads the same broker.
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(180))
            let bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            return (Int(response.status.code), (try? JSONValue.parse(bytes)) ?? .null)
        }

        /// Every message of this project the private queue holds (waiting until `count` arrived),
        /// each once: delivery is at least once, and a message the publisher sent again (after a
        /// nack, or after confirms stopped coming and it reconnected) carries the same envelope id
        /// and the same records (which the resolver stores once by their ids). A message sent
        /// twice is not an event published twice; a refused record published under any id still
        /// counts.
        func messages(atLeast count: Int) async throws -> [(type: String, payload: JSONValue)] {
            let consumer = AMQPConsumer(configuration: amqp, queue: queue, topology: AMQPTopology(), prefetch: 1000, logger: TestStack.logger)
            var found: [(String, JSONValue)] = []
            var ids: Set<String> = []
            let deadline = Date().addingTimeInterval(30)
            var rounds = 0
            while rounds == 0 || (found.count < count && Date() < deadline) {
                rounds += 1
                let batch = try await consumer.receive(max: 1000, wait: 1, linger: 0.05)
                for delivery in batch {
                    let envelope = try JSONValue.parse(delivery.body)
                    guard envelope["project"]?.text == project, ids.insert(envelope["id"]?.text ?? UUID().uuidString).inserted else { continue }
                    found.append((envelope["type"]?.text ?? "", envelope["payload"] ?? .null))
                }
                _ = try await consumer.ack(batch)
            }
            await consumer.close()
            return found
        }
    }

    @Test func visitsAndLeadsAreNormalisedAndInTheBrokerBeforeTheAnswer() async throws {
        let world = try await World.make()
        let (status, answer) = try await world.post("/visits", #"""
            {"occurred_at": "2026-03-01T10:15:00.5+03:00", "client_id": "c-1",
             "landing_url": "https://school.example/course?utm_source=yandex&utm_medium=cpc&utm_campaign=%D0%B2%D0%B5%D1%81%D0%BD%D0%B0+2026&yclid=777",
             "referrer": "https://www.google.com/search?q=x", "utm_content": "posted-content"}
            """#)
        #expect(status == 201)
        let visitID = try #require(answer["visit_id"]?.text)
        #expect(UUID(uuidString: visitID) != nil)  // a new visit number
        // The same visit again, with its id: accepted again (the resolver keeps one).
        #expect(try await world.post("/visits", #"{"visit_id": "v-42", "occurred_at": "2026-03-01T07:00:00Z", "landing_url": "https://school.example/", "referrer": "https://vk.com/feed"}"#).0 == 201)
        #expect(try await world.post("/visits", #"{"visit_id": "v-43", "occurred_at": "2026-03-01T07:00:00Z", "landing_url": "https://school.example/a", "referrer": "https://lk.school.example/"}"#, key: nil, query: "?key=\(Self.site)").0 == 201)
        let (leadStatus, _) = try await world.post("/leads", #"{"request_id": "r-1", "visit_id": "v-42", "occurred_at": "2026-03-01T10:20:00+03:00", "kind": "form", "phone": "8 (999) 123-45-67", "email": "  Ivan@Example.ORG ", "name": "Иван"}"#)
        #expect(leadStatus == 202)
        #expect(try await world.post("/leads", #"{"request_id": "r-2", "occurred_at": "2026-03-01T10:21:00+03:00", "kind": "call", "phone": "123-45"}"#).0 == 202)

        let messages = try await world.messages(atLeast: 5)
        let visits = messages.flatMap { $0.payload["visits"]?.array ?? [] }
        let leads = messages.flatMap { $0.payload["leads"]?.array ?? [] }
        #expect(messages.allSatisfy { $0.type == "events.tracked" })
        #expect(visits.count == 3 && leads.count == 2)
        let first = try #require(visits.first { $0["visit_id"]?.text == visitID })
        #expect(first["utm_source"]?.text == "yandex")
        #expect(first["utm_campaign"]?.text == "весна 2026")      // percent-decoded, '+' as a space
        #expect(first["utm_content"]?.text == "posted-content")   // the body wins over the URL
        #expect(first["click_id"]?.text == "777" && first["click_id_kind"]?.text == "yclid")
        #expect(first["traffic"]?.text == "paid")
        #expect(first["referrer_host"]?.text == "google.com" && first["referrer_kind"]?.text == "search")
        #expect(first["occurred_at"]?.text == "2026-03-01T07:15:00.500000Z")
        let social = try #require(visits.first { $0["visit_id"]?.text == "v-42" })
        #expect(social["traffic"]?.text == "social")
        let own = try #require(visits.first { $0["visit_id"]?.text == "v-43" })
        #expect(own["referrer_kind"]?.text == "internal" && own["traffic"]?.text == "direct")  // the project's own site is not external
        let lead = try #require(leads.first { $0["request_id"]?.text == "r-1" })
        #expect(lead["phone"]?.text == "+79991234567")
        #expect(lead["email"]?.text == "ivan@example.org")
        #expect(leads.first { $0["request_id"]?.text == "r-2" }?["phone"] == nil)  // fewer than 10 digits: no phone, not refused
        await world.stop()
    }

    @Test func everyBadInputGetsItsStatusAndNamesTheField() async throws {
        let world = try await World.make()
        let visit = #""landing_url": "https://school.example/""#
        let cases: [(String, String, Int, String?)] = [
            ("/visits", #"{\#(visit)}"#, 400, "occurred_at"),
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00", \#(visit)}"#, 400, "occurred_at"),  // no offset
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z"}"#, 400, "landing_url"),
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "school.example/page"}"#, 400, "landing_url"),
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", \#(visit), "referrer": "not a url"}"#, 400, "referrer"),
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", \#(visit), "utm_source": 5}"#, 400, "utm_source"),
            ("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", \#(visit), "visit_id": "a b"}"#, 400, "visit_id"),
            ("/visits", #"[1, 2]"#, 400, nil),
            ("/visits", #"{"occurred_at": "#, 400, nil),
            ("/leads", #"{"occurred_at": "2026-03-01T10:15:00Z", "kind": "form"}"#, 400, "request_id"),
            ("/leads", #"{"request_id": "r", "occurred_at": "2026-03-01T10:15:00Z", "kind": "fax"}"#, 400, "kind"),
            ("/leads", #"{"request_id": "r", "occurred_at": "2026-03-01T10:15:00Z", "kind": "form", "email": "nobody"}"#, 400, "email"),
            ("/leads", #"{"request_id": "r", "kind": "form"}"#, 400, "occurred_at"),
        ]
        for (path, body, status, field) in cases {
            let (got, answer) = try await world.post(path, body)
            #expect(got == status, "\(path) \(body)")
            #expect(answer["field"]?.text == field, "\(path) \(body): \(answer)")
            #expect(answer["error"]?.text?.isEmpty == false)
        }
        let good = #"{"occurred_at": "2026-03-01T10:15:00Z", \#(visit)}"#
        #expect(try await world.post("/visits", good, key: "wrong").0 == 401)
        #expect(try await world.post("/visits", good, key: Self.ingest + "x").0 == 401)
        #expect(try await world.post("/visits", good, key: String(Self.ingest.dropLast())).0 == 401)
        #expect(try await world.post("/visits", good, key: nil, query: "?key=\(Self.site)x").0 == 401)
        #expect(try await world.post("/visits", good, key: nil).0 == 401)
        #expect(try await world.post("/events", #"{"type": "visit", \#(good.dropFirst())"#, key: nil, query: "?key=\(Self.site)").0 == 401)  // site keys only record
        var missing = world.url
        missing.removeLast(world.project.count)
        var request = HTTPClientRequest(url: missing + "no-such-project/visits")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(Self.ingest)")
        request.body = .bytes(ByteBuffer(string: good))
        #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(30)).status.code == 404)
        let huge = #"{"occurred_at": "2026-03-01T10:15:00Z", \#(visit), "user_agent": ""# + String(repeating: "x", count: 1 << 20) + #""}"#
        #expect(try await world.post("/visits", huge).0 == 413)
        #expect(try await world.messages(atLeast: 0).isEmpty)  // nothing bad was published
        await world.stop()
    }

    @Test func bulkEventsAcceptTheGoodLinesAndNameTheBadOnes() async throws {
        let world = try await World.make()
        let lines = [
            #"{"type": "visit", "visit_id": "b-1", "occurred_at": "2026-03-01T10:00:00+03:00", "landing_url": "https://school.example/?utm_source=vk&utm_medium=paid_social"}"#,
            #"{"type": "lead", "request_id": "br-1", "visit_id": "b-1", "occurred_at": "2026-03-01T10:05:00+03:00", "kind": "chat"}"#,
            "",
            #"{"type": "visit", "occurred_at": "yesterday", "landing_url": "https://school.example/"}"#,
            #"{"type": "sale"}"#,
            #"not json"#,
            #"{"type": "lead", "request_id": "br-2", "occurred_at": "2026-03-01T11:00:00Z", "kind": "email", "email": "a@b.ru"}"#,
        ]
        let (status, answer) = try await world.post("/events", lines.joined(separator: "\n") + "\n", contentType: "application/x-ndjson")
        #expect(status == 202)
        #expect(answer["accepted"]?.text == "3")
        let rejected = answer["rejected"]?.array ?? []
        #expect(rejected.compactMap { $0["line"]?.text } == ["4", "5", "6"])
        #expect(rejected.first?["error"]?.text?.contains("occurred_at") == true)
        let messages = try await world.messages(atLeast: 1)
        #expect(messages.flatMap { $0.payload["visits"]?.array ?? [] }.count == 1)
        #expect(messages.flatMap { $0.payload["leads"]?.array ?? [] }.count == 2)
        #expect(messages.count == 1)  // one request, one message
        await world.stop()
    }

    /// What a link can put in a landing URL's query is cleaned, not refused (the visitor is real):
    /// NUL characters, which PostgreSQL's text cannot hold, are removed, tags are trimmed and cut
    /// to 500 bytes, a blank click id is none. Such visits, and those around them in one message,
    /// are stored by the resolver. Referrers are classed by host: the project's domains given
    /// with `www.` and the landing page's own host are internal, a search engine's mail or
    /// translator is a referral.
    @Test func oddLandingTagsAreCleanedStoredWithTheirBatchAndReferrersClassedByHost() async throws {
        let reader = EventReader(siteDomains: ["www.shop.example"])
        func visit(_ landing: String, referrer: String? = nil, id: String) throws -> TrackedVisit {
            var fields: [String: JSONValue] = ["visit_id": .string(id), "occurred_at": .string("2026-03-01T10:00:00+03:00"), "landing_url": .string(landing)]
            if let referrer { fields["referrer"] = .string(referrer) }
            return try reader.visit(.object(fields), receivedAt: Date(), newID: { "unused" })
        }
        let long = String(repeating: "ж", count: 400)  // 800 bytes
        let odd = try visit("https://shop.example/?utm_source=%00ya%00&utm_medium=%20cpc%20&utm_campaign=\(long)&yclid=%20%00", id: "odd")
        #expect(odd.utmSource == "ya" && odd.utmMedium == "cpc")
        #expect(odd.utmCampaign == String(repeating: "ж", count: 250))  // 500 bytes, whole characters
        #expect(odd.clickID == nil && odd.clickIDKind == nil)
        let blankClick = try visit("https://shop.example/?gclid=+&fbclid=fb-1", id: "blank-click")
        #expect(blankClick.clickIDKind == "fbclid" && blankClick.clickID == "fb-1")
        let kinds = try [
            ("https://promo.example/", "https://www.shop.example/cart", "internal"),      // a site domain configured with www.
            ("https://promo.example/", "https://m.shop.example/", "internal"),
            ("https://lp.other.example/", "https://lp.other.example/form", "internal"),  // the landing page's own host
            ("https://shop.example/", "https://mail.yandex.ru/?uid=1", "referral"),
            ("https://shop.example/", "https://translate.google.com/", "referral"),
            ("https://shop.example/", "https://m.yandex.ru/search/?text=x", "search"),
            ("https://shop.example/", "https://www.google.co.uk/", "search"),
            ("https://shop.example/", "https://yandex.com.tr/", "search"),
        ].map { landing, referrer, _ in try visit(landing, referrer: referrer, id: "k").referrerKind }
        #expect(kinds == ["internal", "internal", "internal", "referral", "referral", "search", "search", "search"])

        // The cleaned visit and good ones in one message: the resolver stores every one.
        let pool = PGPool(PGConfiguration(url: try await TestStack.freshDatabase()), logger: TestStack.logger)
        let good = try visit("https://shop.example/?utm_source=vk", id: "good")
        let batch = try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: "shop",
                                                           payload: TrackedBatch(visits: [good, odd, blankClick])))
        let handler = IdentityHandler(projects: [Project(id: "shop", name: "Shop")])
        try await pool.withTransaction { try await handler.handle([batch], on: $0, logger: TestStack.logger) }
        let stored = try await pool.query("SELECT visit_id, coalesce(utm_source, '') FROM journey.visits ORDER BY 1")
        #expect(try stored.map { try $0.decode(String.self, 0) + "=" + $0.decode(String.self, 1) } == ["blank-click=", "good=vk", "odd=ya"])
        await pool.close()

        // Over HTTP: such a link is accepted; the same NUL posted as a field is refused, naming it.
        let world = try await World.make()
        #expect(try await world.post("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/?utm_source=%00"}"#).0 == 201)
        let (status, answer) = try await world.post("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/", "utm_term": "a\u0000"}"#)
        #expect(status == 400 && answer["field"]?.text == "utm_term")
        await world.stop()
    }

    /// Browser beacons come from the site's origin: a preflight is answered 204 with the methods
    /// and headers allowed, and an answer carries `Access-Control-Allow-Origin`. A server's
    /// `bearer` scheme is read in any case; a bulk body lists at most 1,000 rejected lines and
    /// counts them all.
    @Test func beaconsGetCORSAnswersAndBulkAnswersStaySmall() async throws {
        let world = try await World.make()
        var preflight = HTTPClientRequest(url: world.url + "/visits?key=\(Self.site)")
        preflight.method = .OPTIONS
        preflight.headers.add(name: "Origin", value: "https://school.example")
        preflight.headers.add(name: "Access-Control-Request-Method", value: "POST")
        preflight.headers.add(name: "Access-Control-Request-Headers", value: "content-type")
        let answer = try await HTTPClient.shared.execute(preflight, timeout: .seconds(60))
        #expect(answer.status.code == 204)
        #expect(answer.headers["Access-Control-Allow-Origin"].first == "*")
        #expect(answer.headers["Access-Control-Allow-Methods"].first?.contains("POST") == true)
        #expect(answer.headers["Access-Control-Allow-Headers"].first?.lowercased().contains("content-type") == true)

        var beacon = HTTPClientRequest(url: world.url + "/visits?key=\(Self.site)")
        beacon.method = .POST
        beacon.headers.add(name: "Origin", value: "https://school.example")
        beacon.headers.add(name: "Content-Type", value: "application/json")
        beacon.body = .bytes(ByteBuffer(string: #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/"}"#))
        let posted = try await HTTPClient.shared.execute(beacon, timeout: .seconds(60))
        #expect(posted.status.code == 201)
        #expect(posted.headers["Access-Control-Allow-Origin"].first == "*")
        let body = try await posted.body.collect(upTo: 1 << 16)
        #expect(try JSONValue.parse(Array(body.readableBytesView))["visit_id"]?.text?.isEmpty == false)  // readable by the page

        var lower = HTTPClientRequest(url: world.url + "/visits")
        lower.method = .POST
        lower.headers.add(name: "Authorization", value: "bearer \(Self.ingest)")
        lower.body = .bytes(ByteBuffer(string: #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/"}"#))
        #expect(try await HTTPClient.shared.execute(lower, timeout: .seconds(60)).status.code == 201)

        let bad = String(repeating: "x\n", count: 2500)
        let (status, bulk) = try await world.post("/events", bad + #"{"type": "visit", "occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/"}"#,
                                                  contentType: "application/x-ndjson")
        #expect(status == 202)
        #expect(bulk["accepted"]?.text == "1" && bulk["rejected_count"]?.text == "2500")
        #expect(bulk["rejected"]?.array?.count == 1000 && bulk["rejected"]?.array?.last?["line"]?.text == "1000")
        await world.stop()
    }

    @Test func crmWebhooksBecomeDealSyncMessagesCheckedBySecretAndToken() async throws {
        let world = try await World.make()
        let amo = "leads%5Bstatus%5D%5B0%5D%5Bid%5D=19001&account%5Bid%5D=29000001"
        #expect(try await world.post("/webhooks/amocrm/amo-hook-secret", amo, key: nil, contentType: "application/x-www-form-urlencoded").0 == 200)
        #expect(try await world.post("/webhooks/amocrm/wrong-secret", amo, key: nil).0 == 404)
        #expect(try await world.post("/webhooks/bitrix24/amo-hook-secret", amo, key: nil).0 == 404)  // a secret belongs to one CRM
        let bitrix = "event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=4101&auth%5Bapplication_token%5D="
        #expect(try await world.post("/webhooks/bitrix24/b24-hook-secret", bitrix + "app-token", key: nil).0 == 200)
        #expect(try await world.post("/webhooks/bitrix24/b24-hook-secret", bitrix + "forged", key: nil).0 == 401)
        let messages = try await world.messages(atLeast: 2)
        #expect(messages.map(\.type) == ["crm.webhook", "crm.webhook"])
        #expect(messages.compactMap { $0.payload["connection"]?.text } == ["amo", "b24"])
        #expect(messages.first?.payload["body"]?.text == amo)  // the body as the CRM sent it
        await world.stop()
    }

    @Test func concurrentVisitsShareConfirmedMessages() async throws {
        let world = try await World.make()
        let count = 300
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await world.post("/visits", #"{"visit_id": "cv-\#(index)", "occurred_at": "2026-03-01T10:00:00Z", "landing_url": "https://school.example/"}"#).0
                }
            }
            for try await status in group { #expect(status == 201) }
        }
        var ids = Set<String>()
        var messages = 0
        let deadline = Date().addingTimeInterval(30)
        while ids.count < count && Date() < deadline {
            for message in try await world.messages(atLeast: 1) {
                messages += 1
                for visit in message.payload["visits"]?.array ?? [] { ids.insert(visit["visit_id"]?.text ?? "") }
            }
        }
        #expect(ids.count == count)  // every visit answered 201 is in a confirmed message
        #expect(messages < count)    // many visits a message
        await world.stop()
    }

    @Test func aTrackerKilledRightAfterAnswering2xxLostNothing() async throws {
        let project = TestStack.unique("trk")
        let queue = "test-\(project)"
        // A broker vhost of this test's own: the resolver below consumes the identity queue, which
        // other tests' trackers publish into (their projects are not in its configuration).
        let vhost = try TestStack.freshVirtualHost(project)
        defer { vhost.delete() }
        let amqpURL = vhost.amqpURL
        let amqp = try AMQPConfiguration(url: amqpURL)
        try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
        try await AMQPAdmin.declare(AMQPTopology(exchanges: [.init(ClusterTopology.exchange)], queues: [.init(queue, type: .classic)],
                                                 bindings: [.init(queue: queue, exchange: ClusterTopology.exchange, routingKey: ClusterTopology.eventsTracked)]),
                                    configuration: amqp)
        let config = "/tmp/\(project).yaml"
        try """
            projects:
              - id: \(project)
                name: Kill test
                ingest_key: {env: TRACKER_INGEST_KEY}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let tracker = try ChildProcess("tracker", arguments: ["--config", config, "--host", "127.0.0.1", "--port", "0"],
                                       environment: ["TRACKER_INGEST_KEY": Self.ingest, "AMQP_URL": amqpURL])
        var port = 0
        let listening = await TestStack.eventually(seconds: 60) {
            guard let line = tracker.log.split(separator: "\n").first(where: { $0.contains("tracker listening") }),
                  let value = line.split(separator: "port=").last?.prefix(while: \.isNumber), let number = Int(value) else { return false }
            port = number
            return true
        }
        #expect(listening, "\(tracker.log)")
        let world = World(project: project, queue: queue, url: "http://127.0.0.1:\(port)/v1/projects/\(project)", amqp: amqp) {}
        let count = 200
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await world.post("/visits", #"{"visit_id": "k-\#(index)", "occurred_at": "2026-03-01T10:00:00Z", "landing_url": "https://x.example/"}"#).0
                }
            }
            for try await status in group { #expect(status == 201) }
        }
        tracker.signal(SIGKILL)  // right after the last answer
        _ = await tracker.waitForExit(seconds: 10)
        var ids = Set<String>()
        let deadline = Date().addingTimeInterval(30)
        while ids.count < count && Date() < deadline {
            for message in try await world.messages(atLeast: 1) {
                for visit in message.payload["visits"]?.array ?? [] { ids.insert(visit["visit_id"]?.text ?? "") }
            }
        }
        #expect(ids.count == count)
        try? await AMQPAdmin.deleteQueues([queue], configuration: amqp)

        // And the identity resolver stores them: every visit answered 201 is in PostgreSQL.
        let database = try await TestStack.freshDatabase()
        let resolver = try ChildProcess("identity-resolver", arguments: ["--config", config],
                                        environment: ["DATABASE_URL": database, "AMQP_URL": amqpURL, "TRACKER_INGEST_KEY": Self.ingest])
        let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
        let stored = await TestStack.eventually(seconds: 120) {
            ((try? await pool.query("SELECT count(*) FROM journey.visits WHERE project_id = $1", [project])[0].decode(Int.self, 0)) ?? 0) == count
        }
        #expect(stored, "\(resolver.log)")
        resolver.signal(SIGTERM)
        #expect(await resolver.waitForExit(seconds: 30) == 0, "\(resolver.log)")
        await pool.close()
    }
}
