import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A fake Bitrix24 portal behind an incoming webhook (api-contracts.md §3):
/// `POST /rest/<user>/<code>/<method>.json` with JSON parameters; every scalar of a deal a string
/// (`"OPPORTUNITY": "45000.00"`), ISO dates with offsets, 50 rows a page with `next`/`total` or
/// none of them in the fast mode (`start=-1`), `batch` of up to 50 `method?query` commands, the
/// `{"error", "error_description"}` body with 503 `QUERY_LIMIT_EXCEEDED`, 429
/// `OPERATION_TIME_LIMIT` and 401 `NO_AUTH_FOUND`, and outgoing-webhook bodies with
/// `auth[application_token]`.
public final class FakeBitrix24: Sendable {
    public struct Knobs: Sendable {
        /// Requests answered 503 QUERY_LIMIT_EXCEEDED first.
        public var queryLimitExceeded = 0
        /// Then requests answered 429 OPERATION_TIME_LIMIT.
        public var operationTimeLimit = 0
        /// Deals whose OPPORTUNITY comes malformed.
        public var malformedOpportunity: Set<Int> = []
        /// Deals a manager moves to a stage right after the n-th `crm.deal.list` call was
        /// answered: n → (deal, stage), changes made while a sync pages.
        public var movesAfterListCall: [Int: [(deal: Int, stage: String)]] = [:]
        /// Batch commands (`method?query` exactly) the webhook's user may not run: answered in
        /// `result_error` as `ACCESS_DENIED`, the other commands of the batch as usual.
        public var deniedCommands: Set<String> = []
        public init() {}
    }

    public struct Deal: Sendable, Equatable {
        public var id: Int
        public var title: String
        public var categoryID: Int
        public var stageID: String
        public var opportunity: String
        public var currency: String
        public var assignedBy: Int
        public var contactID: Int?
        public var created: Int64
        public var modified: Int64
        public var closed: Int64?
        public var utm: [String: String]
        public var custom: [String: String]
        /// Product rows.
        public var rows: [ProductRow] = []

        public init(id: Int, title: String, categoryID: Int, stageID: String, opportunity: String, currency: String = "RUB",
                    assignedBy: Int = 17, contactID: Int? = nil, created: Int64, modified: Int64? = nil, closed: Int64? = nil,
                    utm: [String: String] = [:], custom: [String: String] = [:]) {
            self.id = id
            self.title = title
            self.categoryID = categoryID
            self.stageID = stageID
            self.opportunity = opportunity
            self.currency = currency
            self.assignedBy = assignedBy
            self.contactID = contactID
            self.created = created
            self.modified = modified ?? created
            self.closed = closed
            self.utm = utm
            self.custom = custom
        }
    }

    public struct ProductRow: Sendable, Equatable {
        public var name: String
        public var price: String
        public var quantity: Int
        public init(name: String, price: String, quantity: Int) {
            self.name = name
            self.price = price
            self.quantity = quantity
        }
    }

    public struct Payment: Sendable, Equatable {
        public var id: Int
        public var paid: Bool
        public var datePaid: Int64?
        public var sum: String
        public init(id: Int, paid: Bool, datePaid: Int64?, sum: String) {
            self.id = id
            self.paid = paid
            self.datePaid = datePaid
            self.sum = sum
        }
    }

    struct State {
        var deals: [Int: Deal] = [:]
        var contacts: [Int: (name: String, phones: [String], emails: [String])] = [:]
        var payments: [Int: [Payment]] = [:]
        var history: [(id: Int, deal: Int, at: Int64, category: Int, stage: String)] = []
        var knobs = Knobs()
        var clock: Int64 = 1_772_000_000
        var requests = 0
        var listCalls = 0
        var methods: [String] = []
        /// Deal ids in order, rebuilt after a change (the fast mode pages 100k deals quickly).
        var sortedIDs: [Int]?

        mutating func ids() -> [Int] {
            if let sortedIDs { return sortedIDs }
            let ids = deals.keys.sorted()
            sortedIDs = ids
            return ids
        }
    }

    /// Stages per category (0 and 2): id, name, semantics (nil = in progress).
    public static let stages: [Int: [(id: String, name: String, semantics: String?)]] = [
        0: [("NEW", "Новая", nil), ("PREPARATION", "Подготовка", nil), ("EXECUTING", "В работе", nil), ("WON", "Сделка успешна", "S"),
            ("LOSE", "Сделка провалена", "F"), ("APOLOGY", "Анализ причины провала", "F")],
        2: [("C2:NEW", "Регистрация", nil), ("C2:PREPARATION", "Чистка", nil), ("C2:WON", "Оплачено", "S"), ("C2:LOSE", "Отказ", "F")],
    ]

    public let user: String
    public let code: String
    public let applicationToken: String
    private let state = Mutex(State())

    public init(user: String = "1", code: String, applicationToken: String) {
        self.user = user
        self.code = code
        self.applicationToken = applicationToken
    }

    public func setKnobs(_ knobs: Knobs) { state.withLock { $0.knobs = knobs } }
    public var requests: Int { state.withLock { $0.requests } }
    /// Methods called (batch commands included), in order.
    public var methods: [String] { state.withLock { $0.methods } }
    public var deals: [Deal] { state.withLock { $0.deals.values.sorted { $0.id < $1.id } } }
    public func payments(of deal: Int) -> [Payment] { state.withLock { $0.payments[deal] ?? [] } }

    public func load(_ deals: [Deal], contacts: [Int: (name: String, phones: [String], emails: [String])], payments: [Int: [Payment]] = [:]) {
        state.withLock { state in
            for deal in deals {
                state.deals[deal.id] = deal
                state.clock = max(state.clock, deal.modified)
            }
            state.sortedIDs = nil
            for (id, contact) in contacts { state.contacts[id] = contact }
            for (id, items) in payments { state.payments[id] = items }
        }
    }

    /// Moves a deal to a stage (recorded in the stage history); success and failure stages close it.
    public func move(_ id: Int, category: Int? = nil, stage: String) {
        state.withLock { Self.move(&$0, id, category: category, stage: stage) }
    }

    /// Listing calls of deals (`crm.deal.list`) answered so far.
    public var dealListCalls: Int { state.withLock { $0.listCalls } }

    static func move(_ state: inout State, _ id: Int, category: Int?, stage: String) {
        guard var deal = state.deals[id] else { return }
        state.clock += 1
        deal.categoryID = category ?? deal.categoryID
        deal.stageID = stage
        deal.modified = state.clock
        let semantics = Self.semantics(deal.categoryID, stage)
        deal.closed = semantics == "P" ? nil : state.clock
        state.deals[id] = deal
        state.history.append((state.history.count + 1, id, state.clock, deal.categoryID, stage))
    }

    /// Adds or replaces a deal's payment items (does not touch the deal, as in Bitrix24).
    public func setPayments(_ id: Int, _ items: [Payment]) { state.withLock { $0.payments[id] = items } }

    public func delete(_ id: Int) {
        state.withLock {
            $0.deals.removeValue(forKey: id)
            $0.sortedIDs = nil
        }
    }

    /// The outgoing webhook for a deal event.
    public func webhookBody(event: String = "ONCRMDEALUPDATE", deal: Int, token: String? = nil) -> String {
        FormURLEncoded.encode([("event", event), ("event_handler_id", "201"), ("data[FIELDS][ID]", String(deal)), ("ts", "1772452800"),
                               ("auth[domain]", "example.bitrix24.ru"), ("auth[client_endpoint]", "https://example.bitrix24.ru/rest/"),
                               ("auth[member_id]", "a223c6b3710f85df22e9377d6c4f7553"), ("auth[application_token]", token ?? applicationToken)])
    }

    /// A stage's semantics: as listed; a stage the list does not hold (one created in the portal
    /// after the catalog was read) by its name's ending — `…WON` S, `…LOSE` F, else P.
    public static func semantics(_ category: Int, _ stage: String) -> String {
        if let listed = stages[category]?.first(where: { $0.id == stage }) { return listed.semantics ?? "P" }
        return stage.hasSuffix("WON") ? "S" : stage.hasSuffix("LOSE") ? "F" : "P"
    }

    /// Moscow time with its offset, as a Russian portal answers: `2026-03-01T10:15:00+03:00`.
    static func iso(_ seconds: Int64) -> String {
        let local = seconds + 3 * 3600
        let day = LocalDay(daysSinceEpoch: local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
        let second = local - day.daysSinceEpoch * 86_400
        return String(format: "%@T%02d:%02d:%02d+03:00", day.description, Int(second / 3600), Int(second % 3600 / 60), Int(second % 60))
    }

    static func seconds(_ iso: String) -> Int64? { Timestamp.parse(iso).map { Int64($0.timeIntervalSince1970) } }

    // MARK: - HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/rest/:user/:code/:method") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let method = (context.parameters.get("method") ?? "").replacingOccurrences(of: ".json", with: "")
            return self.answer(user: context.parameters.get("user") ?? "", code: context.parameters.get("code") ?? "", method: method,
                               body: Data(body.readableBytesView))
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ value: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ text: String) -> Response {
        json(status, ["error": code, "error_description": text])
    }

    func answer(user: String, code: String, method: String, body: Data) -> Response {
        state.withLock { state -> Response in
            state.requests += 1
            if state.knobs.queryLimitExceeded > 0 {
                state.knobs.queryLimitExceeded -= 1
                return Self.error(.serviceUnavailable, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            }
            if state.knobs.operationTimeLimit > 0 {
                state.knobs.operationTimeLimit -= 1
                return Self.error(.tooManyRequests, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
            }
            guard user == self.user, code == self.code else { return Self.error(.unauthorized, "NO_AUTH_FOUND", "Wrong authorization data") }
            let parameters = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
            if method == "batch" {
                guard let commands = parameters["cmd"] as? [String: String] else { return Self.error(.badRequest, "", "Parameter 'cmd' must be array.") }
                guard commands.count <= 50 else { return Self.error(.badRequest, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded") }
                var results: [String: Any] = [:]
                var errors: [String: Any] = [:]
                for (key, command) in commands {
                    let parts = command.split(separator: "?", maxSplits: 1)
                    let name = String(parts[0])
                    guard name != "batch" else {
                        errors[key] = ["error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"]
                        continue
                    }
                    guard !state.knobs.deniedCommands.contains(command) else {
                        errors[key] = ["error": "ACCESS_DENIED", "error_description": "Access denied."]
                        continue
                    }
                    var query: [String: Any] = [:]
                    for (field, value) in FormURLEncoded.parse(parts.count > 1 ? String(parts[1]) : "") { query[field] = value }
                    switch call(&state, name, query) {
                    case .success(let value): results[key] = value.result
                    case .failure(let failure): errors[key] = ["error": failure.code, "error_description": failure.text]
                    }
                }
                return Self.json(.ok, ["result": ["result": results, "result_error": errors.isEmpty ? [Any]() as Any : errors as Any,
                                                  "result_total": [String: Any](), "result_next": [String: Any]()],
                                       "time": ["start": 1.0, "finish": 1.1, "duration": 0.1]])
            }
            switch call(&state, method, parameters) {
            case .success(let value):
                var answer: [String: Any] = ["result": value.result, "time": ["start": 1.0, "finish": 1.1, "duration": 0.1, "operating": 0]]
                if let next = value.next { answer["next"] = next }
                if let total = value.total { answer["total"] = total }
                return Self.json(.ok, answer)
            case .failure(let failure):
                return Self.error(.badRequest, failure.code, failure.text)
            }
        }
    }

    struct Success { var result: Any; var next: Int?; var total: Int? }
    struct Failure: Error { var code: String; var text: String }

    private func call(_ state: inout State, _ method: String, _ parameters: [String: Any]) -> Result<Success, Failure> {
        state.methods.append(method)
        let start = (parameters["start"] as? Int) ?? Int(parameters["start"] as? String ?? "") ?? 0
        func page(_ rows: [Any]) -> Success {
            if start < 0 { return Success(result: Array(rows.prefix(50))) }  // the fast mode: no count, no next
            let slice = Array(rows.dropFirst(start).prefix(50))
            return Success(result: slice, next: start + 50 < rows.count ? start + 50 : nil, total: rows.count)
        }
        switch method {
        case "crm.deal.list":
            let filter = parameters["filter"] as? [String: Any] ?? [:]
            var deals: [Deal]
            if filter.count == 1, let after = filter[">ID"], start < 0 {
                // The fast mode: the next 50 by id after `>ID`.
                let bound = Int("\(after)") ?? 0
                let ids = state.ids()
                var (low, high) = (0, ids.count)
                while low < high {
                    let middle = (low + high) / 2
                    if ids[middle] <= bound { low = middle + 1 } else { high = middle }
                }
                deals = ids[low...].prefix(50).map { state.deals[$0]! }
            } else {
                deals = Array(state.deals.values)
            }
            if let from = (filter[">=DATE_MODIFY"] as? String) {
                guard let seconds = Self.seconds(from) else { return .failure(Failure(code: "", text: "Invalid date in filter")) }
                deals = deals.filter { $0.modified >= seconds }
            }
            if let after = filter[">ID"] { let bound = Int("\(after)") ?? 0; deals = deals.filter { $0.id > bound } }
            if let ids = filter["@ID"] as? [Any] { let set = Set(ids.compactMap { Int("\($0)") }); deals = deals.filter { set.contains($0.id) } }
            let order = parameters["order"] as? [String: String] ?? [:]
            deals.sort { order["DATE_MODIFY"] != nil ? ($0.modified, $0.id) < ($1.modified, $1.id) : $0.id < $1.id }
            let knobs = state.knobs
            state.listCalls += 1
            defer {
                for move in knobs.movesAfterListCall[state.listCalls] ?? [] { Self.move(&state, move.deal, category: nil, stage: move.stage) }
            }
            return .success(page(deals.map { deal -> [String: Any] in
                var row: [String: Any] = [
                    "ID": String(deal.id), "TITLE": deal.title, "CATEGORY_ID": String(deal.categoryID), "STAGE_ID": deal.stageID,
                    "OPPORTUNITY": knobs.malformedOpportunity.contains(deal.id) ? "45 000,00" : deal.opportunity, "CURRENCY_ID": deal.currency,
                    "ASSIGNED_BY_ID": String(deal.assignedBy), "CONTACT_ID": deal.contactID.map(String.init) ?? NSNull(),
                    "DATE_CREATE": Self.iso(deal.created), "DATE_MODIFY": Self.iso(deal.modified),
                    "CLOSEDATE": deal.closed.map(Self.iso) ?? NSNull(), "CLOSED": deal.closed == nil ? "N" : "Y",
                    "STAGE_SEMANTIC_ID": Self.semantics(deal.categoryID, deal.stageID),
                ]
                for field in ["UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"] { row[field] = deal.utm[field] ?? NSNull() }
                for (field, value) in deal.custom { row[field] = value }
                return row
            }))
        case "crm.deal.productrows.get":
            guard let id = Int("\(parameters["id"] ?? "")"), let deal = state.deals[id] else { return .failure(Failure(code: "", text: "Not found")) }
            return .success(Success(result: deal.rows.enumerated().map { index, row -> [String: Any] in
                ["ID": String(id * 10 + index), "OWNER_ID": String(id), "OWNER_TYPE": "D", "PRODUCT_ID": 700 + index, "PRODUCT_NAME": row.name,
                 "PRICE": Double(row.price) ?? 0, "QUANTITY": row.quantity, "DISCOUNT_RATE": 0, "TAX_RATE": NSNull(), "MEASURE_NAME": "шт"]
            }))
        case "crm.category.list":
            return .success(Success(result: ["categories": [["id": 0, "name": "Общая", "sort": 100, "entityTypeId": 2, "isDefault": "Y"],
                                                            ["id": 2, "name": "Вебинар", "sort": 200, "entityTypeId": 2, "isDefault": "N"]]]))
        case "crm.status.list":
            var rows: [Any] = []
            var counter = 100
            for category in Self.stages.keys.sorted() {
                for (index, stage) in Self.stages[category]!.enumerated() {
                    counter += 1
                    var row: [String: Any] = [:]
                    row["ID"] = String(counter)
                    row["ENTITY_ID"] = category == 0 ? "DEAL_STAGE" : "DEAL_STAGE_\(category)"
                    row["STATUS_ID"] = stage.id
                    row["NAME"] = stage.name
                    row["NAME_INIT"] = stage.name
                    row["SORT"] = String((index + 1) * 10)
                    row["SYSTEM"] = "N"
                    row["CATEGORY_ID"] = category == 0 ? NSNull() as Any : String(category) as Any
                    row["SEMANTICS"] = stage.semantics.map { $0 as Any } ?? NSNull()
                    let semantics = stage.semantics == "S" ? "success" : stage.semantics == "F" ? "failure" : "process"
                    row["EXTRA"] = ["SEMANTICS": semantics]
                    rows.append(row)
                }
            }
            rows.append(["ID": "900", "ENTITY_ID": "SOURCE", "STATUS_ID": "WEB", "NAME": "Сайт", "SORT": "10"])
            return .success(page(rows))
        case "user.get":
            return .success(page([["ID": "17", "NAME": "Анна", "LAST_NAME": "Менеджер", "EMAIL": "anna@example.org"],
                                  ["ID": "18", "NAME": "Борис", "LAST_NAME": "", "EMAIL": ""]]))
        case "crm.contact.get":
            guard let id = Int("\(parameters["id"] ?? "")"), let contact = state.contacts[id] else {
                return .failure(Failure(code: "", text: "Not found"))
            }
            return .success(Success(result: [
                "ID": String(id), "NAME": contact.name, "LAST_NAME": NSNull(),
                "PHONE": contact.phones.enumerated().map { ["ID": String(1000 + $0.offset), "VALUE_TYPE": "WORK", "VALUE": $0.element, "TYPE_ID": "PHONE"] },
                "EMAIL": contact.emails.enumerated().map { ["ID": String(2000 + $0.offset), "VALUE_TYPE": "WORK", "VALUE": $0.element, "TYPE_ID": "EMAIL"] },
            ]))
        case "crm.item.payment.list":
            guard "\(parameters["entityTypeId"] ?? "")" == "2", let deal = Int("\(parameters["entityId"] ?? "")") else {
                return .failure(Failure(code: "", text: "entityTypeId and entityId are required"))
            }
            return .success(Success(result: (state.payments[deal] ?? []).map { payment -> [String: Any] in
                ["id": payment.id, "accountNumber": "\(deal)/\(payment.id)", "paid": payment.paid ? "Y" : "N",
                 "datePaid": payment.datePaid.map(Self.iso) ?? NSNull(), "empPaidId": payment.paid ? 17 : NSNull(),
                 "sum": Double(payment.sum) ?? 0, "currency": "RUB", "paySystemId": 1, "paySystemName": "Наличные"]
            }))
        case "crm.stagehistory.list":
            let filter = parameters["filter"] as? [String: Any] ?? [:]
            var items = state.history
            if let from = filter[">=CREATED_TIME"] as? String, let seconds = Self.seconds(from) { items = items.filter { $0.at >= seconds } }
            let rows: [Any] = items.map { item in
                ["ID": String(item.id), "TYPE_ID": "2", "OWNER_ID": String(item.deal), "CREATED_TIME": Self.iso(item.at),
                 "CATEGORY_ID": String(item.category), "STAGE_SEMANTIC_ID": Self.semantics(item.category, item.stage), "STAGE_ID": item.stage]
            }
            let paged = page(rows)
            return .success(Success(result: ["items": paged.result], next: paged.next, total: paged.total))
        default:
            return .failure(Failure(code: "ERROR_METHOD_NOT_FOUND", text: "Method not found!"))
        }
    }
}
