import AMQP
import BenchSupport
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Sandbox
import Settings

// Identity resolution benchmark (release build). Usage: identity-bench [people] [records per message]
//
// Generates a world (`Sandbox.World`, seeded) — by default 213,000 people, a third of whom leave
// a lead: about 1,000,000 visits, 100,000 leads and 21,000 deals, the issue's size — stores its CRM deals and contacts as deal-sync would, starts
// the `identity-resolver` executable (built next to this one) on an empty database, and times
// from the first message published (visits and leads in time order, `records per message` to a
// message, then the deal changes) to the moment every visit, lead and deal link is committed
// and the queue is empty. Reports the resolver's peak RSS (VmHWM).

let arguments = CommandLine.arguments
let people = arguments.count > 1 ? Int(arguments[1])! : 213_000
let perMessage = arguments.count > 2 ? Int(arguments[2])! : 500
let environment = ProcessInfo.processInfo.environment
let serverURL = environment["DATABASE_URL"] ?? Settings.defaultDatabaseURL
let amqpURL = environment["AMQP_URL"] ?? Settings.defaultAMQPURL
var logger = Logger(label: "identity-bench")
logger.logLevel = .warning

func log(_ text: String) {
    FileHandle.standardError.write(Data("[\(Date())] \(text)\n".utf8))
}

log("generating the world of \(people) people")
// A lead share of 0.32 (the webinar's crowd registers more) keeps leads at the issue's 100,000.
var spec = World.Spec(seed: 8, days: 90, people: people)
spec.leadShare = 0.32
let world = World(spec)
let wonOrphans = world.deals.filter { $0.truth == nil }.count
print("machine: \(Bench.machine); PostgreSQL and RabbitMQ on the same host")
print("world: \(world.visits.count) visits, \(world.leads.count) leads (\(world.duplicateTruth.count) duplicates), \(world.deals.count) deals (\(wonOrphans) link to no lead)")

let database = try await Bench.freshDatabase(serverURL: serverURL, logger: logger)
let pool = PGPool(PGConfiguration(url: database), logger: logger)
log("storing CRM rows")
try await pool.withTransaction { try await world.storeCRM(on: $0) }
// What deal-sync's StatisticsKeeper does within seconds of writing them (the bench stands in for
// deal-sync, which has synced the CRMs before the tracked events start).
try await pool.query("ANALYZE crm.deals, crm.contacts")

log("encoding messages")
let bodies = try world.messageBodies(recordsPerMessage: perMessage)
let megabytes = Double(bodies.reduce(0) { $0 + $1.body.count }) / 1_048_576
print("messages: \(bodies.count) (\(perMessage) records each, deal changes 1,000 a message), \(String(format: "%.0f", megabytes)) MiB")

// The resolver, on a queue with nothing else in it.
let amqp = try AMQPConfiguration(url: amqpURL)
try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
_ = try await AMQPAdmin.purge(ClusterTopology.identityQueue, configuration: amqp)
let config = "/tmp/identity-bench-\(getpid()).yaml"
try "projects:\n  - id: \(world.spec.project)\n    name: Bench\n".write(toFile: config, atomically: true, encoding: .utf8)
let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let resolver = Process()
resolver.executableURL = directory.appendingPathComponent("identity-resolver")
resolver.arguments = ["--config", config]
var childEnvironment = environment
childEnvironment["DATABASE_URL"] = database
childEnvironment["AMQP_URL"] = amqpURL
childEnvironment["HTTP_PORT"] = "0"
childEnvironment["LOG_LEVEL"] = "warning"
resolver.environment = childEnvironment
let resolverLog = "/tmp/identity-bench-\(getpid()).log"
_ = FileManager.default.createFile(atPath: resolverLog, contents: nil)
resolver.standardOutput = FileHandle(forWritingAtPath: resolverLog)
resolver.standardError = FileHandle(forWritingAtPath: resolverLog)
try resolver.run()
while (try? await AMQPAdmin.queueStatus(ClusterTopology.identityQueue, configuration: amqp).consumers) ?? 0 < 1 {
    try await Task.sleep(for: .milliseconds(50))
}

func peakRSS(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }!)! * 1024
}

/// User + system CPU seconds of a process so far.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // Fields 14 and 15 of proc(5) (utime, stime), counted from the state (field 3).
    return Double((Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

log("publishing and resolving")
let start = ContinuousClock.now
let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, logger: logger)
let publishing = Task {
    for slice in stride(from: 0, to: bodies.count, by: 200) {
        try await publisher.publish(bodies[slice..<min(bodies.count, slice + 200)].map {
            AMQPMessage(exchange: ClusterTopology.exchange, routingKey: $0.routingKey, body: $0.body, messageID: UUID().uuidString)
        })
    }
}
var done: Double = 0
var lastReport = ContinuousClock.now
func elapsed() -> Double {
    let d = (ContinuousClock.now - start).components
    return Double(d.seconds) + Double(d.attoseconds) / 1e18
}
while true {
    // Counting visits and leads is a scan of a million rows, which would steal the server's CPU
    // from what is measured: the deal changes are published last, so the small deal_links table
    // is polled until it is complete, and only then the others are counted.
    // Progress every 5 s comes from the statistics collector's insert counters, which cost nothing.
    let linked = try await pool.query("SELECT count(*) FROM journey.deal_links")[0].decode(Int.self, 0)
    if linked < world.deals.count {
        if ContinuousClock.now - lastReport > .seconds(5) {
            let inserted = try await pool.query("""
                SELECT coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'visits'), 0)::int8,
                       coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'leads'), 0)::int8
                FROM pg_stat_user_tables WHERE schemaname = 'journey'
                """)[0]
            log(String(format: "%.1f s: about %d visits, %d leads, %d deal links", elapsed(),
                       try inserted.decode(Int.self, 0), try inserted.decode(Int.self, 1), linked))
            lastReport = ContinuousClock.now
        }
        if resolver.isRunning == false { log("the resolver exited: see \(resolverLog)"); exit(1) }
        try await Task.sleep(for: .milliseconds(100))
        continue
    }
    let counts = try await pool.query("""
        SELECT (SELECT count(*) FROM journey.visits), (SELECT count(*) FROM journey.leads), (SELECT count(*) FROM journey.deal_links)
        """)[0]
    let (visits, leads, links) = (try counts.decode(Int.self, 0), try counts.decode(Int.self, 1), try counts.decode(Int.self, 2))
    if visits == world.visits.count && leads == world.leads.count && links == world.deals.count {
        done = elapsed()
        break
    }
    if ContinuousClock.now - lastReport > .seconds(5) {
        log(String(format: "%.1f s: %d visits, %d leads, %d deal links", elapsed(), visits, leads, links))
        lastReport = ContinuousClock.now
    }
    if resolver.isRunning == false { log("the resolver exited: see \(resolverLog)"); exit(1) }
    try await Task.sleep(for: .milliseconds(100))
}
try await publishing.value
let rss = peakRSS(resolver.processIdentifier)
let resolverCPU = cpuSeconds(resolver.processIdentifier)
var backendCPU = 0.0
for row in try await pool.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()") {
    backendCPU += cpuSeconds(Int32(try row.decode(Int.self, 0)))
}
resolver.terminate()
resolver.waitUntilExit()
await publisher.close()

let touches = try await pool.query("SELECT count(*), count(DISTINCT request_id) FROM journey.touches")[0]
print(String(format: "resolved in %.1f s from the first message published to the last link committed (polled every 0.1 s)", done))
print("touches: \(try touches.decode(Int.self, 0)) of \(try touches.decode(Int.self, 1)) leads; identity-resolver peak RSS \(String(format: "%.0f", Double(rss) / 1_048_576)) MiB")
print(String(format: "CPU: identity-resolver %.1f s, its PostgreSQL backends %.1f s", resolverCPU, backendCPU))
await pool.close()
try await Bench.dropDatabase(database, logger: logger)
