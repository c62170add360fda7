import Foundation
import Postgres

/// Recomputes every deal's status and cost of goods of a connection from what is stored — its
/// stages as the CRM listed them, the deal's amount, products and cost field — with the current
/// mapping (say "contract signed" now counts as won). No CRM is called.
public enum DealRemap {
    public struct Outcome: Sendable, Equatable {
        /// Deals whose status changed, per new status.
        public var changed: [DealStatus: Int]
        public var costsChanged: Int
    }

    public static func run(_ store: DealStore, pool: PGPool) async throws -> Outcome {
        try await pool.withTransaction { connection in
            let catalog = try await store.storedCatalog(on: connection)
            let rows = try await connection.query("""
                SELECT deal_id, pipeline_id, stage_id, status, amount, cost_field, array_to_string(products, E'\\x1f'), cost_of_goods FROM crm.deals
                WHERE project_id = $1 AND connection_id = $2 FOR UPDATE
                """, [store.project, store.connection])
            var ids: [String] = []
            var statuses: [String] = []
            var costs: [String?] = []
            var outcome = Outcome(changed: [:], costsChanged: 0)
            for row in rows {
                let (pipeline, stage) = (try row.decode(String.self, 1), try row.decode(String.self, 2))
                let status = store.mapping.status(pipeline: pipeline, stage: stage, kind: catalog.kind(pipeline: pipeline, stage: stage))
                let cost = store.mapping.costOfGoods(amount: try row.decode(Decimal.self, 4), costField: try row.decode(Decimal?.self, 5),
                                                     products: try row.decode(String.self, 6).split(separator: "\u{1f}").map(String.init),
                                                     pipeline: pipeline)
                let statusChanged = status.rawValue != (try row.decode(String.self, 3))
                let costChanged = cost != (try row.decode(Decimal?.self, 7))
                guard statusChanged || costChanged else { continue }
                if statusChanged { outcome.changed[status, default: 0] += 1 }
                if costChanged { outcome.costsChanged += 1 }
                ids.append(try row.decode(String.self, 0))
                statuses.append(status.rawValue)
                costs.append(cost.map { NSDecimalNumber(decimal: $0).stringValue })
            }
            guard !ids.isEmpty else { return outcome }
            try await connection.query("""
                UPDATE crm.deals d SET status = m.status, cost_of_goods = NULLIF(m.cost, '')::numeric, synced_at = now()
                FROM unnest($3::text[], $4::text[], $5::text[]) AS m(deal_id, status, cost)
                WHERE d.project_id = $1 AND d.connection_id = $2 AND d.deal_id = m.deal_id
                """, [store.project, store.connection, ids, statuses, costs.map { $0 ?? "" }])
            try await DealSyncEngine.enqueueChanged(ids, store: store, on: connection)
            return outcome
        }
    }
}
