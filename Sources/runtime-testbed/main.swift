import Domain
import AMQP
import Foundation
import Logging
import Runtime
import RuntimeTestbed
import Settings

// The runtime's test worker (see CounterHandler). Reads DATABASE_URL, AMQP_URL, HTTP_PORT and
// TESTBED_QUEUE, TESTBED_DELAY_MS (inside each batch's transaction), TESTBED_PAUSE_AFTER_COMMIT_MS
// (between commit and ack), TESTBED_BATCH_SIZE, TESTBED_SKIP_PROCESSED (default 1),
// TESTBED_SHUTDOWN_SECONDS.
//   runtime-testbed                 run the worker
//   runtime-testbed publish N       publish N counter.add messages (with confirms) and exit
let environment = ProcessInfo.processInfo.environment
let settings = try Settings.load()
Observability.bootstrap(settings)
let logger = Logger(label: "runtime-testbed")
let queue = environment["TESTBED_QUEUE"] ?? "testbed.counters"
let topology = AMQPTopology.workQueue(queue, exchange: CounterHandler.exchange, routingKeys: ["\(queue).add"])

if CommandLine.arguments.count > 2, CommandLine.arguments[1] == "publish", let count = Int(CommandLine.arguments[2]) {
    let published = try await CounterHandler.publishDemo(
        count: count, queue: queue, topology: topology, amqp: try AMQPConfiguration(url: settings.amqpURL), logger: logger)
    print("published \(count) messages; expected total \(published)")
    exit(0)
}

let batchSize = Int(environment["TESTBED_BATCH_SIZE"] ?? "") ?? 200
let worker = WorkerConfiguration(
    name: queue, queue: queue, topology: topology,
    batchSize: batchSize, maxAttempts: 3, backoff: Backoff(initial: 0.05, maximum: 1),
    skipProcessed: environment["TESTBED_SKIP_PROCESSED"] != "0",
    pauseAfterCommitMilliseconds: Int(environment["TESTBED_PAUSE_AFTER_COMMIT_MS"] ?? "") ?? 0)
let app = WorkerApp(
    settings: settings, worker: worker,
    handler: CounterHandler(delayMilliseconds: Int(environment["TESTBED_DELAY_MS"] ?? "") ?? 0,
                            eventRoutingKey: "\(queue).applied"),
    shutdownTimeoutSeconds: Int(environment["TESTBED_SHUTDOWN_SECONDS"] ?? "") ?? 10)
try await app.build(logger: logger).run()
