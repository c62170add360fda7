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

// Full-rebuild benchmark of the aggregator (release build). Usage: aggregator-bench [people] [runs]
//
// Generates a world (`Sandbox.World`, seed 8, 90 days) — by default 200,000 people: about
// 1,000,000 visits, 100,000 leads and 20,000 deals — links it with the identity resolver's
// handler in this process, stores its spend, and then, with every input committed, times in the
// same run and on the same PostgreSQL:
//   - the aggregator's full rebuild (`ReportBuilder.rebuild(days: nil)`: reading, computing the
//     seven models, writing every report table, committing), and
//   - the same report in plain SQL (`PlainSQL.script`: intermediate tables, window functions),
// alternately, `runs` times each, and checks that both give the same totals per model.

let arguments = CommandLine.arguments
let people = arguments.count > 1 ? Int(arguments[1])! : 200_000
let runs = arguments.count > 2 ? Int(arguments[2])! : 3
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
try await pool.withTransaction { connection in
    let rows = world.spend
    try await connection.query("""
        INSERT INTO spend.facts (project_id, source_id, account, day, campaign_id, ad_group_id, ad_id, keyword_id, campaign_name, utm_source,
                                 utm_campaign, utm_content, utm_term, impressions, clicks, cost_micros, currency, vat_included, spend)
        SELECT $1, s, 'acc', d::date, ci, g, a, k, cn, s, cn, ct, NULLIF(t, ''), i, c, m, 'RUB', false, m::numeric / 1000000
        FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                    $11::int8[], $12::int8[], $13::int8[]) AS u(s, d, ci, g, a, k, cn, ct, t, i, c, m)
        """, [world.spec.project, rows.map(\.ad.source), rows.map(\.day.description), rows.map(\.ad.campaignID), rows.map { $0.ad.groupID ?? "" },
              rows.map(\.ad.adID), rows.map { $0.keywordID.map(String.init) ?? "" }, rows.map(\.ad.campaignName), rows.map(\.ad.content),
              rows.map { $0.keyword ?? "" }, rows.map(\.impressions), rows.map(\.clicks), rows.map(\.cost.value)])
}
try await pool.query("ANALYZE crm.deals, crm.contacts, crm.payments, spend.facts")

log("linking with the identity resolver's handler")
let handler = IdentityHandler(projects: [project])
enum Record { case visit(TrackedVisit), lead(TrackedLead) }
let records = (world.visits.map { (Timestamp.micros(Timestamp.parse($0.occurredAt)!), Record.visit($0)) }
    + world.leads.map { (Timestamp.micros(Timestamp.parse($0.tracked.occurredAt)!), Record.lead($0.tracked)) }).sorted { $0.0 < $1.0 }
let linkStart = ContinuousClock.now
for start in stride(from: 0, to: records.count, by: 5000) {
    var batch = TrackedBatch()
    for (_, record) in records[start..<min(records.count, start + 5000)] {
        switch record {
        case .visit(let visit): batch.visits.append(visit)
        case .lead(let lead): batch.leads.append(lead)
        }
    }
    let envelope = try Envelope(decoding: Envelope.encode(type: ClusterTopology.eventsTracked, project: world.spec.project, payload: batch))
    try await pool.withTransaction { try await handler.handle([envelope], on: $0, logger: logger) }
    if start % 200_000 == 0 { log("\(start) of \(records.count) records") }
}
struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
for (connection, group) in Dictionary(grouping: world.deals, by: \.connection).sorted(by: { $0.key < $1.key }) {
    for start in stride(from: 0, to: group.count, by: 1000) {
        let envelope = try Envelope(decoding: Envelope.encode(
            type: ClusterTopology.dealChanged, project: world.spec.project,
            payload: Changed(connection: connection, crm: group[0].crm.rawValue, deals: group[start..<min(group.count, start + 1000)].map(\.id))))
        try await pool.withTransaction { try await handler.handle([envelope], on: $0, logger: logger) }
    }
}
try await pool.query("DELETE FROM runtime.outbox")
try await pool.query("VACUUM ANALYZE")
log(String(format: "inputs committed (linking took %.1f s)", seconds(ContinuousClock.now - linkStart)))

let builder = try ReportBuilder(project: project)
var ours: [Double] = []
var plain: [Double] = []
var summary: ReportBuilder.Summary?
for run in 1...runs {
    let started = ContinuousClock.now
    summary = try await pool.withTransaction { try await builder.rebuild(days: nil, on: $0) }
    ours.append(seconds(ContinuousClock.now - started))
    log(String(format: "run %d: aggregator %.2f s", run, ours.last!))

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
await pool.close()
try await Bench.dropDatabase(database, logger: logger)
