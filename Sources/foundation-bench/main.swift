import AMQP
import Foundation
import Logging
import Postgres

// Foundation benchmark (release build): the libpq and rabbitmq-c doors against raw baselines
// measured in the same run. Usage: foundation-bench [rows] [messages] [rounds]
// Reads DATABASE_URL and AMQP_URL (defaults: the local stack). See docs/benchmarks.md.

let arguments = CommandLine.arguments
let rows = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let messages = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 3 : 3
let environment = ProcessInfo.processInfo.environment
let databaseURL = environment["DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:55432/analytics"
let amqp = try AMQPConfiguration(url: environment["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5673/%2f")
var logger = Logger(label: "bench")
logger.logLevel = .error

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let d = (ContinuousClock.now - start).components
    return Double(d.seconds) + Double(d.attoseconds) / 1e18
}

// MARK: COPY through the client vs psql \copy of the same rows

func writeRow(_ writer: PGCopyWriter, _ index: Int) throws {
    writer.field(Int64(index))
    writer.field("campaign \(index % 500)")
    writer.field(Int64(index % 100_000) * 1_000_000)
    try writer.endRow()
}

let connection = try await PGConnection.connect(PGConfiguration(url: databaseURL, applicationName: "bench"), logger: logger)
try await connection.simpleQuery("DROP TABLE IF EXISTS bench_copy; CREATE UNLOGGED TABLE bench_copy (id bigint, campaign text, cost_micros bigint)")
// The same bytes for psql, produced by the same formatter.
let dataFile = "/tmp/bench-copy-\(getpid()).tsv"
_ = FileManager.default.createFile(atPath: dataFile, contents: nil)
let file = FileHandle(forWritingAtPath: dataFile)!
let fileWriter = PGCopyWriterFactory.make { file.write(Data($0)) }
for index in 0..<rows { try writeRow(fileWriter, index) }
try PGCopyWriterFactory.finish(fileWriter)
try file.close()

var clientTimes: [Double] = []
var psqlTimes: [Double] = []
for _ in 0..<rounds {
    try await connection.simpleQuery("TRUNCATE bench_copy")
    clientTimes.append(try await timed {
        try await connection.copyIn("COPY bench_copy (id, campaign, cost_micros) FROM STDIN") { writer in
            for index in 0..<rows { try writeRow(writer, index) }
        }
    })
    try await connection.simpleQuery("TRUNCATE bench_copy")
    psqlTimes.append(try await timed {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [databaseURL, "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy bench_copy (id, campaign, cost_micros) FROM '\(dataFile)'"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PGError(.unexpected, "psql failed") }
    })
}
let counted = try await connection.query("SELECT count(*) FROM bench_copy")[0].decode(Int.self, 0)
precondition(counted == rows, "psql copied \(counted) rows")
try await connection.simpleQuery("DROP TABLE bench_copy")
await connection.close()
try? FileManager.default.removeItem(atPath: dataFile)

// MARK: publish with confirms + consume vs raw rabbitmq-c loops

let body = Array(#"{"v":1,"type":"bench","project":"p","id":"00000000-0000-0000-0000-000000000000","payload":{"n":1}}"#.utf8)
var clientPublish: [Double] = [], rawPublish: [Double] = [], clientConsume: [Double] = [], rawConsume: [Double] = []
for round in 0..<rounds {
    let queue = "bench.q\(round).\(getpid())"
    let topology = AMQPTopology(queues: [AMQPTopology.Queue(queue)])
    try await AMQPAdmin.declare(topology, configuration: amqp)
    let publisher = AMQPPublisher(configuration: amqp, topology: topology, logger: logger)
    clientPublish.append(try await timed {
        for start in stride(from: 0, to: messages, by: 1000) {
            try await publisher.publish((start..<min(messages, start + 1000)).map { _ in
                AMQPMessage(exchange: "", routingKey: queue, body: body, contentType: nil)
            })
        }
    })
    await publisher.close()
    let consumer = AMQPConsumer(configuration: amqp, queue: queue, topology: topology, prefetch: 1000, logger: logger)
    clientConsume.append(try await timed {
        var received = 0
        while received < messages {
            let batch = try await consumer.receive(max: 500, wait: 5, linger: 0.05)
            precondition(!batch.isEmpty, "consumer starved at \(received)")
            received += batch.count
            try await consumer.ack(batch)
        }
    })
    await consumer.close()
    rawPublish.append(try AMQPRawBaseline.publish(amqp, queue: queue, count: messages, body: body))
    rawConsume.append(try AMQPRawBaseline.consume(amqp, queue: queue, count: messages))
    try await AMQPAdmin.deleteQueues([queue], configuration: amqp)
}

func line(_ name: String, _ units: Double, _ ours: [Double], _ base: [Double], _ baseName: String, unit: String) -> String {
    let oursRate = units / median(ours)
    let baseRate = units / median(base)
    return String(format: "%@: %.0f %@/s (median of %d) vs %@ %.0f %@/s -> %.0f %%", name, oursRate, unit, ours.count,
                  baseName, baseRate, unit, 100 * oursRate / baseRate)
}
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; client, PostgreSQL and RabbitMQ on one host")
print(line("COPY \(rows) rows via PGConnection.copyIn", Double(rows), clientTimes, psqlTimes, "psql \\copy", unit: "rows"))
print(line("publish \(messages) persistent msgs with confirms (AMQPPublisher)", Double(messages), clientPublish, rawPublish, "raw rabbitmq-c loop", unit: "msg"))
print(line("consume \(messages) msgs with acks (AMQPConsumer, batches of 500)", Double(messages), clientConsume, rawConsume, "raw rabbitmq-c loop", unit: "msg"))
