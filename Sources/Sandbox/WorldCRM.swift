import Domain
import Foundation

/// The world's deals as the two CRMs hold them, for deal-sync to read from the fakes: amoCRM
/// leads with custom fields (request id, visit id, product, the paid total whose change events
/// are the payments) and Bitrix24 deals with `UF_CRM_*` fields and payment items (received and
/// expected). `crmOptions` are the connection options that read those fields.
extension World {
    public static let amoRequestField: Int64 = 700_121
    public static let amoVisitField: Int64 = 700_122
    public static let amoProductField: Int64 = 700_130

    /// Connection options (besides credentials and limits) under which deal-sync reads the
    /// world's fields: `amo` and `b24`, the connection ids the world's deals carry.
    public static let crmOptions: [String: [String: String]] = [
        "amo": ["request_id_field": String(amoRequestField), "visit_id_field": String(amoVisitField), "product_field_id": String(amoProductField),
                "paid_field_id": String(FakeAmoCRM.paidFieldID), "currency": "RUB"],
        "b24": ["request_id_field": "UF_CRM_REQUEST_ID", "visit_id_field": "UF_CRM_VISIT_ID", "product_field_id": "UF_CRM_PRODUCT"],
    ]

    /// Rubles with two places from kopecks ("-30000.00" for a refund).
    static func rubles(_ kopecks: Int64) -> String {
        let sign = kopecks < 0 ? "-" : ""
        let magnitude = abs(kopecks)
        return "\(sign)\(magnitude / 100).\(String(format: "%02d", magnitude % 100))"
    }

    static func seconds(_ micros: Int64) -> Int64 { micros / 1_000_000 }

    /// Loads the world's amoCRM deals (leads) and contacts; each received payment is a change
    /// of the paid-total field on the payment's time (a refund lowers it; an instalment not yet
    /// received has no event).
    public func load(into fake: FakeAmoCRM) {
        let deals = deals.filter { $0.crm == .amocrm }
        var contacts: [Int64: FakeAmoCRM.Contact] = [:]
        var leads: [FakeAmoCRM.Lead] = []
        for deal in deals {
            let contactID = Int64(deal.contact.id)!
            contacts[contactID] = FakeAmoCRM.Contact(id: contactID, name: deal.contact.name, phones: deal.contact.phones, emails: deal.contact.emails)
            let pipeline = Int64(deal.pipeline)!
            let stage: Int64 = switch deal.status {
            case "won": 142
            case "lost": 143
            default: pipeline == 3001 ? 41_002 : 42_001
            }
            var fields: [Int64: (code: String?, name: String, value: String)] = [Self.amoProductField: (nil, "Продукт", deal.product)]
            if let request = deal.requestID { fields[Self.amoRequestField] = (nil, "request_id", request) }
            if let visit = deal.visitID { fields[Self.amoVisitField] = (nil, "visit_id", visit) }
            let created = Self.seconds(deal.createdAt)
            leads.append(FakeAmoCRM.Lead(
                id: Int64(deal.id)!, name: "\(deal.product) — \(deal.contact.name)", price: deal.amount / 100, pipelineID: pipeline, statusID: stage,
                createdAt: created, updatedAt: deal.closedAt.map(Self.seconds) ?? created, closedAt: deal.closedAt.map(Self.seconds),
                fields: fields, contactIDs: [contactID]))
        }
        fake.load(leads, contacts: contacts.keys.sorted().map { contacts[$0]! })
        for deal in deals {
            var total: Int64 = 0
            for payment in deal.payments.filter(\.paid).sorted(by: { $0.at < $1.at }) {
                total += payment.amount
                fake.setPaid(Int64(deal.id)!, to: Self.rubles(total), at: Self.seconds(payment.at))
            }
        }
    }

    /// Loads the world's Bitrix24 deals, contacts and payment items (`paid` N: an instalment
    /// still expected).
    public func load(into fake: FakeBitrix24) {
        let deals = deals.filter { $0.crm == .bitrix24 }
        var contacts: [Int: (name: String, phones: [String], emails: [String])] = [:]
        var payments: [Int: [FakeBitrix24.Payment]] = [:]
        var paymentID = 500
        var list: [FakeBitrix24.Deal] = []
        for deal in deals {
            let id = Int(deal.id)!
            let contactID = Int(deal.contact.id)!
            contacts[contactID] = (deal.contact.name, deal.contact.phones, deal.contact.emails)
            var custom = ["UF_CRM_PRODUCT": deal.product]
            if let request = deal.requestID { custom["UF_CRM_REQUEST_ID"] = request }
            if let visit = deal.visitID { custom["UF_CRM_VISIT_ID"] = visit }
            let stage = deal.status == "won" ? "WON" : deal.status == "lost" ? "LOSE" : "EXECUTING"
            let created = Self.seconds(deal.createdAt)
            let modified = max(deal.closedAt.map(Self.seconds) ?? created, deal.payments.map { Self.seconds($0.at) }.max() ?? created)
            list.append(FakeBitrix24.Deal(
                id: id, title: "\(deal.product) — \(deal.contact.name)", categoryID: Int(deal.pipeline)!, stageID: stage,
                opportunity: Self.rubles(deal.amount), contactID: contactID, created: created, modified: modified,
                closed: deal.closedAt.map(Self.seconds), custom: custom))
            if !deal.payments.isEmpty {
                payments[id] = deal.payments.map { payment in
                    paymentID += 1
                    return FakeBitrix24.Payment(id: paymentID, paid: payment.paid, datePaid: payment.paid ? Self.seconds(payment.at) : nil,
                                                sum: Self.rubles(payment.amount))
                }
            }
        }
        fake.load(list, contacts: contacts, payments: payments)
    }
}
