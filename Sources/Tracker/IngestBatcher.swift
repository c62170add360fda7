import AMQP
import Domain
import Foundation
import Logging
import Runtime

/// Where accepted records go: the broker (`IngestBatcher`), or nowhere (`DiscardingSink`, the
/// benchmark's baseline: the same handler answering without publishing).
public protocol EventSink: Sendable {
    func submit(project: String, visits: [TrackedVisit], leads: [TrackedLead]) async throws
}

/// Accepts and forgets: only for measuring the tracker without the broker.
public struct DiscardingSink: EventSink {
    public init() {}
    public func submit(project: String, visits: [TrackedVisit], leads: [TrackedLead]) async throws {}
}

/// Gathers what concurrent requests accept into one `events.tracked` message per project every
/// few milliseconds (or every `maxRecords`), publishes it persistent with a broker confirm, and
/// only then lets each request answer. One confirmed message carries many visits: the broker's
/// message rate no longer bounds the tracker's request rate, and nothing answered 2xx can be
/// lost if the tracker dies right after.
public actor IngestBatcher: EventSink {
    struct Pending {
        var batch = TrackedBatch()
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var scheduled = false

        /// Adds a request's records and waiter; whether the batch is now full, and whether this
        /// request must schedule the flush (the first of a batch that is not full).
        mutating func add(_ visits: [TrackedVisit], _ leads: [TrackedLead], _ waiter: CheckedContinuation<Void, any Error>,
                          maxRecords: Int) -> (full: Bool, schedule: Bool) {
            batch.visits += visits
            batch.leads += leads
            waiters.append(waiter)
            let full = batch.visits.count + batch.leads.count >= maxRecords
            let schedule = !scheduled && !full
            if schedule { scheduled = true }
            return (full, schedule)
        }
    }

    /// Publishes `message` and waits for its confirm; after a nack it is published again, up to
    /// 3 times (logged as `what`), before the error reaches the request (which answers 503).
    static func publishDurably(_ message: AMQPMessage, on publisher: AMQPPublisher, what: String, logger: Logger) async throws {
        try await publisher.publish([message], retryingNacks: 3) { attempt, error in
            logger.warning("the broker refused \(what); publishing it again", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
        }
    }

    private let publisher: AMQPPublisher
    private let maxRecords: Int
    private let lingerMilliseconds: Int
    private let logger: Logger
    private var pending: [String: Pending] = [:]

    public init(publisher: AMQPPublisher, maxRecords: Int = 1000, lingerMilliseconds: Int = 2,
                logger: Logger = Logger(label: "tracker")) {
        self.publisher = publisher
        self.logger = logger
        self.maxRecords = maxRecords
        self.lingerMilliseconds = lingerMilliseconds
    }

    /// Returns once the records are in a message the broker confirmed.
    /// - Throws: the publisher's error when the broker did not confirm (the request answers 503).
    public func submit(project: String, visits: [TrackedVisit] = [], leads: [TrackedLead] = []) async throws {
        guard !visits.isEmpty || !leads.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // In place: a copy taken out of the dictionary would copy the whole growing batch on
            // every request (the dictionary still holds it).
            let (full, schedule) = pending[project, default: Pending()].add(visits, leads, continuation, maxRecords: maxRecords)
            if full {
                flush(project)
            } else if schedule {
                let linger = lingerMilliseconds
                // High priority: under load the cooperative pool is full of request handlers,
                // and a late flush makes every request of the batch wait.
                Task(priority: .high) {
                    try? await Task.sleep(for: .milliseconds(linger))
                    self.flush(project)
                }
            }
        }
    }

    /// Takes the project's pending records and publishes them in the background.
    private func flush(_ project: String) {
        guard let entry = pending.removeValue(forKey: project), !entry.waiters.isEmpty else { return }
        let publisher = publisher
        let logger = logger
        Task(priority: .high) {
            do {
                let id = UUID().uuidString.lowercased()
                let body = Envelope.encode(type: ClusterTopology.eventsTracked, project: project, id: id, fast: entry.batch)
                try await Self.publishDurably(AMQPMessage(exchange: ClusterTopology.exchange, routingKey: ClusterTopology.eventsTracked,
                                                          body: body, messageID: id, type: ClusterTopology.eventsTracked),
                                              on: publisher, what: "a batch of \(entry.batch.visits.count + entry.batch.leads.count) records",
                                              logger: logger)
                for waiter in entry.waiters { waiter.resume() }
            } catch {
                for waiter in entry.waiters { waiter.resume(throwing: error) }
            }
        }
    }
}
