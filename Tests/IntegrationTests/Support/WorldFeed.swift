import Domain
import Foundation
import Identity
import Postgres
import Runtime
import Sandbox

/// A generated world fed to the identity resolver: its CRM rows stored as deal-sync stores them,
/// its visits, leads and deal changes as messages, in time order or shuffled.
enum WorldFeed {
    /// Stores every deal and contact as deal-sync would (`World.storeCRM`).
    static func storeCRM(_ world: World, in pool: PGPool) async throws {
        try await pool.withTransaction { try await world.storeCRM(on: $0) }
    }

    enum Item {
        case visit(TrackedVisit)
        case lead(TrackedLead)
        case deal(connection: String, id: String)
    }

    /// Messages for the world, each an encoded envelope. In order: visits, then leads (each by
    /// time), then deals. Shuffled: every record at a random place, mixed into messages of 1–`chunk`
    /// records, and one record in twenty sent twice (a redelivery, a webhook before a poll).
    static func messages(_ world: World, chunk: Int = 50, shuffleSeed: UInt64? = nil) throws -> [[UInt8]] {
        var items: [Item] = world.visits.sorted { $0.occurredAt < $1.occurredAt }.map { .visit($0) }
            + world.leads.map(\.tracked).sorted { $0.occurredAt < $1.occurredAt }.map { .lead($0) }
            + world.deals.map { .deal(connection: $0.connection, id: $0.id) }
        var sizes: [Int] = []
        if let seed = shuffleSeed {
            var random = SplitMix64(seed: seed)
            let again = items.filter { _ in random.below(20) == 0 }
            items += again
            items.shuffle(using: &random)
            var left = items.count
            while left > 0 {
                let size = min(left, 1 + random.below(chunk))
                sizes.append(size)
                left -= size
            }
        } else {
            sizes = stride(from: 0, to: items.count, by: chunk).map { min(chunk, items.count - $0) }
        }
        var messages: [[UInt8]] = []
        var start = 0
        for size in sizes {
            let slice = items[start..<(start + size)]
            start += size
            var batch = TrackedBatch()
            var deals: [String: [String]] = [:]
            for item in slice {
                switch item {
                case .visit(let visit): batch.visits.append(visit)
                case .lead(let lead): batch.leads.append(lead)
                case .deal(let connection, let id): deals[connection, default: []].append(id)
                }
            }
            if !batch.visits.isEmpty || !batch.leads.isEmpty {
                messages.append(try Envelope.encode(type: ClusterTopology.eventsTracked, project: world.spec.project, payload: batch))
            }
            for (connection, ids) in deals.sorted(by: { $0.key < $1.key }) {
                struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
                messages.append(try Envelope.encode(type: ClusterTopology.dealChanged, project: world.spec.project,
                                                    payload: Changed(connection: connection, crm: connection == "amo" ? "amocrm" : "bitrix24", deals: ids)))
            }
        }
        return messages
    }
}
