import DealSync
import BenchSupport
import Domain
import Foundation
import Hummingbird
import Logging
import Postgres
import Runtime
import Sandbox
import Schema
import ServiceLifecycle
import Settings

// deal-sync benchmark (release build). Usage: dealsync-bench [deals] [webhooks]
//   1. full sync of `deals` deals from the amoCRM fake and from the Bitrix24 fake, limits off:
//      deals/s, next to the rate of reading the same pages without writing (the baseline);
//   2. `webhooks` times: a deal changes in the amoCRM fake, its webhook is published to RabbitMQ,
//      deal-sync (in-process, the real consumer) writes it: latency from publish to the row,
//      p50 / p95.
// Reads DATABASE_URL (its server is used; databases are created) and AMQP_URL.

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let dealCount = arguments.count > 0 ? arguments[0] : 100_000
let webhookCount = arguments.count > 1 ? arguments[1] : 200
let serverURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:55432/analytics"
let amqpURL = ProcessInfo.processInfo.environment["AMQP_URL"] ?? Settings.defaultAMQPURL
let logger: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}()

func seconds(_ body: () async throws -> Void) async rethrows -> Double { try await Bench.seconds(body) }
func freshDatabase() async throws -> String { try await Bench.freshDatabase(serverURL: serverURL, logger: logger) }

print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; fakes, deal-sync, PostgreSQL and RabbitMQ on one host")

// The worlds.
let amo = FakeAmoCRM(longLivedToken: "bench-token")
var leads: [FakeAmoCRM.Lead] = []
var amoContacts: [FakeAmoCRM.Contact] = []
let t0: Int64 = 1_772_000_000
for index in 0..<dealCount {
    let pipeline = FakeAmoCRM.pipelines[index % 2]
    let status = pipeline.statuses[(index / 2) % pipeline.statuses.count]
    leads.append(FakeAmoCRM.Lead(id: Int64(1_000_000 + index), name: "Заявка \(index)", price: Int64(10_000 + index % 5000),
                                 pipelineID: pipeline.id, statusID: status.id, createdAt: t0 + Int64(index / 10),
                                 fields: [700101: ("UTM_SOURCE", "utm_source", "yandex"), 700120: (nil, "roistat", String(index))],
                                 contactIDs: [Int64(5_000_000 + index)]))
    amoContacts.append(FakeAmoCRM.Contact(id: Int64(5_000_000 + index), name: "Клиент", phones: ["+7 999 000-00-00"], emails: ["a@b.ru"]))
}
amo.load(leads, contacts: amoContacts)
leads = []
amoContacts = []

let bitrix = FakeBitrix24(code: "bench-code", applicationToken: "bench-app")
var deals: [FakeBitrix24.Deal] = []
var bitrixContacts: [Int: (name: String, phones: [String], emails: [String])] = [:]
for index in 0..<dealCount {
    let category = index % 3 == 0 ? 2 : 0
    let stages = FakeBitrix24.stages[category]!
    deals.append(FakeBitrix24.Deal(id: 1_000_000 + index, title: "Сделка", categoryID: category, stageID: stages[(index / 3) % stages.count].id,
                                   opportunity: "\(10_000 + index % 5000).50", contactID: 5_000_000 + index, created: t0 + Int64(index / 10),
                                   utm: ["UTM_SOURCE": "vk"]))
    bitrixContacts[5_000_000 + index] = ("Клиент", ["+79990000000"], ["a@b.ru"])
}
bitrix.load(deals, contacts: bitrixContacts)
deals = []
bitrixContacts = [:]

func project(_ source: Source) -> Project {
    Project(id: "bench", name: "Bench", timeZone: "Europe/Moscow", currency: "RUB", sources: [source])
}

func fullSync(_ name: String, _ router: Router<BasicRequestContext>, source: @escaping @Sendable (String) -> Source) async throws {
    let url = try await freshDatabase()
    let pool = PGPool(PGConfiguration(url: url, poolSize: 4), logger: logger)
    try await FakeServer.serve(router, logger: logger) { base in
        let configured = project(source(base))
        let connection = try CRMConnection.make(configured.sources[0], project: configured, pool: pool, logger: logger)
        // Baseline: every page read (with contacts and payments), nothing written.
        var read = 0
        let baseline = try await seconds {
            try await connection.engine.source.changedDeals(since: nil) { page in
                _ = try await connection.engine.source.contacts(ids: page.deals.flatMap(\.contactIDs))
                if connection.engine.source.readsHistoryPerDeal { _ = try await connection.engine.source.history(of: page.deals) }
                read += page.deals.count
            }
        }
        precondition(read == dealCount, "read \(read)")
        var written = 0
        let sync = try await seconds {
            let catalog = try await connection.engine.syncCatalog()
            written = try await connection.engine.poll(catalog: catalog).written
        }
        precondition(written == dealCount, "wrote \(written)")
        let stored = try await pool.query("SELECT count(*) FROM crm.deals")[0].decode(Int.self, 0)
        precondition(stored == dealCount)
        print(String(format: "%@ full sync of %d deals, limits off: %.1f s = %.0f deals/s; reading the same pages without writing: %.0f deals/s -> %.0f %%",
                     name, dealCount, sync, Double(dealCount) / sync, Double(dealCount) / baseline, 100 * baseline / sync))
    }
    await pool.close()
}

try await fullSync("amoCRM", amo.router()) { base in
    Source(id: "amo", kind: "amocrm", baseURL: base, credentials: ["token": Secret(.inline("bench-token"))],
           options: ["requests_per_second": "0"])
}
try await fullSync("Bitrix24", bitrix.router()) { base in
    Source(id: "b24", kind: "bitrix24", credentials: ["webhook_url": Secret(.inline("\(base)/rest/1/bench-code"))],
           options: ["requests_per_second": "0"])
}

// Webhook latency: deal-sync in-process on a small world, webhooks published one at a time.
let small = FakeAmoCRM(longLivedToken: "bench-token")
small.load((0..<1000).map { index in
    FakeAmoCRM.Lead(id: Int64(2_000_000 + index), name: "Заявка", price: 1000, pipelineID: 3001, statusID: 41001, createdAt: t0 + Int64(index))
}, contacts: [])
let latencyURL = try await freshDatabase()
let latencies = try await FakeServer.serve(small.router(), logger: logger) { base -> [Double] in
    let settings = Settings(databaseURL: latencyURL, amqpURL: amqpURL, projects: [project(
        Source(id: "amo", kind: "amocrm", baseURL: base, credentials: ["token": Secret(.inline("bench-token"))],
               options: ["requests_per_second": "0", "poll_seconds": "3600"]))])
    let group = try DealSyncApp.build(settings: settings, logger: logger)
    let running = Task { try await group.run() }
    let pool = PGPool(PGConfiguration(url: latencyURL), logger: logger)
    // Wait for the first (full) sync.
    while try await pool.query("SELECT count(*) FROM crm.sync_state WHERE reconciled_at IS NOT NULL")[0].decode(Int.self, 0) == 0 {
        try await Task.sleep(for: .milliseconds(50))
    }
    var samples: [Double] = []
    for round in 0..<webhookCount {
        let id = Int64(2_000_000 + round % 1000)
        let price = Int64(5000 + round)
        small.setPrice(id, price)
        let message = CRMWebhookMessage(connection: "amo", body: small.webhookBody(for: id))
        let start = ContinuousClock.now
        try await message.publish(project: "bench", amqpURL: amqpURL, logger: logger)
        while try await pool.query("SELECT count(*) FROM crm.deals WHERE deal_id = $1 AND amount = $2", [String(id), price])[0].decode(Int.self, 0) == 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
        let d = (ContinuousClock.now - start).components
        samples.append(Double(d.seconds) * 1000 + Double(d.attoseconds) / 1e15)
    }
    await group.triggerGracefulShutdown()
    _ = try? await running.value
    await pool.close()
    return samples.sorted()
}
let p50 = latencies[latencies.count / 2]
let p95 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.95))]
print(String(format: "webhook -> row updated, %d webhooks one at a time (publish with confirm included): p50 %.1f ms, p95 %.1f ms, max %.1f ms",
             latencies.count, p50, p95, latencies.last ?? 0))
