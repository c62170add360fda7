import AMQP
import AsyncHTTPClient
import Collection
import Collectors
import DealSync
import Demo
import Domain
import Foundation
import Logging
import NIOCore
import Postgres
import Runtime
import Settings
import Testing
import Tracker

/// The bad-input corpus (issue 8, point 3): one file per case under `Tests/corpus/<kind>/`
/// (format: `CorpusCase`). Each case must end in a clear 4xx naming what is wrong, a
/// dead-lettered message with its reason, or a failed run naming source, account, days and
/// line — never a crash, never a partial write — while the good data around it still flows.
@Suite(.serialized) struct BadInputCorpusTests {
    /// Tracker bodies (`Tests/corpus/tracker`). Keys: `endpoint` (visits | leads | events,
    /// default visits), `auth` (ingest | site | none | wrong, default ingest), `project`
    /// (`unknown`: a project nobody configured), `content-type`, `pad-bytes` (that many spaces
    /// appended to the body), `nest` (the body is that many nested arrays), `expect` (`<status>`
    /// with `field=<name>`, or for events `accepted=<n> rejected=<line,line>`), `error-contains`.
    /// Nothing refused is published; the good lines of a bulk body are, and a good visit after
    /// the whole corpus still is.
    @Test func trackerBodiesAreRefusedWithTheirStatusAndTheFieldNamed() async throws {
        let cases = try CorpusCase.all("tracker")
        #expect(cases.count >= 35)
        let world = try await TrackerTests.World.make()
        var published = 0
        for item in cases {
            var body = item.body
            if let depth = item.value("nest").flatMap(Int.init) {
                body = Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth)
            }
            if let pad = item.value("pad-bytes").flatMap(Int.init) { body += Array(repeating: 0x20, count: pad) }
            let path = "/" + (item.value("endpoint") ?? "visits")
            let key: String? = switch item.value("auth") ?? "ingest" {
            case "none", "site": nil
            case "wrong": "wrong-key"
            default: TrackerTests.ingest
            }
            var url = world.url
            if item.value("project") == "unknown" { url = String(url.dropLast(world.project.count)) + "nobody" }
            var request = HTTPClientRequest(url: url + path + (item.value("auth") == "site" ? "?key=\(TrackerTests.site)" : ""))
            request.method = .POST
            request.headers.add(name: "Content-Type", value: item.value("content-type") ?? "application/json")
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            let bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            let answer = (try? JSONValue.parse(bytes)) ?? .null
            let (status, details) = item.expectation
            #expect(String(response.status.code) == status, "\(item): \(String(decoding: bytes, as: UTF8.self))")
            if let field = details["field"] { #expect(answer["field"]?.text == field, "\(item): \(answer)") }
            let errors = [answer["error"]?.text ?? ""] + (answer["rejected"]?.array ?? []).map { $0["error"]?.text ?? "" }
            #expect(!errors.joined().isEmpty || status.hasPrefix("2"), "\(item): no error text in \(answer)")
            for text in item.values("error-contains") {
                #expect(errors.contains { $0.contains(text) }, "\(item): '\(text)' not in \(errors)")
            }
            if let accepted = details["accepted"] {
                #expect(answer["accepted"]?.text == accepted, "\(item): \(answer)")
                published += Int(accepted) ?? 0
            }
            if let lines = details["rejected"] {
                #expect((answer["rejected"]?.array ?? []).compactMap { $0["line"]?.text }.joined(separator: ",") == lines, "\(item): \(answer)")
            }
        }
        // The good data still flows: a visit after the corpus is taken, and nothing refused was published.
        let (status, _) = try await world.post("/visits", #"{"occurred_at": "2026-03-01T10:15:00Z", "landing_url": "https://school.example/"}"#)
        #expect(status == 201)
        let messages = try await world.messages(atLeast: 1)
        let events = messages.reduce(0) { $0 + ($1.payload["visits"]?.array?.count ?? 0) + ($1.payload["leads"]?.array?.count ?? 0) }
        #expect(events == published + 1, "published \(events) events; the corpus accepted \(published) and one good visit")
        await world.stop()
    }

    /// Manual-cost sheets (`Tests/corpus/costs`): the body is the CSV. Keys: `expect: failed`,
    /// `error-contains` (each must appear in the failure, which also names the source kind, the
    /// account and the days). The sheet writes nothing; a good sheet of the same project in the
    /// same run lands whole.
    @Test func costSheetsFailTheirRunNamingTheLineAndWriteNothing() async throws {
        let cases = try CorpusCase.all("costs")
        #expect(cases.count >= 15)
        let url = try await TestStack.freshDatabase()
        let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
        defer { Task { await pool.close() } }
        let directory = "/tmp/\(TestStack.unique("costs"))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "month;source;amount\n2026-03;seo;31 000,00\n".write(toFile: directory + "/good.csv", atomically: true, encoding: .utf8)
        let options = try CollectorOptions.parse(["--from", "2026-03-01", "--to", "2026-03-31"])
        for item in cases {
            try Data(item.body).write(to: URL(fileURLWithPath: directory + "/bad.csv"))
            let settings = Settings(databaseURL: url, amqpURL: TestStack.amqpURL, projects: [
                Project(id: "school", name: "School", sources: [
                    Source(id: "good-sheet", kind: "manual_costs", account: "studio", options: ["file": directory + "/good.csv"]),
                    Source(id: "bad-sheet", kind: "manual_costs", account: "offline", options: ["file": directory + "/bad.csv"]),
                ]),
            ])
            try await pool.query("DELETE FROM spend.facts")
            let reports = try await CollectorApp.manualCosts(logger: TestStack.logger).run(options, settings: settings, logger: TestStack.logger, print: { _ in })
            let failures = reports.flatMap(\.failures)
            #expect(item.expectation.outcome == "failed")
            #expect(failures.count == 1, "\(item): \(failures)")
            let failure = failures.first ?? ""
            #expect(failure.contains("account offline") && failure.contains("2026-03-01..2026-03-31"), "\(item): \(failure)")
            for text in item.values("error-contains") { #expect(failure.contains(text), "\(item): '\(text)' not in \(failure)") }
            let rows = try await pool.query("SELECT source_id, count(*), coalesce(sum(cost_micros), 0) FROM spend.facts GROUP BY 1 ORDER BY 1")
            #expect(try rows.map { try $0.decode(String.self, 0) } == ["good-sheet"], "\(item): a refused sheet wrote rows")
            #expect(try rows.first?.decode(Int64.self, 2) == 31_000_000_000, "\(item): the good sheet did not land whole")
        }
    }

    /// Ad networks' answers (`Tests/corpus/ad-networks`): the body is what the network answers to
    /// the report request of the run's first day. Keys: `network` (yandex_direct | vk_ads |
    /// mytarget | google_ads | meta), `status` (default 200), `content-type` (default the
    /// network's own), `path-contains` (default the network's report call), `expect: failed`,
    /// `error-contains`. The collector runs 2026-03-01..02 a day per chunk against the sandbox's
    /// fakes behind a `TamperingProxy`: the first day fails naming the network, the account and the
    /// day and writes nothing; the second day lands.
    @Test func adNetworkAnswersFailTheirDayNamingItAndTheNextDayStillLands() async throws {
        let cases = try CorpusCase.all("ad-networks")
        #expect(cases.count >= 25)
        let demo = DemoWorld(seed: 5, people: 150)
        let fakes = try await SandboxFakes.start(demo)
        defer { fakes.stop() }
        let networks: [String: (source: String, upstream: String, path: String, contentType: String, app: CollectorApp)] = [
            "yandex_direct": ("direct", fakes.urls.direct, "/json/v5/reports", "text/tab-separated-values; charset=utf-8",
                              .yandexDirect(logger: TestStack.logger)),
            "vk_ads": ("vk", fakes.urls.vk, "/statistics/", "application/json", .vkAds(flavor: .vkAds, logger: TestStack.logger)),
            "mytarget": ("mytarget", fakes.urls.myTarget, "/statistics/", "application/json", .vkAds(flavor: .myTarget, logger: TestStack.logger)),
            "google_ads": ("google", fakes.urls.google, ":searchStream", "application/json", .googleAds(logger: TestStack.logger)),
            "meta": ("meta", fakes.urls.meta, "/insights", "application/json", .meta(logger: TestStack.logger)),
        ]
        let rates = try ExchangeRateStore.parse(demo.world.ratesCSV, target: "RUB")
        for item in cases {
            let network = try #require(networks[item.value("network") ?? ""], "\(item): network must be one of \(networks.keys.sorted())")
            let (proxy, hits) = try await TamperingProxy.start(
                upstream: network.upstream, pathContains: item.value("path-contains") ?? network.path, requestContains: "2026-03-01",
                answer: .init(status: Int(item.value("status") ?? "200") ?? 200, contentType: item.value("content-type") ?? network.contentType,
                              body: item.body))
            defer { proxy.stop() }
            let url = try await TestStack.freshDatabase()
            let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
            _ = try await ExchangeRateStore.store(rates, target: "RUB", origin: "test", pool: pool)
            var settings = try Self.sandboxSettings(demo, fakes, databaseURL: url)
            for index in settings.projects[0].sources.indices {
                var source = settings.projects[0].sources[index]
                if source.id == network.source {
                    source.baseURL = proxy.url
                    source.options["chunk_days"] = "1"
                    source.options["backoff_seconds"] = "0.01"
                    source.options["default_retry_in"] = "0.01"
                    source.options["poll_seconds"] = "0.01"
                }
                settings.projects[0].sources[index] = source
            }
            let options = try CollectorOptions.parse(["--source", network.source, "--from", "2026-03-01", "--to", "2026-03-02"])
            let reports = try await network.app.run(options, settings: settings, logger: TestStack.logger, print: { _ in })
            let failures = reports.flatMap(\.failures)
            #expect(hits.value > 0, "\(item): the bad answer was never asked for")
            #expect(item.expectation.outcome == "failed")
            #expect(failures.count == 1, "\(item): \(failures)")
            let failure = failures.first ?? ""
            let account = settings.projects[0].sources.first { $0.id == network.source }?.account ?? ""
            #expect(failure.contains(account) && failure.contains("2026-03-01..2026-03-01"), "\(item): \(failure)")
            for text in item.values("error-contains") { #expect(failure.contains(text), "\(item): '\(text)' not in \(failure)") }
            let days = try await pool.query("SELECT day::text, count(*) FROM spend.facts GROUP BY 1 ORDER BY 1").map { try $0.decode(String.self, 0) }
            #expect(days == ["2026-03-02"], "\(item): days stored \(days)")
            await pool.close()
        }
    }

    /// The demo's configuration for the sandbox's fakes, its secrets inline (the test process's
    /// environment stays as it is).
    static func sandboxSettings(_ demo: DemoWorld, _ fakes: SandboxFakes, databaseURL: String, amqpURL: String = TestStack.amqpURL) throws -> Settings {
        var settings = try Settings.parse(yaml: demo.configuration(urls: fakes.urls, costSheetPath: "/dev/null"))
        settings.databaseURL = databaseURL
        settings.amqpURL = amqpURL
        settings.httpPort = 0
        func inline(_ secret: Secret) -> Secret {
            if case .environment(let name) = secret.source {
                if name == "DEMO_B24_WEBHOOK_URL" { return Secret(.inline(fakes.urls.bitrixWebhook)) }
                if let value = DemoWorld.secrets[name] { return Secret(.inline(value)) }
            }
            return secret
        }
        settings.projects[0].ingestKey = settings.projects[0].ingestKey.map(inline)
        settings.projects[0].siteKey = settings.projects[0].siteKey.map(inline)
        for index in settings.projects[0].sources.indices {
            settings.projects[0].sources[index].credentials = settings.projects[0].sources[index].credentials.mapValues(inline)
        }
        return settings
    }

    /// CRMs' answers (`Tests/corpus/crm`): the body is what the CRM answers to the first deal
    /// list request of a poll. Keys: `crm` (amocrm | bitrix24), `path-contains` (default
    /// `/api/v4/leads` or `crm.deal.list`), `request-contains` (default: any), `status` (default
    /// 200), `content-type` (default application/json), `expect` (`failed`: the poll stops with
    /// an error and writes no deal; `problem`: the poll goes on, the named deal is not written and
    /// its problem is kept in `crm.sync_errors`, the other deals are), `error-contains`.
    @Test func crmAnswersStopThePollOrTheirDealNamingWhatIsWrong() async throws {
        let cases = try CorpusCase.all("crm")
        #expect(cases.count >= 12)
        let demo = DemoWorld(seed: 5, people: 150)
        let fakes = try await SandboxFakes.start(demo)
        defer { fakes.stop() }
        for item in cases {
            let crm = item.value("crm") ?? "amocrm"
            let amo = crm == "amocrm"
            let (proxy, hits) = try await TamperingProxy.start(
                upstream: amo ? fakes.urls.amo : fakes.urls.bitrix, pathContains: item.value("path-contains") ?? (amo ? "/api/v4/leads" : "crm.deal.list"),
                requestContains: item.value("request-contains") ?? "",
                answer: .init(status: Int(item.value("status") ?? "200") ?? 200, contentType: item.value("content-type") ?? "application/json",
                              body: item.body))
            defer { proxy.stop() }
            let url = try await TestStack.freshDatabase()
            let pool = PGPool(PGConfiguration(url: url), logger: TestStack.logger)
            var settings = try Self.sandboxSettings(demo, fakes, databaseURL: url)
            settings.projects[0].sources = settings.projects[0].sources.filter { $0.kind == crm }.map { source in
                var source = source
                if amo { source.baseURL = proxy.url } else { source.credentials["webhook_url"] = Secret(.inline(fakes.urls.bitrixWebhook.replacingOccurrences(of: fakes.urls.bitrix, with: proxy.url))) }
                source.options["backoff_seconds"] = "0.01"
                return source
            }
            let connection = try #require(try CRMConnection.all(in: settings, pool: pool, logger: TestStack.logger).first)
            let (outcome, details) = item.expectation
            var failure = ""
            var problems: [String] = []
            do {
                let result = try await connection.engine.poll(catalog: try await connection.engine.syncCatalog())
                problems = result.problems.map(\.description)
            } catch {
                failure = "\(error)"
            }
            #expect(hits.value > 0, "\(item): the bad answer was never asked for")
            let deals = try await pool.query("SELECT count(*) FROM crm.deals")[0].decode(Int.self, 0)
            switch outcome {
            case "failed":
                #expect(!failure.isEmpty, "\(item): the poll did not fail (problems: \(problems))")
                for text in item.values("error-contains") { #expect(failure.contains(text), "\(item): '\(text)' not in \(failure)") }
                #expect(deals == 0, "\(item): \(deals) deals written by a failed poll")
            case "problem":
                #expect(failure.isEmpty, "\(item): the poll failed: \(failure)")
                for text in item.values("error-contains") { #expect(problems.contains { $0.contains(text) }, "\(item): '\(text)' not in \(problems)") }
                if let deal = details["deal"] {
                    #expect(try await pool.query("SELECT count(*) FROM crm.deals WHERE deal_id = $1", [deal])[0].decode(Int.self, 0) == 0)
                    #expect(try await pool.query("SELECT count(*) FROM crm.sync_errors WHERE deal_id = $1", [deal])[0].decode(Int.self, 0) == 1)
                }
                #expect(deals > 0, "\(item): the good deals around the bad one were not written")
            default:
                Issue.record("\(item): expect must be failed or problem")
            }
            await pool.close()
        }
    }

    /// CRM webhooks (`Tests/corpus/webhooks`): the body is posted to the tracker's webhook URL.
    /// Keys: `crm` (amocrm | bitrix24), `secret` (default the connection's), `content-type`
    /// (default form-urlencoded), `expect` (`dead-letter`: answered 200, then dead-lettered by
    /// deal-sync with its reason; or a status the tracker answers, e.g. `401`, `404`, `413`),
    /// `error-contains`, `pad-bytes`. Good webhooks between them are applied, never dead-lettered.
    @Test func badCRMWebhooksAreRefusedOrDeadLetteredWithTheirReason() async throws {
        let cases = try CorpusCase.all("webhooks")
        #expect(cases.count >= 10)
        let demo = DemoWorld(seed: 5, people: 60)
        let fakes = try await SandboxFakes.start(demo)
        defer { fakes.stop() }
        let vhost = try TestStack.freshVirtualHost(TestStack.unique("hooks"))
        defer { try? vhost.delete() }
        var settings = try Self.sandboxSettings(demo, fakes, databaseURL: try await TestStack.freshDatabase(), amqpURL: vhost.amqpURL)
        for index in settings.projects[0].sources.indices where settings.projects[0].sources[index].kind == "bitrix24" {
            settings.projects[0].sources[index].credentials["webhook_secret"] = Secret(.inline("demo-b24-webhook"))
        }
        var quiet = Logger(label: "corpus")
        quiet.logLevel = .critical
        let worker = WorkerConfiguration(name: "deal-sync", queue: ClusterTopology.dealSyncQueue, topology: ClusterTopology.all, prefetch: 10,
                                         batchSize: 5, batchLinger: 0.002, maxAttempts: 2, backoff: Backoff(initial: 0.01, maximum: 0.05))
        let dealSync = try DealSyncApp.build(settings: settings, logger: quiet, worker: worker)
        let dealSyncRun = Task { try await dealSync.run() }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let tracker = try TrackerApp.build(settings: settings, host: "127.0.0.1", port: 0, logger: quiet) { continuation.yield($0) }
        let trackerRun = Task { try await tracker.run() }
        var iterator = ports.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next() ?? 0)/v1/projects/school/webhooks/"
        func post(_ crm: String, _ secret: String, _ body: [UInt8], contentType: String) async throws -> Int {
            var request = HTTPClientRequest(url: base + crm + "/" + secret)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
            return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(60)).status.code)
        }
        let goodAmo = Array("leads[status][0][id]=\(demo.world.deals.first { $0.crm == .amocrm }!.id)&account[id]=29000001".utf8)
        #expect(try await post("amocrm", "demo-amo-webhook", goodAmo, contentType: "application/x-www-form-urlencoded") == 200)
        var dead: [String: CorpusCase] = [:]
        for item in cases {
            let crm = item.value("crm") ?? "amocrm"
            var body = item.body
            if let pad = item.value("pad-bytes").flatMap(Int.init) { body += Array(repeating: UInt8(ascii: "a"), count: pad) }
            let status = try await post(crm, item.value("secret") ?? (crm == "amocrm" ? "demo-amo-webhook" : "demo-b24-webhook"), body,
                                        contentType: item.value("content-type") ?? "application/x-www-form-urlencoded")
            let outcome = item.expectation.outcome
            if outcome == "dead-letter" {
                #expect(status == 200, "\(item): the tracker answered \(status)")
                dead[String(decoding: body, as: UTF8.self)] = item
            } else {
                #expect(String(status) == outcome, "\(item): the tracker answered \(status)")
            }
        }
        #expect(try await post("amocrm", "demo-amo-webhook", goodAmo, contentType: "application/x-www-form-urlencoded") == 200)
        let amqp = try AMQPConfiguration(url: vhost.amqpURL)
        let deadQueue = AMQPTopology.deadLetterQueueName(for: ClusterTopology.dealSyncQueue)
        let settled = await TestStack.eventually(seconds: 120) {
            let waiting = (try? await AMQPAdmin.queueStatus(ClusterTopology.dealSyncQueue, configuration: amqp).messages) ?? 1
            let letters = (try? await AMQPAdmin.queueStatus(deadQueue, configuration: amqp).messages) ?? 0
            return waiting == 0 && letters >= dead.count
        }
        #expect(settled)
        let consumer = AMQPConsumer(configuration: amqp, queue: deadQueue, topology: AMQPTopology(), prefetch: 500, logger: TestStack.logger)
        let letters = try await consumer.receive(max: 500, wait: 5, linger: 0.5)
        await consumer.close()
        var seen = Set<String>()
        for letter in letters {
            let envelope = try Envelope(decoding: letter.body)
            let message = try envelope.payload(as: CRMWebhookMessage.self)
            let reason = letter.headers["x-error"]?.stringValue ?? ""
            guard let item = dead[message.body] else {
                Issue.record("a webhook that was not bad was dead-lettered: \(message.body.prefix(200)) — \(reason)")
                continue
            }
            seen.insert(item.name)
            for text in item.values("error-contains") { #expect(reason.contains(text), "\(item): '\(text)' not in \(reason)") }
        }
        #expect(seen == Set(dead.values.map(\.name)), "not dead-lettered: \(Set(dead.values.map(\.name)).subtracting(seen).sorted())")
        await tracker.triggerGracefulShutdown()
        await dealSync.triggerGracefulShutdown()
        _ = try? await trackerRun.value
        _ = try? await dealSyncRun.value
    }
}
