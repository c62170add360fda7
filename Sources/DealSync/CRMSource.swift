import Foundation

/// A page of deals read from a CRM, with the deals that could not be taken.
public struct CRMDealPage: Sendable {
    public var deals: [CRMDeal]
    public var problems: [DealProblem]
    public init(deals: [CRMDeal], problems: [DealProblem]) {
        self.deals = deals
        self.problems = problems
    }
}

/// What a page of deals brings besides the deals: their stage changes and payments.
public struct CRMHistory: Sendable {
    public var stageChanges: [CRMStageChange]
    public var payments: [CRMPayment]
    /// Deals whose CRM-recorded payments are replaced by `payments` (Bitrix24 payment items can
    /// be deleted); amoCRM's change events are only ever added.
    public var replacesPaymentsOf: Set<String>
    /// Events that could not be read (what is wrong, naming the event and its deal): skipped,
    /// and logged by the engine.
    public var unreadable: [String] = []
    public init(stageChanges: [CRMStageChange] = [], payments: [CRMPayment] = [], replacesPaymentsOf: Set<String> = []) {
        self.stageChanges = stageChanges
        self.payments = payments
        self.replacesPaymentsOf = replacesPaymentsOf
    }
}

/// A CRM as deal-sync uses it. Implementations speak one CRM's API; the engine does the rest.
public protocol CRMSource: Sendable {
    var kind: CRMKind { get }
    /// Pipelines, stages and managers.
    func catalog() async throws -> CRMCatalog
    /// Deals modified at or after `since` (nil: every deal), oldest change first, page by page.
    /// The engine commits each page before asking for the next.
    func changedDeals(since: Date?, _ body: (CRMDealPage) async throws -> Void) async throws
    /// The deals with these ids; the ones the CRM no longer has are absent.
    func deals(ids: [String]) async throws -> CRMDealPage
    /// The contacts with these ids.
    func contacts(ids: [String]) async throws -> [CRMContact]
    /// Whether `changedDeals(since:)` hands pages over oldest change first, so the watermark may
    /// advance with every page (otherwise it advances when the whole pass is done).
    var pagesInModificationOrder: Bool { get }
    /// Whether every page of deals needs `history(of:)` (Bitrix24 reads history per deal);
    /// otherwise it comes from `recentHistory` and `history(of:)` serves single deals (webhooks).
    var readsHistoryPerDeal: Bool { get }
    /// Stage changes and payments of `deals`.
    func history(of deals: [CRMDeal]) async throws -> CRMHistory
    /// Stage changes and payments recorded at or after `since` for any deal, page by page, each
    /// with the time of its newest record (amoCRM's events). Sources that read history per deal
    /// return at once.
    func recentHistory(since: Date?, _ body: (CRMHistory, Date?) async throws -> Void) async throws
}
