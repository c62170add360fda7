import AMQP
import Aggregation
import BenchSupport
import Domain
import Foundation
import Identity
import Logging
import Postgres
import Runtime
import Sandbox
import Settings

// Aggregator benchmarks (release build).
//
//   aggregator-bench [people] [runs]            full rebuild vs plain SQL
//   aggregator-bench latency [people] [samples]  deal status change → mart.channel_report
//   aggregator-bench partition [people] [runs]   one day recomputed: in full, and deal-only
//
// Both generate a world (`Sandbox.World`, seed 8, 90 days) — by default 200,000 people: about
// 1,000,000 visits, 100,000 leads and 20,000 deals — link it with the identity resolver's handler
// in this process and store its spend.
//
// Full rebuild: with every input committed, times in the same run and on the same PostgreSQL
//   - the aggregator's full rebuild (`ReportBuilder.rebuild(days: nil)`: reading, computing the
//     seven models, writing every report table, committing), and
//   - the same report in plain SQL (`PlainSQL.script`: intermediate tables, window functions),
// alternately, `runs` times each, and checks that both give the same totals per model.
//
// Latency: starts the `identity-resolver` and `aggregator` executables (built next to this one),
// then, one deal at a time, marks an open deal won in crm.deals as deal-sync would, publishes its
// `deal.changed` and times until `mart.channel_report` shows the extra sale on the lead's day.

var arguments = Array(CommandLine.arguments.dropFirst())
let latencyMode = arguments.first == "latency"
let partitionMode = arguments.first == "partition"
if latencyMode || partitionMode { arguments.removeFirst() }
let people = arguments.count > 0 ? Int(arguments[0])! : 200_000
let runs = arguments.count > 1 ? Int(arguments[1])! : (latencyMode ? 40 : 3)
let serverURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? Settings.defaultDatabaseURL
var logger = Logger(label: "aggregator-bench")
logger.logLevel = .warning

func log(_ text: String) { FileHandle.standardError.write(Data("[\(Date())] \(text)\n".utf8)) }
func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

log("generating the world of \(people) people")
let world = World(World.Spec(seed: 8, days: 90, people: people))
let project = Project(id: world.spec.project, name: "Bench", timeZone: "Europe/Moscow",
                      sources: [Source(id: "amo", kind: "amocrm"), Source(id: "b24", kind: "bitrix24")],
                      channels: Channels(rules: [ChannelRule(source: ["yandex"], contractor: "Агентство Альфа")]))
print("machine: \(Bench.machine); PostgreSQL on the same host")
print("world: \(world.visits.count) visits, \(world.leads.count) leads, \(world.deals.count) deals, \(world.spend.count) spend rows, 90 days")

let database = try await Bench.freshDatabase(serverURL: serverURL, logger: logger)
let pool = PGPool(PGConfiguration(url: database), logger: logger)
log("storing CRM rows and spend")
try await pool.withTransaction { try await world.storeCRM(on: $0) }
try await pool.withTransaction { try await world.storeSpend(on: $0) }
try await pool.query("ANALYZE crm.deals, crm.contacts, crm.payments, spend.facts")

log("linking with the identity resolver's handler")
let handler = IdentityHandler(projects: [project])
let linkStart = ContinuousClock.now
for (index, message) in try world.messageBodies(recordsPerMessage: 5000).enumerated() {
    let envelope = try Envelope(decoding: message.body)
    try await pool.withTransaction { try await handler.handle([envelope], on: $0, logger: logger) }
    if index % 40 == 0 { log("message \(index)") }
}
try await pool.query("DELETE FROM runtime.outbox")
try await pool.query("VACUUM ANALYZE")
log(String(format: "inputs committed (linking took %.1f s)", seconds(ContinuousClock.now - linkStart)))

if partitionMode {
    try await partitions(runs: runs, pool: pool, project: project)
} else if latencyMode {
    try await latency(samples: runs, pool: pool, project: project, database: database, logger: logger)
} else {
    try await rebuildVersusSQL(runs: runs, pool: pool, project: project)
}
await pool.close()
if ProcessInfo.processInfo.environment["KEEP_DATABASE"] == nil {
    try await Bench.dropDatabase(database, logger: logger)
} else {
    print("database kept: \(database)")
}

func rebuildVersusSQL(runs: Int, pool: PGPool, project: Project) async throws {
    let builder = try ReportBuilder(project: project)
    var ours: [Double] = []
    var plain: [Double] = []
    var summary: ReportBuilder.Summary?
    for run in 1...runs {
        let started = ContinuousClock.now
        summary = try await pool.withTransaction { try await builder.rebuild(days: nil, on: $0, readers: pool) }
        ours.append(seconds(ContinuousClock.now - started))
        log(String(format: "run %d: aggregator %.2f s", run, ours.last!))
        if let summary { print("aggregator run \(run): \(summary.phases.map(\.description).joined(separator: ", "))") }

        let sqlStarted = ContinuousClock.now
        try await pool.withConnection { connection in
            try await connection.query("SELECT set_config('bench.project', $1, false), set_config('bench.tz', $2, false)", [project.id, project.timeZone])
            try await connection.simpleQuery(PlainSQL.script)
        }
        plain.append(seconds(ContinuousClock.now - sqlStarted))
        log(String(format: "run %d: plain SQL %.2f s", run, plain.last!))
    }

    // Both must say the same: totals per model.
    let check = """
        SELECT model, round(sum(leads), 6)::text, round(sum(sales), 6)::text, round(sum(revenue), 4)::text, round(sum(visits), 0)::text,
               round(sum(spend), 4)::text
        FROM %@ GROUP BY model ORDER BY model
        """
    func totals(_ from: String) async throws -> [[String]] {
        try await pool.query(check.replacingOccurrences(of: "%@", with: from)).map { row in try (0...4).map { try row.decode(String.self, $0) } }
    }
    let ourTotals = try await totals("mart.channel_report")
    let plainTotals = try await totals("plain.cells")
    if let summary { print("report: \(summary.leads) leads, \(summary.credits) credits, \(summary.deals) deals, \(summary.cells) cells, \(summary.paymentCells) payment cells") }
    print("totals per model agree: \(ourTotals == plainTotals ? "yes" : "NO")")
    if ourTotals != plainTotals {
        for (a, b) in zip(ourTotals, plainTotals) where a != b { print("  aggregator \(a)\n  plain SQL  \(b)") }
    }
    func median(_ values: [Double]) -> Double { let sorted = values.sorted(); return sorted[sorted.count / 2] }
    print(String(format: "aggregator full rebuild: %@ s (median %.2f s)", ours.map { String(format: "%.2f", $0) }.joined(separator: ", "), median(ours)))
    print(String(format: "plain SQL, same report:  %@ s (median %.2f s)", plain.map { String(format: "%.2f", $0) }.joined(separator: ", "), median(plain)))
    print(String(format: "ratio (plain SQL / aggregator, medians): %.1f×", median(plain) / median(ours)))
}

/// One day recomputed in full and deal-only (what a deal change costs), on the heaviest day
/// (the webinar's) and on a day of median leads, with each phase's time.
func partitions(runs: Int, pool: PGPool, project: Project) async throws {
    let builder = try ReportBuilder(project: project)
    try await pool.withTransaction { _ = try await builder.rebuild(days: nil, on: $0) }
    let days = try await pool.query("SELECT day::text, count(*) FROM report.leads WHERE project_id = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
                                    [project.id]).map { (LocalDay(iso: try $0.decode(String.self, 0))!, try $0.decode(Int.self, 1)) }
    for (label, (day, leads)) in [("heaviest day", days[0]), ("median day", days[days.count / 2])] {
        for dealsOnly in [false, true] {
            var times: [Double] = []
            var phases = ""
            for _ in 1...runs {
                let started = ContinuousClock.now
                let summary = try await pool.withTransaction { try await builder.rebuild(days: [day], dealsOnly: dealsOnly ? [day] : [], on: $0) }
                times.append(seconds(ContinuousClock.now - started))
                phases = summary.phases.map(\.description).joined(separator: ", ")
            }
            let median = times.sorted()[times.count / 2]
            print(String(format: "%@ %@ (%d leads), %@: median %.0f ms of %d; last run: %@", label, day.description, leads,
                         dealsOnly ? "deal-only" : "in full", median * 1000, runs, phases))
        }
    }
}

func latency(samples: Int, pool: PGPool, project: Project, database: String, logger: Logger) async throws {
    let builder = try ReportBuilder(project: project)
    try await pool.withTransaction { _ = try await builder.rebuild(days: nil, on: $0) }
    log("mart built; starting identity-resolver and aggregator")
    let amqpURL = ProcessInfo.processInfo.environment["AMQP_URL"] ?? Settings.defaultAMQPURL
    let amqp = try AMQPConfiguration(url: amqpURL)
    try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
    for queue in [ClusterTopology.identityQueue, ClusterTopology.aggregatorQueue] { _ = try await AMQPAdmin.purge(queue, configuration: amqp) }
    let config = "/tmp/aggregator-bench-\(getpid()).yaml"
    try """
        projects:
          - id: \(project.id)
            name: Bench
            time_zone: \(project.timeZone)
            sources:
              - {id: amo, kind: amocrm}
              - {id: b24, kind: bitrix24}
            channels:
              rules:
                - {source: [yandex], contractor: Агентство Альфа}

        """.write(toFile: config, atomically: true, encoding: .utf8)
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var environment = ProcessInfo.processInfo.environment
    environment["DATABASE_URL"] = database
    environment["AMQP_URL"] = amqpURL
    environment["HTTP_PORT"] = "0"
    environment["LOG_LEVEL"] = "warning"
    var processes: [Process] = []
    for name in ["identity-resolver", "aggregator"] {
        let process = Process()
        process.executableURL = directory.appendingPathComponent(name)
        process.arguments = ["--config", config] + (name == "aggregator" ? ["--linger", "0.02"] : [])
        process.environment = environment
        let output = "/tmp/aggregator-bench-\(getpid())-\(name).log"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle(forWritingAtPath: output)
        try process.run()
        processes.append(process)
    }
    defer { for process in processes { process.terminate() } }
    for queue in [ClusterTopology.identityQueue, ClusterTopology.aggregatorQueue] {
        while (try? await AMQPAdmin.queueStatus(queue, configuration: amqp).consumers) ?? 0 < 1 {
            guard processes.allSatisfy(\.isRunning) else { log("a worker exited: see /tmp/aggregator-bench-\(getpid())-*.log"); exit(1) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
    let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, logger: logger)
    // Open deals linked to a lead, spread over the world.
    let candidates = try await pool.query("""
        SELECT d.connection_id, d.deal_id, d.crm, r.day::text FROM crm.deals d
        JOIN journey.deal_links l ON l.project_id = d.project_id AND l.connection_id = d.connection_id AND l.deal_id = d.deal_id
        JOIN report.leads r ON r.project_id = l.project_id AND r.request_id = l.request_id
        WHERE d.project_id = $1 AND d.status = 'open' AND NOT d.is_deleted ORDER BY md5(d.deal_id) LIMIT $2
        """, [project.id, samples])
    struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
    func sales(on day: String) async throws -> String {
        try await pool.query("SELECT coalesce(sum(sales), 0)::text FROM mart.channel_report WHERE project_id = $1 AND model = 'last_click' AND day = $2::date",
                             [project.id, day])[0].decode(String.self, 0)
    }
    var latencies: [Double] = []
    for row in candidates {
        let connectionID = try row.decode(String.self, 0), dealID = try row.decode(String.self, 1), day = try row.decode(String.self, 3)
        let before = Decimal(string: try await sales(on: day))!
        // What deal-sync does: the deal's new state committed, then its deal.changed published.
        try await pool.query("""
            UPDATE crm.deals SET status = 'won', closed_at = now(), updated_at = now() WHERE project_id = $1 AND connection_id = $2 AND deal_id = $3
            """, [project.id, connectionID, dealID])
        let body = try Envelope.encode(type: ClusterTopology.dealChanged, project: project.id,
                                       payload: Changed(connection: connectionID, crm: try row.decode(String.self, 2), deals: [dealID]))
        let started = ContinuousClock.now
        try await publisher.publish([AMQPMessage(exchange: ClusterTopology.exchange, routingKey: ClusterTopology.dealChanged, body: body,
                                                 messageID: UUID().uuidString)])
        while Decimal(string: try await sales(on: day))! != before + 1 {
            guard ContinuousClock.now - started < .seconds(60) else { log("deal \(connectionID)/\(dealID) never showed"); exit(1) }
            try await Task.sleep(for: .milliseconds(5))
        }
        latencies.append(seconds(ContinuousClock.now - started))
        try await Task.sleep(for: .milliseconds(200))
    }
    await publisher.close()
    let sorted = latencies.sorted()
    func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
    print("deal status change (deal.changed published) → mart.channel_report shows the sale: \(sorted.count) changes, one at a time")
    print(String(format: "latency p50 %.0f ms, p95 %.0f ms, max %.0f ms", percentile(0.5) * 1000, percentile(0.95) * 1000, sorted.last! * 1000))
}
