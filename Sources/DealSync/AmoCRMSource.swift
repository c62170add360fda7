import AmoCRM
import Domain
import Foundation

/// amoCRM as a `CRMSource`: leads become deals, `lead_status_changed` events stage changes, and
/// change events of the configured "paid total" field payments (domain.md definition 10).
public struct AmoCRMSource: CRMSource {
    /// Which custom fields carry what. A field is found by its id (digits), else by its code,
    /// else by its name (case-insensitive).
    public struct Fields: Sendable, Equatable {
        public var visitID: [String]
        public var requestID: [String]
        public var paidTotal: String?
        public var costOfGoods: String?
        public var product: String?
        public var utm: [String: [String]]

        public init(visitID: [String] = ["ROISTAT", "roistat"], requestID: [String] = ["REQUEST_ID", "request_id"],
                    paidTotal: String? = nil, costOfGoods: String? = nil, product: String? = nil) {
            self.visitID = visitID
            self.requestID = requestID
            self.paidTotal = paidTotal
            self.costOfGoods = costOfGoods
            self.product = product
            utm = Dictionary(uniqueKeysWithValues: ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"].map { ($0, [$0.uppercased()]) })
        }

        /// From a connection's options: `visit_id_field`, `request_id_field`, `paid_field_id`,
        /// `cost_field_id`, `product_field_id`, `utm_source_field` … `utm_term_field`.
        public init(options: [String: String]) {
            self.init(paidTotal: options["paid_field_id"], costOfGoods: options["cost_field_id"], product: options["product_field_id"])
            if let field = options["visit_id_field"] { visitID = [field] }
            if let field = options["request_id_field"] { requestID = [field] }
            for key in utm.keys { if let field = options["\(key)_field"] { utm[key] = [field] } }
        }
    }

    public let kind = CRMKind.amocrm
    public let readsHistoryPerDeal = false
    public let pagesInModificationOrder = true
    let client: AmoCRMClient
    let fields: Fields
    /// The connection's currency: amoCRM prices carry none.
    let currency: String

    public init(client: AmoCRMClient, fields: Fields, currency: String) {
        self.client = client
        self.fields = fields
        self.currency = currency
    }

    // MARK: - CRMSource

    public func catalog() async throws -> CRMCatalog {
        let pipelines = try await client.pipelines().map { pipeline -> CRMPipeline in
            let id = pipeline["id"]?.text ?? ""
            let stages = (pipeline["_embedded"]?["statuses"]?.array ?? []).map { status -> CRMStage in
                let stageID = status["id"]?.text ?? ""
                let kind: CRMStageKind = stageID == "142" ? .won : stageID == "143" ? .lost : status["type"]?.text == "1" ? .unsorted : .regular
                return CRMStage(id: stageID, name: status["name"]?.text ?? "", sort: Int(status["sort"]?.text ?? "") ?? 0, kind: kind)
            }
            return CRMPipeline(id: id, name: pipeline["name"]?.text ?? "", sort: Int(pipeline["sort"]?.text ?? "") ?? 0,
                               isArchive: pipeline["is_archive"] == .bool(true), stages: stages)
        }
        let users = try await client.users().map {
            CRMUser(id: $0["id"]?.text ?? "", name: $0["name"]?.text ?? "", email: $0["email"]?.text)
        }
        return CRMCatalog(pipelines: pipelines, users: users)
    }

    /// Pages by key, not by number: each call asks for the leads changed at or after the newest
    /// second read so far (`filter[updated_at][from]`), dropping the ones already read in that
    /// second. Page numbers over a list in modification order shift when a manager edits a lead
    /// during the pass (it moves to the end, and the lead that slid into the page already read is
    /// never read). Only a page that is all one second is followed by number.
    public func changedDeals(since: Date?, _ body: (CRMDealPage) async throws -> Void) async throws {
        var from = since.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        var readInSecond: Set<String> = []  // ids read whose updated_at is `from`
        var number = 1
        func second(_ lead: JSONValue) -> Int64? { lead["updated_at"]?.text.flatMap { Int64($0) } }
        while true {
            let page = try await client.leads(updatedFrom: from, page: number)
            let fresh = page.items.filter { second($0) != from || !readInSecond.contains($0["id"]?.text ?? "") }
            if !fresh.isEmpty { try await body(try await withProducts(deals(fresh), leads: fresh)) }
            guard page.hasNext, !page.items.isEmpty else { return }
            let newest = page.items.compactMap(second).max()
            if let newest, newest != from {
                from = newest
                readInSecond = []
                number = 1
            } else {
                number += 1  // the whole page is one second: the next page of that second
            }
            for lead in page.items where second(lead) == from { readInSecond.insert(lead["id"]?.text ?? "") }
        }
    }

    public func deals(ids: [String]) async throws -> CRMDealPage {
        let leads = try await client.leads(ids: ids)
        return try await withProducts(deals(leads), leads: leads)
    }

    /// Fills the product lines of deals whose leads carry catalog elements (`with=catalog_elements`:
    /// element id and quantity), naming and pricing them from their catalogs.
    func withProducts(_ page: CRMDealPage, leads: [JSONValue]) async throws -> CRMDealPage {
        var wanted: [String: Set<String>] = [:]  // catalog → element ids
        var linked: [String: [(element: String, catalog: String, quantity: Decimal)]] = [:]
        for lead in leads {
            guard let id = lead["id"]?.text, let elements = lead["_embedded"]?["catalog_elements"]?.array, !elements.isEmpty else { continue }
            for element in elements {
                guard let elementID = element["id"]?.text, let catalog = element["metadata"]?["catalog_id"]?.text else { continue }
                let quantity = element["metadata"]?["quantity"]?.text.flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) } ?? 1
                wanted[catalog, default: []].insert(elementID)
                linked[id, default: []].append((elementID, catalog, quantity))
            }
        }
        guard !linked.isEmpty else { return page }
        var named: [String: (name: String, price: Decimal?)] = [:]  // "catalog/element"
        for (catalog, ids) in wanted {
            for element in try await client.catalogElements(catalogID: catalog, ids: ids.sorted()) {
                guard let id = element["id"]?.text else { continue }
                let price = (element["custom_fields_values"]?.array ?? []).first { $0["field_code"]?.text == "PRICE" }?["values"]?.array?.first?["value"]?.text
                named["\(catalog)/\(id)"] = (element["name"]?.text ?? id, price.flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) })
            }
        }
        var result = page
        for index in result.deals.indices {
            guard let lines = linked[result.deals[index].id] else { continue }
            result.deals[index].lines = lines.map { line in
                let found = named["\(line.catalog)/\(line.element)"]
                return CRMProductLine(productID: line.element, name: found?.name ?? line.element, quantity: line.quantity, price: found?.price)
            }
            result.deals[index].products = result.deals[index].lines.map(\.name)
        }
        return result
    }

    public func contacts(ids: [String]) async throws -> [CRMContact] {
        guard !ids.isEmpty else { return [] }
        return try await client.contacts(ids: ids).map { contact in
            var phones: [String] = []
            var emails: [String] = []
            for field in contact["custom_fields_values"]?.array ?? [] {
                let code = field["field_code"]?.text
                for value in field["values"]?.array ?? [] {
                    guard let text = value["value"]?.text else { continue }
                    if code == "PHONE", let phone = ContactNormalization.phone(text), !phones.contains(phone) { phones.append(phone) }
                    if code == "EMAIL", let email = ContactNormalization.email(text), !emails.contains(email) { emails.append(email) }
                }
            }
            return CRMContact(id: contact["id"]?.text ?? "", name: contact["name"]?.text, phones: phones, emails: emails)
        }
    }

    public func history(of deals: [CRMDeal]) async throws -> CRMHistory {
        var history = CRMHistory()
        let ids = deals.map(\.id)
        for start in stride(from: 0, to: ids.count, by: 10) {
            let slice = Array(ids[start..<min(ids.count, start + 10)])
            var number = 1
            while true {
                let page = try await client.events(types: eventTypes, createdFrom: nil, leadIDs: slice, page: number)
                let (part, _) = events(page.items)
                history.stageChanges += part.stageChanges
                history.payments += part.payments
                guard page.hasNext, !page.items.isEmpty else { break }
                number += 1
            }
        }
        return history
    }

    /// The events API names no order, so the watermark moves only when the whole pass was read:
    /// a pass cut short (limits, errors) reads its pages again next time (events have ids, and
    /// writing them again changes nothing), and no older page is skipped.
    public func recentHistory(since: Date?, _ body: (CRMHistory, Date?) async throws -> Void) async throws {
        let from = since.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        var number = 1
        var newestOfPass: Date?
        while true {
            let page = try await client.events(types: eventTypes, createdFrom: from, page: number)
            if !page.items.isEmpty {
                let (history, newest) = events(page.items)
                if let newest { newestOfPass = max(newestOfPass ?? newest, newest) }
                try await body(history, nil)
            }
            guard page.hasNext, !page.items.isEmpty else { break }
            number += 1
        }
        if let newestOfPass { try await body(CRMHistory(), newestOfPass) }
    }

    // MARK: - mapping

    var eventTypes: [String] {
        ["lead_status_changed"] + (fields.paidTotal.map { ["custom_field_\($0)_value_changed"] } ?? [])
    }

    /// Leads as deals; a lead with a malformed amount, date or field is a problem naming it.
    func deals(_ leads: [JSONValue]) -> CRMDealPage {
        var page = CRMDealPage(deals: [], problems: [])
        for lead in leads {
            let id = lead["id"]?.text ?? "?"
            do {
                page.deals.append(try deal(lead, id: id))
            } catch let problem as DealProblem {
                page.problems.append(problem)
            } catch {
                page.problems.append(DealProblem(crm: .amocrm, dealID: id, field: "lead", message: "\(error)"))
            }
        }
        return page
    }

    func deal(_ lead: JSONValue, id: String) throws -> CRMDeal {
        func problem(_ field: String, _ value: JSONValue?) -> DealProblem {
            DealProblem(crm: .amocrm, dealID: id, field: field, message: "\(value?.shown ?? "missing") is not valid")
        }
        func time(_ field: String, required: Bool) throws -> Date? {
            guard let value = lead[field], !value.isNull else {
                if required { throw problem(field, nil) }
                return nil
            }
            guard case .number(let text) = value, let seconds = Int64(text), seconds >= 0 else { throw problem(field, value) }
            return Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        func decimal(_ field: String, _ value: JSONValue?) throws -> Decimal? {
            guard let value, !value.isNull, let text = value.text, !text.isEmpty else { return nil }
            let normalized = text.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: ",", with: ".")
            guard let amount = Decimal(string: normalized, locale: Locale(identifier: "en_US_POSIX")),
                  normalized.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) else { throw problem(field, value) }
            return amount
        }
        guard id != "?", lead["id"]?.text?.allSatisfy(\.isNumber) == true else { throw problem("id", lead["id"]) }
        guard let pipeline = lead["pipeline_id"]?.text, let stage = lead["status_id"]?.text else {
            throw problem(lead["pipeline_id"] == nil ? "pipeline_id" : "status_id", nil)
        }
        let custom = lead["custom_fields_values"]?.array ?? []  // null when no field is filled
        func values(_ keys: [String]) -> [JSONValue] {
            for key in keys {
                let matched = custom.first { field in
                    if key.allSatisfy(\.isNumber) { return field["field_id"]?.text == key }
                    return field["field_code"]?.text == key || field["field_name"]?.text?.lowercased() == key.lowercased()
                }
                if let matched { return (matched["values"]?.array ?? []).compactMap { $0["value"] } }
            }
            return []
        }
        func first(_ keys: [String]) -> String? { values(keys).first?.text.flatMap { $0.isEmpty ? nil : $0 } }
        var utm: [String: String] = [:]
        for (key, candidates) in fields.utm { if let value = first(candidates) { utm[key] = value } }
        let embedded = lead["_embedded"]
        let contacts = (embedded?["contacts"]?.array ?? []).sorted { ($0["is_main"] == .bool(true) ? 0 : 1) < ($1["is_main"] == .bool(true) ? 0 : 1) }
        let price = try decimal("price", lead["price"]) ?? 0
        return CRMDeal(
            id: id, name: lead["name"]?.text, pipelineID: pipeline, stageID: stage,
            createdAt: try time("created_at", required: true)!, updatedAt: try time("updated_at", required: true)!,
            closedAt: try time("closed_at", required: false), amount: price, currency: currency,
            costField: try fields.costOfGoods.flatMap { try decimal("custom field \($0)", values([$0]).first) },
            paidTotal: try fields.paidTotal.flatMap { try decimal("custom field \($0)", values([$0]).first) },
            managerID: lead["responsible_user_id"]?.text,
            products: fields.product.map { values([$0]).compactMap(\.text) } ?? [],
            contactIDs: contacts.compactMap { $0["id"]?.text },
            visitID: first(fields.visitID), requestID: first(fields.requestID), utm: utm,
            tags: (embedded?["tags"]?.array ?? []).compactMap { $0["name"]?.text },
            lossReason: embedded?["loss_reason"]?.array?.first?["name"]?.text ?? lead["loss_reason_id"]?.text)
    }

    /// Events as stage changes and payments, with the newest event's time.
    func events(_ items: [JSONValue]) -> (CRMHistory, Date?) {
        var history = CRMHistory()
        var newest: Date?
        let paidType = fields.paidTotal.map { "custom_field_\($0)_value_changed" }
        for event in items {
            guard let id = event["id"]?.text, let deal = event["entity_id"]?.text,
                  let seconds = event["created_at"]?.text.flatMap({ Int64($0) }) else { continue }
            let at = Date(timeIntervalSince1970: TimeInterval(seconds))
            newest = max(newest ?? at, at)
            let type = event["type"]?.text
            if type == "lead_status_changed" {
                let after = event["value_after"]?.array?.first?["lead_status"]
                let before = event["value_before"]?.array?.first?["lead_status"]
                guard let stage = after?["id"]?.text, let pipeline = after?["pipeline_id"]?.text else { continue }
                history.stageChanges.append(CRMStageChange(id: id, dealID: deal, at: at, pipelineID: pipeline, stageID: stage,
                                                           fromPipelineID: before?["pipeline_id"]?.text, fromStageID: before?["id"]?.text))
            } else if type == paidType {
                /// The field's value on one side: empty is 0 (the field was blank); text that is
                /// not a plain number is nil, and the event is skipped rather than read as a
                /// payment of the whole other side (the deal's residual payment, definition 10,
                /// settles the paid total at its close).
                func amount(_ side: String) -> Decimal? {
                    let text = event[side]?.array?.first?["custom_field_value"]?["text"]?.text ?? ""
                    return text.isEmpty ? 0 : PaymentSheet.decimal(text)
                }
                guard let after = amount("value_after"), let before = amount("value_before") else {
                    history.unreadable.append("event \(id) of deal \(deal): a paid-total value is not a number; skipped")
                    continue
                }
                let difference = after - before
                guard difference != 0 else { continue }
                history.payments.append(CRMPayment(id: id, dealID: deal, kind: .received, amount: difference, currency: currency,
                                                   paidAt: at, origin: .fieldEvent))
            }
        }
        return (history, newest)
    }
}
