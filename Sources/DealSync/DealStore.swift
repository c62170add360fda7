import Domain
import Foundation
import Postgres

/// deal-sync's writes for one CRM connection. Every write is an upsert keyed by the CRM's own
/// ids, so a page written twice (a crash between commit and the next step, a webhook racing a
/// poll, two replicas) changes nothing the second time.
public struct DealStore: Sendable {
    public let project: String
    public let connection: String
    public let crm: CRMKind
    public let mapping: StageMapping
    /// The connection's currency (amoCRM deals carry none) and whether its amounts include VAT.
    public let currency: String
    public let amountsIncludeVAT: Bool

    public init(project: String, connection: String, crm: CRMKind, mapping: StageMapping, currency: String, amountsIncludeVAT: Bool) {
        self.project = project
        self.connection = connection
        self.crm = crm
        self.mapping = mapping
        self.currency = currency
        self.amountsIncludeVAT = amountsIncludeVAT
    }

    /// Array columns travel through COPY as PostgreSQL array literals.
    static func array(_ values: [String]) -> String { values.pgText }

    // MARK: - catalog

    public func write(_ catalog: CRMCatalog, on connection: PGConnection) async throws {
        let (project, id) = (project, self.connection)
        let now = Date()
        _ = try await connection.bulkWrite(PGBulkWrite(
            table: "crm.pipelines", columns: ["project_id", "connection_id", "pipeline_id", "name", "sort", "is_archive", "synced_at"],
            mode: .upsert(key: ["project_id", "connection_id", "pipeline_id"], update: ["name", "sort", "is_archive", "synced_at"]))) { writer in
            for pipeline in catalog.pipelines {
                for value: (any PGEncodable)? in [project, id, pipeline.id, pipeline.name, pipeline.sort, pipeline.isArchive, now] { writer.field(value) }
                try writer.endRow()
            }
        }
        _ = try await connection.bulkWrite(PGBulkWrite(
            table: "crm.stages", columns: ["project_id", "connection_id", "pipeline_id", "stage_id", "name", "sort", "crm_kind", "synced_at"],
            mode: .upsert(key: ["project_id", "connection_id", "pipeline_id", "stage_id"], update: ["name", "sort", "crm_kind", "synced_at"]))) { writer in
            for pipeline in catalog.pipelines {
                for stage in pipeline.stages {
                    for value: (any PGEncodable)? in [project, id, pipeline.id, stage.id, stage.name, stage.sort, stage.kind.rawValue, now] { writer.field(value) }
                    try writer.endRow()
                }
            }
        }
        _ = try await connection.bulkWrite(PGBulkWrite(
            table: "crm.users", columns: ["project_id", "connection_id", "user_id", "name", "email", "synced_at"],
            mode: .upsert(key: ["project_id", "connection_id", "user_id"], update: ["name", "email", "synced_at"]))) { writer in
            for user in catalog.users {
                for value: (any PGEncodable)? in [project, id, user.id, user.name, user.email, now] { writer.field(value) }
                try writer.endRow()
            }
        }
    }

    /// The pipelines and stages stored for this connection (the mapping's input for a remap).
    public func storedCatalog(on connection: PGConnection) async throws -> CRMCatalog {
        var pipelines: [String: CRMPipeline] = [:]
        for row in try await connection.query("""
            SELECT s.pipeline_id, coalesce(p.name, ''), s.stage_id, s.name, s.sort, s.crm_kind FROM crm.stages s
            LEFT JOIN crm.pipelines p USING (project_id, connection_id, pipeline_id)
            WHERE s.project_id = $1 AND s.connection_id = $2 ORDER BY s.pipeline_id, s.sort
            """, [project, self.connection]) {
            let pipeline = try row.decode(String.self, 0)
            let stage = CRMStage(id: try row.decode(String.self, 2), name: try row.decode(String.self, 3), sort: try row.decode(Int.self, 4),
                                 kind: CRMStageKind(rawValue: try row.decode(String.self, 5)) ?? .regular)
            let name = try row.decode(String.self, 1)
            pipelines[pipeline, default: CRMPipeline(id: pipeline, name: name, sort: 0, stages: [])].stages.append(stage)
        }
        return CRMCatalog(pipelines: pipelines.values.sorted { $0.id < $1.id }, users: [])
    }

    // MARK: - deals

    /// Writes a page: its deals (status through the mapping), their contacts, stage changes and
    /// payments, and the problems of the deals that could not be taken (their stored version
    /// stays). Returns the ids of the deals written.
    @discardableResult
    public func write(
        _ page: CRMDealPage, contacts: [CRMContact], history: CRMHistory, catalog: CRMCatalog, on connection: PGConnection
    ) async throws -> [String] {
        let (project, id, crm, mapping, currency, includesVAT) = (project, self.connection, crm, mapping, currency, amountsIncludeVAT)
        let now = Date()
        let deals = page.deals
        if !deals.isEmpty {
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "crm.deals", columns: Self.dealColumns,
                mode: .upsertUnlessNewer(key: ["project_id", "connection_id", "deal_id"], update: Array(Self.dealColumns.dropFirst(3)),
                                         version: "updated_at"))) { writer in
                for deal in deals {
                    let status = mapping.status(pipeline: deal.pipelineID, stage: deal.stageID,
                                                kind: catalog.kind(pipeline: deal.pipelineID, stage: deal.stageID) ?? deal.stageKind)
                    let cost = mapping.costOfGoods(amount: deal.amount, costField: deal.costField, products: deal.products, pipeline: deal.pipelineID)
                    let values: [(any PGEncodable)?] = [
                        project, id, deal.id, crm.rawValue, deal.name, deal.pipelineID, deal.stageID, status.rawValue, deal.createdAt,
                        deal.updatedAt, deal.closedAt, deal.amount, deal.currency.isEmpty ? currency : deal.currency, includesVAT,
                        deal.costField, cost, deal.paidTotal, deal.managerID, Self.array(deal.products), Self.array(deal.contactIDs),
                        deal.visitID, deal.requestID, deal.utm["utm_source"], deal.utm["utm_medium"], deal.utm["utm_campaign"],
                        deal.utm["utm_content"], deal.utm["utm_term"], Self.array(deal.tags), deal.lossReason, false, nil as String?, now,
                    ]
                    for value in values { writer.field(value) }
                    try writer.endRow()
                }
            }
            try await connection.query("DELETE FROM crm.sync_errors WHERE project_id = $1 AND connection_id = $2 AND deal_id = ANY($3::text[])",
                                       [project, id, deals.map(\.id)])
            // Product lines are replaced with their deal — only where this write took (a newer
            // stored version keeps its own lines).
            let taken = Set(try await connection.query("""
                SELECT deal_id FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND deal_id = ANY($3::text[]) AND synced_at = $4
                """, [project, id, deals.map(\.id), now]).map { try $0.decode(String.self, 0) })
            try await connection.query("""
                DELETE FROM crm.deal_products WHERE project_id = $1 AND connection_id = $2 AND deal_id = ANY($3::text[])
                """, [project, id, Array(taken)])
            let lines = deals.filter { taken.contains($0.id) }.flatMap { deal in deal.lines.enumerated().map { (deal.id, $0.offset + 1, $0.element) } }
            if !lines.isEmpty {
                _ = try await connection.bulkWrite(PGBulkWrite(
                    table: "crm.deal_products",
                    columns: ["project_id", "connection_id", "deal_id", "line", "product_id", "name", "quantity", "price"],
                    mode: .insertNew(key: ["project_id", "connection_id", "deal_id", "line"]))) { writer in
                    for (deal, line, product) in lines {
                        for value: (any PGEncodable)? in [project, id, deal, line, product.productID, product.name, product.quantity, product.price] {
                            writer.field(value)
                        }
                        try writer.endRow()
                    }
                }
            }
        }
        for problem in page.problems {
            try await connection.query("""
                INSERT INTO crm.sync_errors (project_id, connection_id, deal_id, field, message) VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (project_id, connection_id, deal_id) DO UPDATE SET field = EXCLUDED.field, message = EXCLUDED.message, at = now()
                """, [project, id, problem.dealID, problem.field, String(problem.description.prefix(2000))])
        }
        try await write(contacts: contacts, on: connection)
        try await write(history, on: connection)
        return deals.map(\.id)
    }

    static let dealColumns = [
        "project_id", "connection_id", "deal_id", "crm", "name", "pipeline_id", "stage_id", "status", "created_at", "updated_at",
        "closed_at", "amount", "currency", "amounts_include_vat", "cost_field", "cost_of_goods", "paid_total", "manager_id", "products",
        "contact_ids", "visit_id", "request_id", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "tags",
        "loss_reason", "is_deleted", "deleted_at", "synced_at",
    ]

    /// The stored deals (not deleted, not in `except`) of stored contacts whose phones or
    /// e-mails `contacts` change: the identity resolver links a deal by its contacts' phones and
    /// e-mails (definition 8c), so each of those deals must be linked again, not only the deal
    /// whose page brought the contact. A contact new here has no other deal to announce (a deal
    /// is written with its contacts; one whose contact could not be read is read again with it
    /// by the next reconciliation), so a full sync asks nothing. Call before writing the contacts.
    public func dealsOfChangedContacts(_ contacts: [CRMContact], except: Set<String>, on connection: PGConnection) async throws -> [String] {
        guard !contacts.isEmpty else { return [] }
        // Each list joined with U+001F, which no normalised phone or e-mail holds.
        let separator = "\u{1F}"
        var stored: [String: (phones: String, emails: String)] = [:]
        for row in try await connection.query("""
            SELECT contact_id, array_to_string(phones, chr(31)), array_to_string(emails, chr(31)) FROM crm.contacts
            WHERE project_id = $1 AND connection_id = $2 AND contact_id = ANY($3::text[])
            """, [project, self.connection, contacts.map(\.id)]) {
            stored[try row.decode(String.self, 0)] = (try row.decode(String.self, 1), try row.decode(String.self, 2))
        }
        let changed = contacts.filter { contact in
            guard let old = stored[contact.id] else { return false }
            return old.phones != contact.phones.joined(separator: separator) || old.emails != contact.emails.joined(separator: separator)
        }.map(\.id)
        guard !changed.isEmpty else { return [] }
        // Through the GIN index on contact_ids: the project and connection are compared as
        // expressions (`|| ''`) so the planner cannot take the primary key's prefix instead and
        // filter every deal of the connection once a page (which made a full sync quadratic).
        return try await connection.query("""
            SELECT deal_id FROM crm.deals
            WHERE contact_ids && $3::text[] AND project_id || '' = $1 AND connection_id || '' = $2 AND NOT is_deleted ORDER BY deal_id
            """, [project, self.connection, changed]).map { try $0.decode(String.self, 0) }.filter { !except.contains($0) }
    }

    public func write(contacts: [CRMContact], on connection: PGConnection) async throws {
        guard !contacts.isEmpty else { return }
        let (project, id) = (project, self.connection)
        let now = Date()
        _ = try await connection.bulkWrite(PGBulkWrite(
            table: "crm.contacts", columns: ["project_id", "connection_id", "contact_id", "name", "phones", "emails", "synced_at"],
            mode: .upsert(key: ["project_id", "connection_id", "contact_id"], update: ["name", "phones", "emails", "synced_at"]))) { writer in
            for contact in contacts {
                for value: (any PGEncodable)? in [project, id, contact.id, contact.name, Self.array(contact.phones), Self.array(contact.emails), now] {
                    writer.field(value)
                }
                try writer.endRow()
            }
        }
    }

    /// Stage changes and payments; the payments of `replacesPaymentsOf` deals are replaced.
    public func write(_ history: CRMHistory, on connection: PGConnection) async throws {
        let (project, id) = (project, self.connection)
        if !history.replacesPaymentsOf.isEmpty {
            try await connection.query("""
                DELETE FROM crm.payments WHERE project_id = $1 AND connection_id = $2 AND origin = 'crm_payment' AND deal_id = ANY($3::text[])
                """, [project, id, Array(history.replacesPaymentsOf)])
        }
        let now = Date()
        if !history.stageChanges.isEmpty {
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "crm.stage_changes",
                columns: ["project_id", "connection_id", "change_id", "deal_id", "changed_at", "pipeline_id", "stage_id", "from_pipeline_id", "from_stage_id"],
                mode: .upsert(key: ["project_id", "connection_id", "change_id"],
                              update: ["deal_id", "changed_at", "pipeline_id", "stage_id", "from_pipeline_id", "from_stage_id"]))) { writer in
                for change in history.stageChanges {
                    for value: (any PGEncodable)? in [project, id, change.id, change.dealID, change.at, change.pipelineID, change.stageID,
                                                      change.fromPipelineID, change.fromStageID] { writer.field(value) }
                    try writer.endRow()
                }
            }
        }
        if !history.payments.isEmpty {
            _ = try await connection.bulkWrite(PGBulkWrite(
                table: "crm.payments",
                columns: ["project_id", "connection_id", "payment_id", "deal_id", "kind", "amount", "currency", "paid_at", "origin", "synced_at"],
                mode: .upsert(key: ["project_id", "connection_id", "payment_id"],
                              update: ["deal_id", "kind", "amount", "currency", "paid_at", "origin", "synced_at"]))) { writer in
                for payment in history.payments {
                    for value: (any PGEncodable)? in [project, id, payment.id, payment.dealID, payment.kind.rawValue, payment.amount,
                                                      payment.currency.isEmpty ? self.currency : payment.currency, payment.paidAt,
                                                      payment.origin.rawValue, now] { writer.field(value) }
                    try writer.endRow()
                }
            }
        }
    }

    /// Marks deals the CRM no longer has as deleted; returns the ones that were not already.
    public func markDeleted(_ ids: [String], on connection: PGConnection) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        // The deletion is a version of its own, one microsecond after the last one read: a page
        // read before it and committed after (the same CRM version, on another replica) is older
        // and cannot bring the deal back; a deal the CRM restores comes with a newer version.
        return try await connection.query("""
            UPDATE crm.deals SET is_deleted = true, deleted_at = now(), synced_at = now(), updated_at = updated_at + interval '1 microsecond'

            WHERE project_id = $1 AND connection_id = $2 AND deal_id = ANY($3::text[]) AND NOT is_deleted RETURNING deal_id
            """, [project, self.connection, ids]).map { try $0.decode(String.self, 0) }
    }

    // MARK: - sync state

    public struct SyncState: Sendable, Equatable {
        public var dealsWatermark: Date?
        public var eventsWatermark: Date?
        public var fullSyncDone: Bool
        public var reconciledAt: Date?
    }

    public func state(on connection: PGConnection) async throws -> SyncState {
        let rows = try await connection.query("""
            SELECT deals_watermark, events_watermark, full_sync_done_at IS NOT NULL, reconciled_at FROM crm.sync_state
            WHERE project_id = $1 AND connection_id = $2
            """, [project, self.connection])
        guard let row = rows.first else { return SyncState(dealsWatermark: nil, eventsWatermark: nil, fullSyncDone: false, reconciledAt: nil) }
        return SyncState(dealsWatermark: try row.decode(Date?.self, 0), eventsWatermark: try row.decode(Date?.self, 1),
                         fullSyncDone: try row.decode(Bool.self, 2), reconciledAt: try row.decode(Date?.self, 3))
    }

    /// Moves the watermarks forward (never back: a webhook or a slower replica cannot rewind them).
    public func advance(deals: Date? = nil, events: Date? = nil, fullSyncDone: Bool = false, reconciled: Bool = false,
                        on connection: PGConnection) async throws {
        try await connection.query("""
            INSERT INTO crm.sync_state (project_id, connection_id, deals_watermark, events_watermark, full_sync_done_at, reconciled_at)
            VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END, CASE WHEN $6 THEN now() END)
            ON CONFLICT (project_id, connection_id) DO UPDATE SET
                deals_watermark = GREATEST(crm.sync_state.deals_watermark, EXCLUDED.deals_watermark),
                events_watermark = GREATEST(crm.sync_state.events_watermark, EXCLUDED.events_watermark),
                full_sync_done_at = coalesce(crm.sync_state.full_sync_done_at, EXCLUDED.full_sync_done_at),
                reconciled_at = coalesce(EXCLUDED.reconciled_at, crm.sync_state.reconciled_at),
                updated_at = now()
            """, [project, self.connection, deals, events, fullSyncDone, reconciled])
    }
}
