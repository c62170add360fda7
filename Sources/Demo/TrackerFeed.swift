import AsyncHTTPClient
import Domain
import Foundation
import NIOCore
import Sandbox

/// The website's side: the world's visits and leads posted to the tracker one by one, as a site
/// and its call tracking post them (contracts.md §1), several requests at a time, in time order.
public struct TrackerFeed: Sendable {
    /// Requests in the order the site sends them: the endpoint (`visits`, `leads`) and the body.
    public let items: [(path: String, body: String)]
    /// Requests sent again after no answer or a 5xx, in the last `post`.
    let retried = Counter()
    public var retries: Int { retried.value }

    public init(_ world: World) {
        var timed: [(at: Date, path: String, body: String)] = []
        for visit in world.visits {
            let body = Self.object([("visit_id", visit.visitID), ("client_id", visit.clientID), ("occurred_at", visit.occurredAt),
                                    ("landing_url", visit.landingURL), ("referrer", visit.referrer), ("user_agent", visit.userAgent)])
            timed.append((Timestamp.parse(visit.occurredAt)!, "visits", body))
        }
        for lead in world.leads {
            let tracked = lead.tracked
            let body = Self.object([("request_id", tracked.requestID), ("visit_id", tracked.visitID), ("client_id", tracked.clientID),
                                    ("occurred_at", tracked.occurredAt), ("kind", tracked.kind), ("phone", lead.postedPhone),
                                    ("email", tracked.email), ("name", tracked.name), ("page", tracked.page), ("product", tracked.product)])
            timed.append((Timestamp.parse(tracked.occurredAt)!, "leads", body))
        }
        items = timed.sorted { $0.at < $1.at }.map { ($0.path, $0.body) }
    }

    /// A JSON object of the fields that have a value.
    static func object(_ fields: [(key: StaticString, value: String?)]) -> String {
        var writer = JSONWriter()
        writer.raw("{")
        var first = true
        for field in fields where field.value != nil {
            writer.field(field.key, field.value, first: first)
            first = false
        }
        writer.raw("}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Posts every item to `trackerURL` with `concurrency` requests in flight; `progress` gets the
    /// number done. As a site's tracker snippet does, a request that gets no answer or a 5xx is
    /// sent again (the same ids: the tracker and the resolver make repeats harmless) until
    /// `giveUpAfter` seconds; a 4xx stops the feed with its answer. `pace` (requests a second)
    /// spreads the feed over time, so that faults meet data in flight.
    public func post(to trackerURL: String, project: String, ingestKey: String, concurrency: Int = 16, pace: Double? = nil,
                     giveUpAfter: Double = 180, progress: @escaping @Sendable (Int) -> Void) async throws {
        let done = Counter()
        let next = Counter()
        retried.set(0)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.increment() - 1
                        guard index < items.count else { return }
                        if let pace { try await Task.sleep(until: start + .milliseconds(Int64(Double(index) / pace * 1000)), clock: .continuous) }
                        let (path, body) = items[index]
                        var request = HTTPClientRequest(url: "\(trackerURL)/v1/projects/\(project)/\(path)")
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.headers.add(name: "Authorization", value: "Bearer \(ingestKey)")
                        request.body = .bytes(ByteBuffer(string: body))
                        let deadline = Date().addingTimeInterval(giveUpAfter)
                        var delay = 0.05
                        while true {
                            var failure: String
                            do {
                                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                                let answer = try await response.body.collect(upTo: 1 << 16)
                                if (200..<300).contains(response.status.code) { break }
                                failure = "\(response.status.code): \(String(buffer: answer))"
                                guard response.status.code >= 500 else { throw DemoError("the tracker answered \(failure) to \(path)") }
                            } catch let error as DemoError {
                                throw error
                            } catch {
                                failure = "\(error)"
                            }
                            guard Date() < deadline else { throw DemoError("the tracker did not take a \(path) for \(Int(giveUpAfter)) s: \(failure)") }
                            _ = retried.increment()
                            try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                            delay = min(delay * 2, 2)
                        }
                        progress(done.increment())
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// A counter shared by tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() -> Int { lock.withLock { count += 1; return count } }
    var value: Int { lock.withLock { count } }
    func set(_ value: Int) { lock.withLock { count = value } }
}
