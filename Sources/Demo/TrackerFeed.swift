import AsyncHTTPClient
import Domain
import Foundation
import NIOCore
import Sandbox

/// The website's side: the world's visits and leads posted to the tracker one by one, as a site
/// and its call tracking post them (contracts.md §1), several requests at a time, in time order.
public struct TrackerFeed: Sendable {
    public enum Item: Sendable {
        case visit(String)
        case lead(String)
    }

    /// Request bodies in the order the site sends them.
    public let items: [Item]

    public init(_ world: World) {
        var timed: [(at: Date, item: Item)] = []
        for visit in world.visits {
            var body = JSONWriter()
            body.raw("{")
            body.field("visit_id", visit.visitID, first: true)
            body.field("client_id", visit.clientID)
            body.field("occurred_at", visit.occurredAt)
            body.field("landing_url", visit.landingURL)
            body.field("referrer", visit.referrer)
            body.field("user_agent", visit.userAgent)
            body.raw("}")
            timed.append((Timestamp.parse(visit.occurredAt)!, .visit(String(decoding: body.bytes, as: UTF8.self))))
        }
        for lead in world.leads {
            let tracked = lead.tracked
            var body = JSONWriter()
            body.raw("{")
            body.field("request_id", tracked.requestID, first: true)
            body.field("visit_id", tracked.visitID)
            body.field("client_id", tracked.clientID)
            body.field("occurred_at", tracked.occurredAt)
            body.field("kind", tracked.kind)
            body.field("phone", lead.postedPhone)
            body.field("email", tracked.email)
            body.field("name", tracked.name)
            body.field("page", tracked.page)
            body.field("product", tracked.product)
            body.raw("}")
            timed.append((Timestamp.parse(tracked.occurredAt)!, .lead(String(decoding: body.bytes, as: UTF8.self))))
        }
        items = timed.sorted { $0.at < $1.at }.map(\.item)
    }

    /// Posts every item to `trackerURL` with `concurrency` requests in flight; `progress` gets the
    /// number done. A refused request (not 2xx) stops the feed with its answer.
    public func post(to trackerURL: String, project: String, ingestKey: String, concurrency: Int = 16,
                     progress: @escaping @Sendable (Int) -> Void) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let counter = Counter()
                let next = Counter()
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let index = next.increment() - 1
                            guard index < items.count else { return }
                            let (path, body): (String, String) = switch items[index] {
                            case .visit(let body): ("visits", body)
                            case .lead(let body): ("leads", body)
                            }
                            var request = HTTPClientRequest(url: "\(trackerURL)/v1/projects/\(project)/\(path)")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Authorization", value: "Bearer \(ingestKey)")
                            request.body = .bytes(ByteBuffer(string: body))
                            let response = try await client.execute(request, timeout: .seconds(30))
                            let answer = try await response.body.collect(upTo: 1 << 16)
                            guard (200..<300).contains(response.status.code) else {
                                throw DemoError("the tracker answered \(response.status.code) to \(path): \(String(buffer: answer))")
                            }
                            progress(counter.increment())
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// A counter shared by tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.withLock { value += 1; return value } }
    var current: Int { lock.withLock { value } }
}
