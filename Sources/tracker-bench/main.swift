import AMQP
import BenchSupport
import Domain
import Foundation
import Logging
import Runtime
import Settings
import Tracker

// Tracker benchmark (release build). Usage: tracker-bench [seconds] [connections]
// Drives `wrk` (Debian package) on loopback against the tracker in this process, twice: first
// answering without publishing (the baseline), then the real thing — every visit in a message
// the broker confirmed before the 201. Afterwards every visit answered 201 is counted in a
// the identity resolver's queue (purged first: run it with no resolver consuming).
// Reads AMQP_URL.

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let duration = arguments.count > 0 ? arguments[0] : 10
let connections = arguments.count > 1 ? arguments[1] : 64
let amqpURL = ProcessInfo.processInfo.environment["AMQP_URL"] ?? Settings.defaultAMQPURL
// The production default handler (LOG_FORMAT=json): Hummingbird sets a request id in every
// request's logger metadata, which swift-log's text handler re-renders each time.
let logger = Logger(label: "bench") { JSONLogHandler(label: $0, level: .critical) }

guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else {
    FileHandle.standardError.write(Data("tracker-bench needs wrk: apt-get install -y wrk\n".utf8))
    exit(2)
}

let project = "bench-\(UUID().uuidString.prefix(6).lowercased())"
// The visits are counted where they go in production, the identity resolver's quorum queue
// (purged first; run this with no resolver consuming it): a second queue of the bench's own
// would double the broker's work and halve what is measured.
let queue = ClusterTopology.identityQueue
let amqp = try AMQPConfiguration(url: amqpURL)
try await AMQPAdmin.declare(ClusterTopology.all, configuration: amqp)
_ = try await AMQPAdmin.purge(queue, configuration: amqp)
let settings = Settings(amqpURL: amqpURL, httpPort: 0, projects: [
    Project(id: project, name: "Bench", ingestKey: Secret(.inline("bench-key")), siteDomains: ["shop.example"]),
])

// The wrk script: a visit with a different id every request, UTM in the landing URL.
let script = "/tmp/\(project).lua"
try """
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer bench-key"
    local counter = 0
    local prefix = tostring(math.random(1, 1000000000))
    request = function()
      counter = counter + 1
      local body = '{"visit_id": "' .. prefix .. '-' .. counter .. '", "client_id": "c' .. (counter % 5000) .. '", "occurred_at": "2026-03-01T10:15:00+03:00", ' ..
        '"landing_url": "https://shop.example/sale?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=' .. counter .. '", ' ..
        '"referrer": "https://yandex.ru/search/?text=shop", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}'
      return wrk.format(nil, nil, nil, body)
    end
    """.write(toFile: script, atomically: true, encoding: .utf8)

struct WrkResult: Sendable {
    var perSecond: Double; var requests: Int; var failures: Int; var p50: String; var p99: String
    /// The tracker's CPU (this process, all threads) per request answered, in µs.
    var cpuMicroseconds = 0.0
}

/// Runs wrk and reads its summary.
@Sendable func wrk(_ url: String, connections: Int, duration: Int, script: String) throws -> WrkResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
    process.arguments = ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, url]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    func number(after marker: String) -> Double? {
        guard let range = output.range(of: marker) else { return nil }
        return Double(output[range.upperBound...].trimmingCharacters(in: .whitespaces).prefix { $0.isNumber || $0 == "." })
    }
    func latency(_ percent: String) -> String {
        output.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(percent) }?
            .split(separator: " ", omittingEmptySubsequences: true).last.map(String.init) ?? "?"
    }
    let requests = output.split(separator: "\n").first { $0.contains("requests in") }?.trimmingCharacters(in: .whitespaces)
        .prefix { $0.isNumber }
    return WrkResult(perSecond: number(after: "Requests/sec:") ?? 0, requests: Int(requests ?? "") ?? 0,
                     failures: Int(number(after: "Non-2xx or 3xx responses:") ?? 0), p50: latency("50%"), p99: latency("99%"))
}

func run(publishes: Bool) async throws -> WrkResult {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let group = try TrackerApp.build(settings: settings, host: "127.0.0.1", port: 0, logger: logger, publishes: publishes) { continuation.yield($0) }
    let running = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    let port = await iterator.next() ?? 0
    // wrk is waited for on a thread of its own: blocking a thread of Swift's cooperative pool
    // (two on two cores) for the whole run would leave the tracker's handlers one thread.
    let url = "http://127.0.0.1:\(port)/v1/projects/\(project)/visits"
    let (connections, duration, script) = (connections, duration, script)
    let cpu = Bench.processCPUSeconds
    var result = try await withCheckedThrowingContinuation { (done: CheckedContinuation<WrkResult, any Error>) in
        Thread { done.resume(with: Result { try wrk(url, connections: connections, duration: duration, script: script) }) }.start()
    }
    result.cpuMicroseconds = (Bench.processCPUSeconds - cpu) / Double(max(result.requests, 1)) * 1e6
    await group.triggerGracefulShutdown()
    _ = try? await running.value
    return result
}

print("machine: \(Bench.machine); wrk (2 threads, \(connections) connections, \(duration) s), tracker and RabbitMQ on one host")

// The handler's own work, without HTTP: parse + validate + normalise one visit body.
do {
    let reader = EventReader(siteDomains: ["shop.example"])
    let body = Array(#"{"visit_id": "123-456", "client_id": "c17", "occurred_at": "2026-03-01T10:15:00+03:00", "landing_url": "https://shop.example/sale?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=99", "referrer": "https://yandex.ru/search/?text=shop", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}"#.utf8)
    let rounds = 200_000
    var parse = 0.0
    var read = 0.0
    var checksum = 0
    let now = Date()
    parse = try await Bench.seconds { for _ in 0..<rounds { checksum &+= (try JSONValue.parse(body)).text?.count ?? 1 } }
    let value = try JSONValue.parse(body)
    read = try await Bench.seconds { for _ in 0..<rounds { checksum &+= try reader.visit(value, receivedAt: now, newID: { "x" }).visitID.count } }
    print(String(format: "handler work without HTTP: JSON parse %.1f µs, read + validate + normalise %.1f µs a visit (checksum %d)",
                 parse / Double(rounds) * 1e6, read / Double(rounds) * 1e6, checksum % 10))
}
let baseline = try await run(publishes: false)
print(String(format: "baseline (answers 201 without publishing): %.0f visits/s, p50 %@, p99 %@, %d non-2xx, tracker CPU %.1f µs a visit",
             baseline.perSecond, baseline.p50, baseline.p99, baseline.failures, baseline.cpuMicroseconds))
let durable = try await run(publishes: true)
print(String(format: "durable (201 after the broker confirmed): %.0f visits/s, p50 %@, p99 %@, %d non-2xx, tracker CPU %.1f µs a visit -> %.0f %% of the baseline",
             durable.perSecond, durable.p50, durable.p99, durable.failures, durable.cpuMicroseconds, 100 * durable.perSecond / max(baseline.perSecond, 1)))

// Every visit answered 201 is in the queue.
let consumer = AMQPConsumer(configuration: amqp, queue: queue, topology: AMQPTopology(), prefetch: 2000, logger: logger)
var visits = 0
var messages = 0
while true {
    let batch = try await consumer.receive(max: 2000, wait: 2, linger: 0.05)
    if batch.isEmpty { break }
    for delivery in batch {
        let envelope = try JSONValue.parse(delivery.body)
        guard envelope["project"]?.text == project else { continue }
        messages += 1
        visits += envelope["payload"]?["visits"]?.array?.count ?? 0
    }
    _ = try await consumer.ack(batch)
}
await consumer.close()
let answered = durable.requests - durable.failures
print("in the broker: \(visits) visits in \(messages) messages (\(String(format: "%.1f", Double(visits) / Double(max(messages, 1)))) a message); answered 201: \(answered) -> \(visits >= answered ? "none lost" : "LOST \(answered - visits)")")
