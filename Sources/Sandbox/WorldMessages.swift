import Domain
import Runtime

extension World {
    /// The world as the cluster's messages, for the benchmarks: its visits and leads in time
    /// order, `recordsPerMessage` to an `events.tracked` message (as the tracker batches them),
    /// then its deals' `deal.changed` messages, `dealsPerMessage` to a message, per connection.
    /// Each with its routing key.
    public func messageBodies(recordsPerMessage: Int, dealsPerMessage: Int = 1000) throws -> [(routingKey: String, body: [UInt8])] {
        enum Record { case visit(TrackedVisit), lead(TrackedLead) }
        let records = (visits.map { (Timestamp.micros(Timestamp.parse($0.occurredAt)!), Record.visit($0)) }
            + leads.map { (Timestamp.micros(Timestamp.parse($0.tracked.occurredAt)!), Record.lead($0.tracked)) }).sorted { $0.0 < $1.0 }
        var bodies: [(routingKey: String, body: [UInt8])] = []
        for start in stride(from: 0, to: records.count, by: recordsPerMessage) {
            var batch = TrackedBatch()
            for (_, record) in records[start..<min(records.count, start + recordsPerMessage)] {
                switch record {
                case .visit(let visit): batch.visits.append(visit)
                case .lead(let lead): batch.leads.append(lead)
                }
            }
            bodies.append((ClusterTopology.eventsTracked, try Envelope.encode(type: ClusterTopology.eventsTracked, project: spec.project, payload: batch)))
        }
        struct Changed: Encodable { let connection: String; let crm: String; let deals: [String] }
        for (connection, group) in Dictionary(grouping: deals, by: \.connection).sorted(by: { $0.key < $1.key }) {
            for start in stride(from: 0, to: group.count, by: dealsPerMessage) {
                let ids = group[start..<min(group.count, start + dealsPerMessage)].map(\.id)
                bodies.append((ClusterTopology.dealChanged, try Envelope.encode(type: ClusterTopology.dealChanged, project: spec.project,
                                                                                payload: Changed(connection: connection, crm: group[0].crm.rawValue, deals: ids))))
            }
        }
        return bodies
    }
}
