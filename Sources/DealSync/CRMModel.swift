import Domain
import Foundation

/// Which CRM a connection talks to.
public enum CRMKind: String, Sendable, Codable { case amocrm, bitrix24 }

/// What the CRM itself says of a stage.
public enum CRMStageKind: String, Sendable, Codable { case unsorted, regular, won, lost }

/// A deal's analytics status (domain.md definition 9).
public enum DealStatus: String, Sendable, Codable, CaseIterable { case open, won, lost, excluded, unknown }

public struct CRMPipeline: Sendable, Equatable {
    public var id: String
    public var name: String
    public var sort: Int
    public var isArchive: Bool
    public var stages: [CRMStage]
    public init(id: String, name: String, sort: Int, isArchive: Bool = false, stages: [CRMStage]) {
        self.id = id
        self.name = name
        self.sort = sort
        self.isArchive = isArchive
        self.stages = stages
    }
}

public struct CRMStage: Sendable, Equatable {
    public var id: String
    public var name: String
    public var sort: Int
    public var kind: CRMStageKind
    public init(id: String, name: String, sort: Int, kind: CRMStageKind) {
        self.id = id
        self.name = name
        self.sort = sort
        self.kind = kind
    }
}

public struct CRMUser: Sendable, Equatable {
    public var id: String
    public var name: String
    public var email: String?
    public init(id: String, name: String, email: String?) {
        self.id = id
        self.name = name
        self.email = email
    }
}

public struct CRMContact: Sendable, Equatable {
    public var id: String
    public var name: String?
    /// E.164, normalised (definition 7); numbers that are no phone are dropped.
    public var phones: [String]
    /// Trimmed, lower-cased.
    public var emails: [String]
    public init(id: String, name: String?, phones: [String], emails: [String]) {
        self.id = id
        self.name = name
        self.phones = phones
        self.emails = emails
    }
}

/// The pipelines, stages and managers of a connection.
public struct CRMCatalog: Sendable, Equatable {
    public var pipelines: [CRMPipeline]
    public var users: [CRMUser]
    public init(pipelines: [CRMPipeline], users: [CRMUser]) {
        self.pipelines = pipelines
        self.users = users
    }

    /// The CRM's own class of a stage; nil when no pipeline has it.
    public func kind(pipeline: String, stage: String) -> CRMStageKind? {
        pipelines.first { $0.id == pipeline }?.stages.first { $0.id == stage }?.kind
    }
}

/// A product line of a deal.
public struct CRMProductLine: Sendable, Equatable {
    public var productID: String
    public var name: String
    public var quantity: Decimal
    public var price: Decimal?
    public init(productID: String, name: String, quantity: Decimal, price: Decimal?) {
        self.productID = productID
        self.name = name
        self.quantity = quantity
        self.price = price
    }
}

/// One deal as both CRMs are read into it. Amounts are exact decimals as entered, in `currency`.
public struct CRMDeal: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var pipelineID: String
    public var stageID: String
    public var createdAt: Date
    public var updatedAt: Date
    public var closedAt: Date?
    public var amount: Decimal
    public var currency: String
    public var costField: Decimal?
    public var paidTotal: Decimal?
    public var managerID: String?
    public var products: [String]
    public var contactIDs: [String]
    public var visitID: String?
    public var requestID: String?
    public var utm: [String: String]
    public var tags: [String]
    public var lossReason: String?
    /// Product lines (catalog elements, product rows); `products` names them when the CRM has them.
    public var lines: [CRMProductLine] = []
    /// The stage's kind as the deal itself states it (Bitrix24's `STAGE_SEMANTIC_ID`: S, F, P),
    /// for a stage the stored catalog does not list yet.
    public var stageKind: CRMStageKind?

    public init(
        id: String, name: String? = nil, pipelineID: String, stageID: String, createdAt: Date, updatedAt: Date, closedAt: Date? = nil,
        amount: Decimal, currency: String, costField: Decimal? = nil, paidTotal: Decimal? = nil, managerID: String? = nil,
        products: [String] = [], contactIDs: [String] = [], visitID: String? = nil, requestID: String? = nil,
        utm: [String: String] = [:], tags: [String] = [], lossReason: String? = nil
    ) {
        self.id = id
        self.name = name
        self.pipelineID = pipelineID
        self.stageID = stageID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.closedAt = closedAt
        self.amount = amount
        self.currency = currency
        self.costField = costField
        self.paidTotal = paidTotal
        self.managerID = managerID
        self.products = products
        self.contactIDs = contactIDs
        self.visitID = visitID
        self.requestID = requestID
        self.utm = utm
        self.tags = tags
        self.lossReason = lossReason
    }
}

/// A stage change of a deal.
public struct CRMStageChange: Sendable, Equatable {
    public var id: String
    public var dealID: String
    public var at: Date
    public var pipelineID: String
    public var stageID: String
    public var fromPipelineID: String?
    public var fromStageID: String?
    public init(id: String, dealID: String, at: Date, pipelineID: String, stageID: String, fromPipelineID: String?, fromStageID: String?) {
        self.id = id
        self.dealID = dealID
        self.at = at
        self.pipelineID = pipelineID
        self.stageID = stageID
        self.fromPipelineID = fromPipelineID
        self.fromStageID = fromStageID
    }
}

/// A payment as the CRM records it.
public struct CRMPayment: Sendable, Equatable {
    public enum Kind: String, Sendable { case received, expected }
    public enum Origin: String, Sendable { case fieldEvent = "field_event", crmPayment = "crm_payment", csv }
    public var id: String
    public var dealID: String
    public var kind: Kind
    public var amount: Decimal
    public var currency: String
    public var paidAt: Date?
    public var origin: Origin
    public init(id: String, dealID: String, kind: Kind, amount: Decimal, currency: String, paidAt: Date?, origin: Origin) {
        self.id = id
        self.dealID = dealID
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.paidAt = paidAt
        self.origin = origin
    }
}

/// A deal the CRM answered but that cannot be taken: names the CRM, deal and field.
public struct DealProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var crm: CRMKind
    public var dealID: String
    public var field: String
    public var message: String
    public init(crm: CRMKind, dealID: String, field: String, message: String) {
        self.crm = crm
        self.dealID = dealID
        self.field = field
        self.message = message
    }
    public var description: String { "\(crm.rawValue) deal \(dealID): \(field): \(message)" }
}
