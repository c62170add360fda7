import Domain
import AMQP
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// A message to publish once the transaction that wrote it commits.
public struct OutboxMessage: Sendable {
    public var project: String
    public var exchange: String
    public var routingKey: String
    public var messageID: String
    public var type: String
    public var body: [UInt8]

    /// Wraps a payload in an `Envelope`; `id` is the idempotency key (stable for the same fact,
    /// e.g. `spend.updated:<project>:<source>:<account>:<from>:<to>:<run>`).
    public init<Payload: Encodable>(
        exchange: String, routingKey: String, type: String, project: String, id: String = UUID().uuidString.lowercased(),
        occurredAt: Date = Date(), payload: Payload
    ) throws {
        self.project = project
        self.exchange = exchange
        self.routingKey = routingKey
        self.messageID = id
        self.type = type
        self.body = try Envelope.encode(type: type, project: project, id: id, occurredAt: occurredAt, payload: payload)
    }
}

/// "Commit, then publish" without losing the event when the process dies in between: events
/// are written to `runtime.outbox` inside the caller's transaction, and the `OutboxRelay`
/// publishes and deletes them after commit.
public enum Outbox {
    /// Writes `messages` to the outbox on `connection`, inside the caller's open transaction.
    /// - Throws: `PGError(.usage)` outside a transaction.
    public static func enqueue(_ messages: [OutboxMessage], on connection: PGConnection) async throws {
        guard !messages.isEmpty else { return }
        guard try await connection.transactionStatus() == .inTransaction else {
            throw PGError(.usage, "Outbox.enqueue must run inside the transaction that writes the data")
        }
        try await connection.query("""
            INSERT INTO runtime.outbox (project_id, exchange, routing_key, message_id, type, body)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
            """, [
                messages.map(\.project), messages.map(\.exchange), messages.map(\.routingKey),
                messages.map(\.messageID), messages.map(\.type), messages.map { Data($0.body) },
            ])
    }
}

/// Publishes the outbox: takes up to `batchSize` rows (`FOR UPDATE SKIP LOCKED`, so N relays
/// share the work), publishes them with confirms, deletes them, commits. Polls every
/// `pollInterval` seconds when the outbox is empty. A crash after publishing but before commit
/// publishes those rows again (consumers skip repeated message ids).
///
/// When the broker refuses a batch for a reason that retrying will not cure (a nack, a missing
/// exchange), the relay goes through it row by row: good rows are published, a refused row gets
/// `attempts + 1` and `last_error`, and after `maxAttempts` it is parked (left in the table for
/// an operator) so it never blocks the rows behind it. Set `attempts = 0` to retry a parked row.
public struct OutboxRelay: Service {
    public var batchSize: Int
    public var pollInterval: Double
    public var maxAttempts: Int
    private let pool: PGPool
    private let publisher: AMQPPublisher
    private let logger: Logger

    public init(
        pool: PGPool, publisher: AMQPPublisher, batchSize: Int = 500, pollInterval: Double = 0.1, maxAttempts: Int = 10,
        logger: Logger
    ) {
        self.pool = pool
        self.publisher = publisher
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.maxAttempts = maxAttempts
        self.logger = logger
    }

    public func run() async throws {
        let stop = StopSignal()
        var attempt = 0
        await withGracefulShutdownHandler {
            while !stop.isSet && !Task.isCancelled {
                do {
                    let published = try await drainOnce()
                    attempt = 0
                    if published == 0 { await stop.sleep(seconds: pollInterval) }
                } catch {
                    attempt += 1
                    logger.warning("outbox relay failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                    await stop.sleep(seconds: Backoff().delay(attempt: attempt))
                }
            }
        } onGracefulShutdown: {
            stop.set()
        }
    }

    /// Publishes one batch; returns how many rows it published.
    @discardableResult
    public func drainOnce() async throws -> Int {
        do {
            return try await publishBatch(limit: batchSize)
        } catch let error as AMQPError where !error.isTransient {
            logger.warning("the broker refused an outbox batch; publishing it row by row", metadata: ["error": "\(error)"])
            var published = 0
            for _ in 0..<batchSize {
                guard let count = try await publishOneRow() else { break }
                published += count
            }
            return published
        }
    }

    /// Publishes the oldest unparked row alone; nil when there is none, 0 when it was refused.
    private func publishOneRow() async throws -> Int? {
        do {
            let count = try await publishBatch(limit: 1)
            return count == 0 ? nil : count
        } catch let error as AMQPError where !error.isTransient {
            try await pool.withTransaction { connection in
                let row = try await connection.query("""
                    UPDATE runtime.outbox SET attempts = attempts + 1, last_error = $2
                    WHERE (project_id, id) = (SELECT project_id, id FROM runtime.outbox WHERE attempts < $1
                                              ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING message_id, attempts
                    """, [maxAttempts, String("\(error)".prefix(1000))])
                if let first = row.first, try first.decode(Int.self, 1) >= maxAttempts {
                    let messageID = try first.decode(String.self, 0)
                    logger.error("outbox message parked after repeated refusals", metadata: [
                        "message.id": "\(messageID)", "error": "\(error)",
                    ])
                }
            }
            return 0
        }
    }

    private func publishBatch(limit: Int) async throws -> Int {
        try await pool.withTransaction { connection in
            let rows = try await connection.query("""
                SELECT project_id, id, exchange, routing_key, message_id, type, body FROM runtime.outbox
                WHERE attempts < $2 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
                """, [limit, maxAttempts])
            guard !rows.isEmpty else { return 0 }
            var messages: [AMQPMessage] = []
            var projects: [String] = []
            var ids: [Int64] = []
            for row in rows {
                projects.append(try row.decode(String.self, 0))
                ids.append(try row.decode(Int64.self, 1))
                messages.append(AMQPMessage(
                    exchange: try row.decode(String.self, 2), routingKey: try row.decode(String.self, 3),
                    body: [UInt8](try row.decode(Data.self, 6)), messageID: try row.decode(String.self, 4),
                    type: try row.decode(String.self, 5)))
            }
            try await publisher.publish(messages)
            try await connection.query("""
                DELETE FROM runtime.outbox o USING unnest($1::text[], $2::bigint[]) AS d(project_id, id)
                WHERE o.project_id = d.project_id AND o.id = d.id
                """, [projects, ids])
            return messages.count
        }
    }
}

/// A one-way flag for graceful shutdown, with a sleep that ends early once it is set.
public final class StopSignal: Sendable {
    private let flag = Mutex(false)

    public init() {}

    public var isSet: Bool { flag.withLock { $0 } }

    public func set() { flag.withLock { $0 = true } }

    /// Sleeps `seconds` in slices of at most 50 ms, returning early when the signal is set or
    /// the task is cancelled.
    public func sleep(seconds: Double) async {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !isSet, !Task.isCancelled {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            try? await Task.sleep(for: min(left, .milliseconds(50)))
        }
    }
}
