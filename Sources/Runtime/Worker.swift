import AMQP
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle

/// The consume loop every worker runs: a swift-service-lifecycle `Service`.
///
/// 1. Gathers a batch of up to `batchSize` deliveries or `batchBytes` of bodies (or what came
///    within `batchLinger`).
/// 2. Messages that are not a valid `Envelope` go straight to `<queue>.dead` with the reason.
/// 3. The rest are handled in one PostgreSQL transaction (after dropping ids this consumer
///    already applied), and the whole batch is acknowledged at once after the commit.
/// 4. If the handler throws, each message is retried alone with exponential backoff, and after
///    `maxAttempts` dead-lettered with the error in the `x-error` header. Errors of PostgreSQL or
///    RabbitMQ themselves (a restart, a lost connection) are not the message's fault: they are
///    retried without limit and never dead-letter anything.
/// 5. On graceful shutdown (SIGTERM) it stops taking batches, finishes the one in hand, and
///    closes; unacknowledged deliveries return to the queue.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let handler: any BatchHandler
    private let pool: PGPool
    private let consumer: AMQPConsumer
    private let deadLetters: AMQPPublisher
    private let readiness: Readiness
    private let logger: Logger
    private let metrics: WorkerMetrics
    /// This loop's part in `/ready`: `amqp.consumer`, or `amqp.consumer.<n>` for one of several
    /// loops of a process, so one loop's broken connection is not hidden by another's.
    private let readinessKey: String

    public init(
        configuration: WorkerConfiguration, handler: any BatchHandler, pool: PGPool, amqp: AMQPConfiguration,
        publisher: AMQPPublisher, readiness: Readiness, loop: Int? = nil, logger: Logger
    ) {
        readinessKey = loop.map { "amqp.consumer.\($0)" } ?? "amqp.consumer"
        self.configuration = configuration
        self.handler = handler
        self.pool = pool
        self.deadLetters = publisher
        self.readiness = readiness
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.name)"
        self.logger = logger
        self.metrics = WorkerMetrics(worker: configuration.name)
        consumer = AMQPConsumer(
            configuration: amqp, queue: configuration.queue, topology: configuration.topology,
            prefetch: configuration.prefetch, name: "consumer.\(configuration.name)", logger: logger)
    }

    public func run() async throws {
        let stop = StopSignal()
        logger.info("worker started", metadata: ["amqp.queue": "\(configuration.queue)"])
        await withGracefulShutdownHandler {
            await loop(stop)
        } onGracefulShutdown: {
            stop.set()
        }
        await consumer.close()
        readiness.set(readinessKey, ready: false)
        logger.info("worker stopped")
    }

    private func loop(_ stop: StopSignal) async {
        var attempt = 0
        var lastPrune = Date.distantPast
        readiness.set(readinessKey, ready: false)
        while !stop.isSet && !Task.isCancelled {
            let deliveries: [AMQPDelivery]
            do {
                deliveries = try await consumer.receive(max: configuration.batchSize, maxBytes: configuration.batchBytes, wait: 0.25, linger: configuration.batchLinger)
                readiness.set(readinessKey, ready: true)
                attempt = 0
            } catch {
                readiness.set(readinessKey, ready: false)
                attempt += 1
                logger.warning("cannot receive; reconnecting", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                await stop.sleep(seconds: configuration.backoff.delay(attempt: attempt))
                continue
            }
            if !deliveries.isEmpty { await process(deliveries, stop: stop) }
            if Date().timeIntervalSince(lastPrune) > 3600 {
                lastPrune = Date()
                await pruneProcessed()
            }
        }
    }

    /// Handles one batch to its end: acknowledged, dead-lettered, or put back in the queue
    /// (shutting down, or the dead-letter publish failed).
    private func process(_ deliveries: [AMQPDelivery], stop: StopSignal) async {
        var good: [(AMQPDelivery, Envelope)] = []
        var settled: [AMQPDelivery] = []
        var requeue: [AMQPDelivery] = []
        for delivery in deliveries {
            do {
                good.append((delivery, try Envelope(decoding: delivery.body)))
            } catch {
                if await deadLetter(delivery, reason: "undecodable message: \(error)", attempts: 0) {
                    settled.append(delivery)
                } else {
                    requeue.append(delivery)
                }
            }
        }
        if !good.isEmpty {
            switch await apply(good.map(\.1), stop: stop) {
            case .committed:
                settled += good.map(\.0)
                metrics.handled.increment(by: good.count)
                if configuration.pauseAfterCommitMilliseconds > 0 {
                    try? await Task.sleep(for: .milliseconds(configuration.pauseAfterCommitMilliseconds))
                }
            case .interrupted:
                await settle(acknowledge: settled, requeue: requeue)
                return
            case .failed(let error):
                logger.warning("batch failed; handling its messages one by one",
                               metadata: ["error": "\(error)", "batch.size": "\(good.count)"])
                for (delivery, envelope) in good {
                    if await applyAlone(delivery, envelope, firstError: good.count == 1 ? error : nil, stop: stop) {
                        settled.append(delivery)
                    } else {
                        requeue.append(delivery)
                    }
                }
            }
        }
        await settle(acknowledge: settled, requeue: requeue)
    }

    private enum Outcome { case committed, interrupted, failed(any Error) }

    /// Runs the handler in one transaction; infrastructure errors are retried until success
    /// or shutdown; handler errors are returned.
    private func apply(_ envelopes: [Envelope], stop: StopSignal) async -> Outcome {
        var attempt = 0
        while true {
            let started = ContinuousClock.now
            do {
                try await pool.withTransaction { connection in
                    let fresh = try await self.unprocessed(envelopes, on: connection)
                    if !fresh.isEmpty {
                        try await self.handler.handle(fresh, on: connection, logger: self.logger)
                    }
                }
                let elapsed = (ContinuousClock.now - started).components
                metrics.duration.recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
                readiness.set("postgres", ready: true)
                return .committed
            } catch {
                guard Self.isInfrastructure(error) else { return .failed(error) }
                readiness.set("postgres", ready: false)
                attempt += 1
                logger.warning("PostgreSQL unavailable; retrying the batch",
                               metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                if stop.isSet || Task.isCancelled { return .interrupted }
                await stop.sleep(seconds: configuration.backoff.delay(attempt: attempt))
                if stop.isSet || Task.isCancelled { return .interrupted }
            }
        }
    }

    /// One message, up to `maxAttempts` handler failures, then the dead-letter queue. Returns
    /// true when the delivery may be acknowledged.
    private func applyAlone(_ delivery: AMQPDelivery, _ envelope: Envelope, firstError: (any Error)?, stop: StopSignal) async -> Bool {
        // A lone message's batch failure is its first failed attempt; in a larger batch the
        // culprit is not known yet, so every message starts afresh.
        var failures = firstError == nil ? 0 : 1
        if firstError != nil { metrics.failed.increment() }
        var lastError = firstError
        while failures < configuration.maxAttempts {
            if failures > 0 {
                await stop.sleep(seconds: configuration.backoff.delay(attempt: failures))
                if stop.isSet || Task.isCancelled { return false }
            }
            switch await apply([envelope], stop: stop) {
            case .committed:
                metrics.handled.increment()
                return true
            case .interrupted:
                return false
            case .failed(let error):
                failures += 1
                lastError = error
                metrics.failed.increment()
                logger.warning("message failed", metadata: [
                    "message.id": "\(envelope.id)", "message.type": "\(envelope.type)", "attempt": "\(failures)",
                    "error": "\(error)",
                ])
            }
        }
        return await deadLetter(delivery, reason: "\(lastError.map { "\($0)" } ?? "unknown error")", attempts: failures)
    }

    /// Drops envelopes this consumer applied before (recording the new ones in the same
    /// transaction), and repeated ids inside the batch.
    private func unprocessed(_ envelopes: [Envelope], on connection: PGConnection) async throws -> [Envelope] {
        var seen = Set<String>()
        let unique = envelopes.filter { seen.insert($0.project + "\u{0}" + $0.id).inserted }
        guard configuration.skipProcessed else { return unique }
        let rows = try await connection.query("""
            INSERT INTO runtime.processed_messages (project_id, consumer, message_id)
            SELECT p, $1, m FROM unnest($2::text[], $3::text[]) AS t(p, m)
            ON CONFLICT DO NOTHING RETURNING project_id, message_id
            """, [configuration.name, unique.map(\.project), unique.map(\.id)])
        var fresh = Set<String>()
        for row in rows { fresh.insert(try row.decode(String.self, 0) + "\u{0}" + (try row.decode(String.self, 1))) }
        let skipped = unique.count - fresh.count
        if skipped > 0 {
            metrics.skipped.increment(by: skipped)
            logger.debug("skipped already processed messages", metadata: ["count": "\(skipped)"])
        }
        return unique.filter { fresh.contains($0.project + "\u{0}" + $0.id) }
    }

    /// Publishes a copy to the dead-letter exchange with the reason, confirmed by the broker.
    /// Returns false when that failed: the caller puts the delivery back in the queue (and the
    /// queue's delivery limit dead-letters it on the broker's side if that keeps happening).
    private func deadLetter(_ delivery: AMQPDelivery, reason: String, attempts: Int) async -> Bool {
        var headers = delivery.headers
        headers["x-error"] = .string(String(reason.prefix(2000)))
        headers["x-error-at"] = .string(Timestamp.format(Date()))
        headers["x-attempts"] = .int(Int64(attempts))
        headers["x-original-queue"] = .string(configuration.queue)
        headers["x-original-exchange"] = .string(delivery.exchange)
        headers["x-original-routing-key"] = .string(delivery.routingKey)
        headers["x-consumer"] = .string(configuration.name)
        let message = AMQPMessage(
            exchange: AMQPTopology.deadLetterExchange, routingKey: configuration.queue, body: delivery.body,
            messageID: delivery.messageID, type: delivery.type, headers: headers)
        do {
            try await deadLetters.publish(message)
            metrics.deadLettered.increment()
            logger.error("message dead-lettered", metadata: [
                "amqp.queue": "\(AMQPTopology.deadLetterQueueName(for: configuration.queue))",
                "message.id": "\(delivery.messageID ?? "-")", "reason": "\(reason.prefix(500))",
            ])
            return true
        } catch {
            logger.warning("cannot dead-letter; the message goes back to the queue", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func settle(acknowledge deliveries: [AMQPDelivery], requeue: [AMQPDelivery]) async {
        if !requeue.isEmpty {
            do { try await consumer.reject(requeue, requeue: true) } catch {
                logger.warning("cannot requeue; the broker will redeliver when the connection closes", metadata: ["error": "\(error)"])
            }
        }
        guard !deliveries.isEmpty else { return }
        do {
            let acked = try await consumer.ack(deliveries)
            if acked < deliveries.count {
                logger.info("some deliveries belonged to a closed connection and will be redelivered (they are skipped then)",
                            metadata: ["count": "\(deliveries.count - acked)"])
            }
        } catch {
            logger.warning("ack failed; the broker will redeliver (applied messages are skipped)", metadata: ["error": "\(error)"])
        }
    }

    private func pruneProcessed() async {
        guard configuration.skipProcessed else { return }
        do {
            try await pool.query(
                "DELETE FROM runtime.processed_messages WHERE consumer = $1 AND processed_at < now() - make_interval(days => $2)",
                [configuration.name, configuration.processedRetentionDays])
        } catch {
            logger.warning("cannot prune processed message ids", metadata: ["error": "\(error)"])
        }
    }

    /// Errors of PostgreSQL or RabbitMQ themselves rather than of the message.
    static func isInfrastructure(_ error: any Error) -> Bool {
        if let error = error as? PGError { return error.isTransient || error.code == .closed }
        if let error = error as? AMQPError { return error.isTransient }
        return false
    }
}

/// The worker's Prometheus series, labelled by worker.
struct WorkerMetrics: Sendable {
    let handled: Counter
    let failed: Counter
    let deadLettered: Counter
    let skipped: Counter
    let duration: Metrics.Timer

    init(worker: String) {
        let dimensions = [("worker", worker)]
        handled = Counter(label: "worker_messages_handled_total", dimensions: dimensions)
        failed = Counter(label: "worker_messages_failed_total", dimensions: dimensions)
        deadLettered = Counter(label: "worker_messages_dead_lettered_total", dimensions: dimensions)
        skipped = Counter(label: "worker_messages_skipped_duplicate_total", dimensions: dimensions)
        duration = Metrics.Timer(label: "worker_batch_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }
}

import Domain
