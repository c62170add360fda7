import Domain
import Logging
import Postgres

/// The logic of a worker: applies a batch of messages to PostgreSQL.
///
/// The runtime calls `handle` inside one transaction; whatever the handler writes (including
/// `Outbox.enqueue`) commits together, and the batch is acknowledged only after the commit.
/// Throwing rolls everything back; the runtime then retries the messages one by one, and
/// dead-letters the ones that keep failing.
public protocol BatchHandler: Sendable {
    /// Applies `messages` (already decoded, already stripped of message ids this consumer has
    /// processed before) on `connection`, which is inside an open transaction.
    func handle(_ messages: [Envelope], on connection: PGConnection, logger: Logger) async throws
}

/// How a worker consumes.
public struct WorkerConfiguration: Sendable {
    /// Consumer name: the idempotency scope in `runtime.processed_messages` and the metrics label.
    public var name: String
    /// The queue consumed.
    public var queue: String
    /// Declared on every (re)connection: the queue, its bindings and dead-letter queue.
    public var topology: AMQPTopology
    /// Most unacknowledged deliveries the broker sends ahead (≥ `batchSize`).
    public var prefetch: Int
    /// Most messages handled in one transaction.
    public var batchSize: Int
    /// Most message body bytes handled in one transaction: a batch closes once its bodies reach
    /// this (a lone larger message still goes alone). Producers that pack many records into one
    /// message (the tracker's NDJSON batches) make message counts a poor measure of work; bytes
    /// keep a transaction's size — its locks, its memory, the work redone after a crash —
    /// bounded whatever the packing.
    public var batchBytes: Int
    /// Seconds to keep gathering a batch after its first message.
    public var batchLinger: Double
    /// Batches handled at once in this process, each by its own consume loop on its own broker
    /// connection and PostgreSQL connection — in-process replicas, so one batch's decoding
    /// overlaps another's writing. Handlers are replica-safe already (any number of processes
    /// may consume one queue), so this changes throughput, never results.
    public var concurrency: Int
    /// Attempts of a failing message before it is dead-lettered.
    public var maxAttempts: Int
    /// Backoff between attempts (and between infrastructure retries).
    public var backoff: Backoff
    /// Skip message ids this consumer has already applied (for handlers whose writes are not
    /// idempotent by themselves). Costs one insert per message.
    public var skipProcessed: Bool
    /// Tables the handler grows fast whose planner statistics the process keeps current
    /// (`StatisticsKeeper`); `schema.table` names.
    public var analyzedTables: [String]
    /// Days `runtime.processed_messages` rows are kept.
    public var processedRetentionDays: Int
    /// Fault injection for tests: milliseconds to pause between a batch's commit and its ack —
    /// the window in which a crash leads to redelivery of already applied messages. 0 in
    /// production.
    public var pauseAfterCommitMilliseconds: Int

    public init(
        name: String, queue: String, topology: AMQPTopology, prefetch: Int = 1000, batchSize: Int = 500,
        batchBytes: Int = 4 << 20, batchLinger: Double = 0.05, concurrency: Int = 1, maxAttempts: Int = 5, backoff: Backoff = Backoff(initial: 0.1, maximum: 5),
        skipProcessed: Bool = true, analyzedTables: [String] = [], processedRetentionDays: Int = 7, pauseAfterCommitMilliseconds: Int = 0
    ) {
        self.pauseAfterCommitMilliseconds = pauseAfterCommitMilliseconds
        self.name = name
        self.queue = queue
        self.topology = topology
        self.prefetch = max(prefetch, batchSize)
        self.batchSize = batchSize
        self.batchBytes = batchBytes
        self.batchLinger = batchLinger
        self.concurrency = max(1, concurrency)
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.skipProcessed = skipProcessed
        self.analyzedTables = analyzedTables
        self.processedRetentionDays = processedRetentionDays
    }
}

import AMQP
