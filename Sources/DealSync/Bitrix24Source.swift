import Bitrix24
import Domain
import Foundation

/// Bitrix24 as a `CRMSource`: `crm.deal.list` deals (the fast `start=-1` mode with an `>ID`
/// filter for the full sync, `DATE_MODIFY` order for the incremental one), categories and
/// stages with their semantics, users, contacts' PHONE/EMAIL multi-fields, payment items
/// (`crm.item.payment.list`, received and expected) and stage history
/// (`crm.stagehistory.list`), batched 50 calls a request.
public struct Bitrix24Source: CRMSource {
    /// Which `UF_CRM_*` fields carry what (options `visit_id_field`, `request_id_field`,
    /// `cost_field_id`, `product_field_id`).
    public struct Fields: Sendable, Equatable {
        public var visitID: String?
        public var requestID: String?
        public var costOfGoods: String?
        public var product: String?
        public init(visitID: String? = nil, requestID: String? = nil, costOfGoods: String? = nil, product: String? = nil) {
            self.visitID = visitID
            self.requestID = requestID
            self.costOfGoods = costOfGoods
            self.product = product
        }
        public init(options: [String: String]) {
            self.init(visitID: options["visit_id_field"], requestID: options["request_id_field"], costOfGoods: options["cost_field_id"],
                      product: options["product_field_id"])
        }
        var custom: [String] { [visitID, requestID, costOfGoods, product].compactMap { $0 } }
    }

    public let kind = CRMKind.bitrix24
    public let readsHistoryPerDeal = true
    let client: Bitrix24Client
    let fields: Fields
    /// Whether to read payment items (`payments: off` when the portal keeps none).
    let readsPayments: Bool
    /// Whether to read product rows (`product_rows: off` when deals carry none).
    let readsProductRows: Bool

    public init(client: Bitrix24Client, fields: Fields, readsPayments: Bool = true, readsProductRows: Bool = true) {
        self.client = client
        self.fields = fields
        self.readsPayments = readsPayments
        self.readsProductRows = readsProductRows
    }

    /// Fills the deals' product lines from `crm.deal.productrows.get`, 50 deals a batch. A deal
    /// whose rows cannot be read is a problem of its own (its stored version stays); the page
    /// goes on.
    func withProducts(_ page: CRMDealPage) async throws -> CRMDealPage {
        guard readsProductRows, !page.deals.isEmpty else { return page }
        var result = page
        var unreadable: [String: String] = [:]
        for start in stride(from: 0, to: result.deals.count, by: 50) {
            let range = start..<min(result.deals.count, start + 50)
            let batch = try await client.batch(result.deals[range].map { ("r\($0.id)", "crm.deal.productrows.get?id=\($0.id)") })
            let answers = batch.results
            for index in range {
                if let failure = batch.failures["r\(result.deals[index].id)"] { unreadable[result.deals[index].id] = failure }
                let rows = answers["r\(result.deals[index].id)"]?.array ?? []
                guard !rows.isEmpty else { continue }
                result.deals[index].lines = rows.map { row in
                    CRMProductLine(productID: row["PRODUCT_ID"]?.text ?? "", name: row["PRODUCT_NAME"]?.text ?? row["PRODUCT_ID"]?.text ?? "",
                                   quantity: row["QUANTITY"]?.text.flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) } ?? 1,
                                   price: row["PRICE"]?.text.flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) })
                }
                result.deals[index].products = result.deals[index].lines.map(\.name)
            }
        }
        for (deal, failure) in unreadable.sorted(by: { $0.key < $1.key }) {
            result.problems.append(DealProblem(crm: .bitrix24, dealID: deal, field: "product rows", message: "crm.deal.productrows.get: \(failure)"))
        }
        result.deals.removeAll { unreadable[$0.id] != nil }
        return result
    }

    static let utmFields = ["UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"]
    var select: [String] {
        ["ID", "TITLE", "STAGE_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID", "ASSIGNED_BY_ID", "CONTACT_ID", "DATE_CREATE", "DATE_MODIFY",
         "CLOSEDATE", "CLOSED", "STAGE_SEMANTIC_ID"] + Self.utmFields + fields.custom
    }

    // MARK: - CRMSource

    public func catalog() async throws -> CRMCatalog {
        let categories = try await client.call("crm.category.list", body: try Bitrix24Client.json(["entityTypeId": 2]))
        var pipelines: [String: CRMPipeline] = ["0": CRMPipeline(id: "0", name: "", sort: 0, stages: [])]
        for category in categories.result["categories"]?.array ?? [] {
            guard let id = category["id"]?.text else { continue }
            pipelines[id] = CRMPipeline(id: id, name: category["name"]?.text ?? "", sort: Int(category["sort"]?.text ?? "") ?? 0, stages: [])
        }
        for status in try await all("crm.status.list", ["order": ["SORT": "ASC"]]) {
            guard let entity = status["ENTITY_ID"]?.text, entity == "DEAL_STAGE" || entity.hasPrefix("DEAL_STAGE_"),
                  let stage = status["STATUS_ID"]?.text else { continue }
            let category = entity == "DEAL_STAGE" ? "0" : String(entity.dropFirst("DEAL_STAGE_".count))
            let semantics = status["SEMANTICS"]?.text ?? status["EXTRA"]?["SEMANTICS"]?.text
            let kind: CRMStageKind = semantics == "S" || semantics == "success" ? .won : semantics == "F" || semantics == "failure" ? .lost : .regular
            pipelines[category, default: CRMPipeline(id: category, name: "", sort: 0, stages: [])].stages.append(
                CRMStage(id: stage, name: status["NAME"]?.text ?? "", sort: Int(status["SORT"]?.text ?? "") ?? 0, kind: kind))
        }
        let users = try await all("user.get", [:]).compactMap { user -> CRMUser? in
            guard let id = user["ID"]?.text else { return nil }
            let name = [user["NAME"]?.text, user["LAST_NAME"]?.text].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return CRMUser(id: id, name: name, email: user["EMAIL"]?.text.flatMap { $0.isEmpty ? nil : $0 })
        }
        return CRMCatalog(pipelines: pipelines.values.filter { !$0.stages.isEmpty }.sorted { $0.id < $1.id }, users: users)
    }

    /// Every page of a list method (50 a page, following `next`).
    private func all(_ method: String, _ parameters: [String: Any]) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var start = 0
        while true {
            var parameters = parameters
            parameters["start"] = start
            let answer = try await client.call(method, body: try Bitrix24Client.json(parameters))
            items += try answer.rows(of: method)
            guard let next = answer.next, next > start else { return items }
            start = next
        }
    }

    /// Both passes in ID order, keyed by the last ID seen (`>ID`, the fast mode without a count):
    /// a deal edited during the pass keeps its place, so none slides past the pages (offsets
    /// over `DATE_MODIFY` order shifted when a deal changed mid-pass). The incremental pass adds
    /// `>=DATE_MODIFY`; its set only grows while it pages.
    public func changedDeals(since: Date?, _ body: (CRMDealPage) async throws -> Void) async throws {
        var last = "0"
        while true {
            var filter: [String: Any] = [">ID": last]
            if let since { filter[">=DATE_MODIFY"] = Self.format(since) }
            let answer = try await client.call("crm.deal.list", body: try Bitrix24Client.json([
                "select": select, "filter": filter, "order": ["ID": "ASC"], "start": -1,
            ]))
            let rows = try answer.rows(of: "crm.deal.list")
            guard !rows.isEmpty else { return }
            try await body(try await withProducts(deals(rows)))
            guard let id = rows.last?["ID"]?.text, rows.count >= 50 else { return }
            last = id
        }
    }

    /// Passes are in ID order: the watermark advances when a pass is done (to its newest change,
    /// never past the pass's start).
    public let pagesInModificationOrder = false

    public func deals(ids: [String]) async throws -> CRMDealPage {
        var page = CRMDealPage(deals: [], problems: [])
        for start in stride(from: 0, to: ids.count, by: 50) {
            let slice = Array(ids[start..<min(ids.count, start + 50)])
            let answer = try await client.call("crm.deal.list", body: try Bitrix24Client.json([
                "select": select, "filter": ["@ID": slice], "order": ["ID": "ASC"], "start": -1,
            ]))
            let part = deals(try answer.rows(of: "crm.deal.list"))
            page.deals += part.deals
            page.problems += part.problems
        }
        return try await withProducts(page)
    }

    public func contacts(ids: [String]) async throws -> [CRMContact] {
        var contacts: [CRMContact] = []
        for start in stride(from: 0, to: ids.count, by: 50) {
            let slice = ids[start..<min(ids.count, start + 50)]
            // A contact the webhook's user may not read is left out (the deal still syncs, without
            // that contact's phones and e-mails); the others are read.
            let results = try await client.batch(slice.map { ("c\($0)", "crm.contact.get?id=\($0)") }).results
            for id in slice {
                guard let contact = results["c\(id)"] else { continue }
                let phones = (contact["PHONE"]?.array ?? []).compactMap { $0["VALUE"]?.text }.compactMap(ContactNormalization.phone)
                let emails = (contact["EMAIL"]?.array ?? []).compactMap { $0["VALUE"]?.text }.compactMap(ContactNormalization.email)
                let name = [contact["NAME"]?.text, contact["LAST_NAME"]?.text].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
                contacts.append(CRMContact(id: id, name: name.isEmpty ? nil : name, phones: Self.unique(phones), emails: Self.unique(emails)))
            }
        }
        return contacts
    }

    static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Payment items of the deals: `paid = Y` received on `datePaid`, `N` expected.
    public func history(of deals: [CRMDeal]) async throws -> CRMHistory {
        guard readsPayments else { return CRMHistory() }
        var history = CRMHistory(replacesPaymentsOf: Set(deals.map(\.id)))
        let currencies = Dictionary(deals.map { ($0.id, $0.currency) }, uniquingKeysWith: { first, _ in first })
        let ids = deals.map(\.id)
        for start in stride(from: 0, to: ids.count, by: 50) {
            let slice = ids[start..<min(ids.count, start + 50)]
            let batch = try await client.batch(slice.map { ("p\($0)", "crm.item.payment.list?entityId=\($0)&entityTypeId=2") })
            for deal in slice {
                // Payments that cannot be read leave the deal's stored payments as they are.
                if let failure = batch.failures["p\(deal)"] {
                    history.replacesPaymentsOf.remove(deal)
                    history.unreadable.append("deal \(deal): crm.item.payment.list: \(failure); its stored payments are kept")
                    continue
                }
                var payments: [CRMPayment] = []
                for item in batch.results["p\(deal)"]?.array ?? [] {
                    guard let id = item["id"]?.text, let sum = item["sum"]?.text.flatMap({ Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) }) else {
                        history.replacesPaymentsOf.remove(deal)
                        history.unreadable.append("deal \(deal): a payment item without id or sum; its stored payments are kept")
                        payments = []
                        break
                    }
                    let received = item["paid"]?.text == "Y"
                    let paidAt = item["datePaid"]?.text.flatMap(Self.date)
                    payments.append(CRMPayment(
                        id: "payment-\(id)", dealID: deal, kind: received ? .received : .expected, amount: sum,
                        currency: item["currency"]?.text ?? currencies[deal] ?? "", paidAt: received ? paidAt : nil, origin: .crmPayment))
                }
                history.payments += payments
            }
        }
        return history
    }

    /// Stage moves recorded since `since` (`crm.stagehistory.list`, deals).
    public func recentHistory(since: Date?, _ body: (CRMHistory, Date?) async throws -> Void) async throws {
        var start = 0
        var filter: [String: Any] = [:]
        if let since { filter[">=CREATED_TIME"] = Self.format(since) }
        while true {
            let answer = try await client.call("crm.stagehistory.list", body: try Bitrix24Client.json([
                "entityTypeId": 2, "order": ["ID": "ASC"], "filter": filter, "start": start,
            ]))
            let items = answer.result["items"]?.array ?? []
            var history = CRMHistory()
            var newest: Date?
            for item in items {
                guard let id = item["ID"]?.text, let deal = item["OWNER_ID"]?.text, let stage = item["STAGE_ID"]?.text,
                      let at = item["CREATED_TIME"]?.text.flatMap(Self.date) else { continue }
                newest = max(newest ?? at, at)
                history.stageChanges.append(CRMStageChange(id: "stage-\(id)", dealID: deal, at: at, pipelineID: item["CATEGORY_ID"]?.text ?? "0",
                                                           stageID: stage, fromPipelineID: nil, fromStageID: nil))
            }
            if !items.isEmpty { try await body(history, newest) }
            guard let next = answer.next, next > start else { return }
            start = next
        }
    }

    // MARK: - mapping

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date).replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// `2026-03-01T10:15:00+03:00` (RFC 3339 with its offset, as Bitrix24 sends dates).
    static func date(_ text: String) -> Date? { Timestamp.parse(text) }

    func deals(_ rows: [JSONValue]) -> CRMDealPage {
        var page = CRMDealPage(deals: [], problems: [])
        for row in rows {
            let id = row["ID"]?.text ?? "?"
            do { page.deals.append(try deal(row, id: id)) } catch let problem as DealProblem { page.problems.append(problem) } catch {
                page.problems.append(DealProblem(crm: .bitrix24, dealID: id, field: "deal", message: "\(error)"))
            }
        }
        return page
    }

    func deal(_ row: JSONValue, id: String) throws -> CRMDeal {
        func problem(_ field: String) -> DealProblem {
            DealProblem(crm: .bitrix24, dealID: id, field: field, message: "\(row[field]?.shown ?? "missing") is not valid")
        }
        func date(_ field: String, required: Bool) throws -> Date? {
            guard let text = row[field]?.text, !text.isEmpty else {
                if required { throw problem(field) }
                return nil
            }
            guard let date = Self.date(text) else { throw problem(field) }
            return date
        }
        func decimal(_ field: String?) throws -> Decimal? {
            guard let field, let text = row[field]?.text, !text.isEmpty else { return nil }
            guard text.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }),
                  let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else { throw problem(field) }
            return value
        }
        func text(_ field: String?) -> String? { field.flatMap { row[$0]?.text }.flatMap { $0.isEmpty ? nil : $0 } }
        // An ISO 4217 code (portals send "RUB"; a lower-case one is read as its code).
        func currency() throws -> String {
            guard let code = text("CURRENCY_ID")?.uppercased(), code.count == 3, code.allSatisfy({ $0.isASCII && $0.isLetter }) else {
                throw problem("CURRENCY_ID")
            }
            return code
        }
        guard id.allSatisfy(\.isNumber), !id.isEmpty else { throw problem("ID") }
        guard let stage = text("STAGE_ID") else { throw problem("STAGE_ID") }
        var utm: [String: String] = [:]
        for field in Self.utmFields { if let value = text(field) { utm[field.lowercased()] = value } }
        let products: [String]
        if let field = fields.product, let values = row[field]?.array { products = values.compactMap(\.text) } else { products = text(fields.product).map { [$0] } ?? [] }
        var deal = CRMDeal(
            id: id, name: text("TITLE"), pipelineID: text("CATEGORY_ID") ?? "0", stageID: stage,
            createdAt: try date("DATE_CREATE", required: true)!, updatedAt: try date("DATE_MODIFY", required: true)!,
            closedAt: text("CLOSED") == "Y" ? try date("CLOSEDATE", required: false) : nil,
            amount: try decimal("OPPORTUNITY") ?? 0, currency: try currency(),
            costField: try decimal(fields.costOfGoods), paidTotal: nil, managerID: text("ASSIGNED_BY_ID"), products: products,
            contactIDs: text("CONTACT_ID").map { [$0] } ?? [], visitID: text(fields.visitID), requestID: text(fields.requestID), utm: utm)
        // Definition 9: S / F / P → won / lost / open, for a stage the catalog does not list yet
        // (a webhook's deal in a stage created since the catalog was read).
        deal.stageKind = switch text("STAGE_SEMANTIC_ID") { case "S": .won; case "F": .lost; case "P": .regular; default: nil }
        return deal
    }
}
