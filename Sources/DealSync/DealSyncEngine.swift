import Domain
import Foundation
import Logging
import Postgres
import Runtime

/// Syncs one CRM connection: the catalog, the incremental poll by modification time (the first
/// one is the full sync), the recent history, webhook-announced deals, and the reconciliation
/// that finds deleted and moved deals. Each page commits in one transaction together with its
/// `deal.changed` event and the watermark it reached, so a process killed at any instant resumes
/// from the last committed page and writes nothing twice.
public struct DealSyncEngine: Sendable {
    public let source: any CRMSource
    public let store: DealStore
    public let pool: PGPool
    public let logger: Logger
    /// Seconds re-read before the watermark, so changes committed in the CRM while the previous
    /// poll ran are not missed at the boundary.
    public var overlapSeconds: Double

    public init(source: any CRMSource, store: DealStore, pool: PGPool, logger: Logger, overlapSeconds: Double = 300) {
        self.source = source
        self.store = store
        self.pool = pool
        self.logger = logger
        self.overlapSeconds = overlapSeconds
    }

    public struct Outcome: Sendable, Equatable {
        public var written = 0
        public var problems: [DealProblem] = []
        public var deleted = 0
        public var pages = 0
        /// The catalog read again during the pass, because a deal sat in a stage it did not list
        /// (a stage created in the CRM since): callers keep it for the next passes.
        public var catalog: CRMCatalog?
        public init() {}
    }

    /// Reads and stores pipelines, stages and managers.
    @discardableResult
    public func syncCatalog() async throws -> CRMCatalog {
        let catalog = try await source.catalog()
        try await pool.withTransaction { try await store.write(catalog, on: $0) }
        return catalog
    }

    /// One incremental poll: deals changed since the watermark (every deal the first time), then
    /// the history recorded since its own watermark.
    public func poll(catalog: CRMCatalog) async throws -> Outcome {
        let state = try await pool.withConnection { try await store.state(on: $0) }
        var outcome = Outcome()
        var catalog = catalog
        let since = state.dealsWatermark.map { $0.addingTimeInterval(-overlapSeconds) }
        let perPage = source.pagesInModificationOrder
        // A pass not in modification order may read a deal before a manager changes it: its
        // watermark never passes the pass's start, so the next pass (from the watermark less the
        // overlap) reads that change.
        let passStart = Date()
        var newest: Date?
        try await source.changedDeals(since: since) { page in
            newest = max(newest ?? .distantPast, page.deals.map(\.updatedAt).max() ?? .distantPast)
            try await write(page, catalog: &catalog, outcome: &outcome, advanceWatermark: perPage)
        }
        if !perPage, let newest, newest > .distantPast {
            // The pass is complete: only now is every change up to its newest one read.
            try await pool.withTransaction { try await store.advance(deals: min(newest, passStart), on: $0) }
        }
        if !state.fullSyncDone {
            try await pool.withTransaction { try await store.advance(fullSyncDone: true, on: $0) }
            logger.info("full sync done", metadata: ["crm.connection": "\(store.connection)", "deals": "\(outcome.written)"])
        }
        try await syncRecentHistory(since: state.eventsWatermark.map { $0.addingTimeInterval(-overlapSeconds) })
        return outcome
    }

    /// Reads every deal again (pipeline moves and any change a poll could miss are written) and
    /// marks the stored deals the CRM no longer has as deleted.
    public func reconcile(catalog: CRMCatalog) async throws -> Outcome {
        var outcome = Outcome()
        var catalog = catalog
        var seen = Set<String>()
        try await source.changedDeals(since: nil) { page in
            for deal in page.deals { seen.insert(deal.id) }
            for problem in page.problems { seen.insert(problem.dealID) }
            try await write(page, catalog: &catalog, outcome: &outcome, advanceWatermark: source.pagesInModificationOrder)
        }
        let stored = try await pool.query(
            "SELECT deal_id FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND NOT is_deleted",
            [store.project, store.connection]).map { try $0.decode(String.self, 0) }
        // Missing from the listing is not yet gone: a list the CRM pages while managers work can
        // miss a deal. Each one is asked for by id; only those the CRM does not return are
        // marked deleted (and those it returns are written).
        let missing = stored.filter { !seen.contains($0) }
        let current = catalog
        for start in stride(from: 0, to: missing.count, by: 250) {
            let ids = Array(missing[start..<min(missing.count, start + 250)])
            let checked = try await pool.withTransaction { try await self.syncDeals(ids: ids, catalog: current, on: $0) }
            outcome.deleted += checked.deleted
            outcome.written += checked.written
            outcome.problems += checked.problems
        }
        try await pool.withTransaction { try await store.advance(reconciled: true, on: $0) }
        if outcome.deleted > 0 { logger.info("deals deleted in the CRM", metadata: ["crm.connection": "\(store.connection)", "count": "\(outcome.deleted)"]) }
        return outcome
    }

    /// Syncs the deals a webhook announced, on `connection` (inside the caller's transaction):
    /// fetched now, their contacts and history too; the ones the CRM no longer has are marked
    /// deleted.
    public func syncDeals(ids: [String], catalog: CRMCatalog, on connection: PGConnection) async throws -> Outcome {
        var outcome = Outcome()
        let page = try await source.deals(ids: ids)
        let contacts = try await source.contacts(ids: Array(Set(page.deals.flatMap(\.contactIDs))).sorted())
        let history = try await source.history(of: page.deals)
        warnUnreadable(history)
        let sharing = try await store.dealsOfChangedContacts(contacts, except: Set(ids), on: connection)
        let written = try await store.write(page, contacts: contacts, history: history, catalog: catalog, on: connection)
        try await enqueueChanged(sharing, on: connection)
        let present = Set(page.deals.map(\.id)).union(page.problems.map(\.dealID))
        let deleted = try await store.markDeleted(ids.filter { !present.contains($0) }, on: connection)
        try await enqueueChanged(written + deleted, on: connection)
        outcome.written = written.count
        outcome.problems = page.problems
        outcome.deleted = deleted.count
        return outcome
    }

    // MARK: - steps

    private func write(_ page: CRMDealPage, catalog: inout CRMCatalog, outcome: inout Outcome, advanceWatermark: Bool) async throws {
        // A stage the catalog does not list is most likely new in the CRM: read the catalog again
        // (once a pass) rather than store its deals as `unknown` until they change again.
        let current = catalog
        if outcome.catalog == nil, page.deals.contains(where: { current.kind(pipeline: $0.pipelineID, stage: $0.stageID) == nil }) {
            catalog = try await syncCatalog()
            outcome.catalog = catalog
        }
        let contacts = try await source.contacts(ids: Array(Set(page.deals.flatMap(\.contactIDs))).sorted())
        let history = source.readsHistoryPerDeal ? try await source.history(of: page.deals) : CRMHistory()
        let newest = page.deals.map(\.updatedAt).max()
        let catalog = catalog
        try await pool.withTransaction { connection in
            let sharing = try await store.dealsOfChangedContacts(contacts, except: Set(page.deals.map(\.id)), on: connection)
            let written = try await store.write(page, contacts: contacts, history: history, catalog: catalog, on: connection)
            try await enqueueChanged(written + sharing, on: connection)
            if advanceWatermark, let newest { try await store.advance(deals: newest, on: connection) }
        }
        for problem in page.problems {
            logger.warning("deal not taken", metadata: ["crm.connection": "\(store.connection)", "error": "\(problem)"])
        }
        warnUnreadable(history)
        outcome.written += page.deals.count
        outcome.problems += page.problems
        outcome.pages += 1
    }

    private func syncRecentHistory(since: Date?) async throws {
        try await source.recentHistory(since: since) { history, newest in
            warnUnreadable(history)
            try await pool.withTransaction { connection in
                try await store.write(history, on: connection)
                let affected = Array(Set(history.payments.map(\.dealID) + history.stageChanges.map(\.dealID))).sorted()
                try await enqueueChanged(affected, on: connection)
                if let newest { try await store.advance(events: newest, on: connection) }
            }
        }
    }

    /// Logs what a source could not read of the history (skipped; the rest is written).
    private func warnUnreadable(_ history: CRMHistory) {
        for problem in history.unreadable {
            logger.warning("history not taken", metadata: ["crm.connection": "\(store.connection)", "error": "\(problem)"])
        }
    }

    /// `deal.changed` for these deals, in the transaction that wrote them (published by the
    /// outbox relay after commit).
    private func enqueueChanged(_ ids: [String], on connection: PGConnection) async throws {
        try await Self.enqueueChanged(ids, store: store, on: connection)
    }

    static func enqueueChanged(_ ids: [String], store: DealStore, on connection: PGConnection) async throws {
        guard !ids.isEmpty else { return }
        struct Payload: Encodable { let connection: String; let crm: String; let deals: [String] }
        var messages: [OutboxMessage] = []
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let slice = Array(ids[start..<min(ids.count, start + 1000)])
            let key = "\(store.connection)|\(slice.joined(separator: ","))|\(Date().timeIntervalSince1970)"
            messages.append(try OutboxMessage(
                exchange: ClusterTopology.exchange, routingKey: ClusterTopology.dealChanged, type: ClusterTopology.dealChanged,
                project: store.project, id: "deal.changed:\(store.project):\(FNV1a.hex(key))",
                payload: Payload(connection: store.connection, crm: store.crm.rawValue, deals: slice)))
        }
        try await Outbox.enqueue(messages, on: connection)
    }
}
