import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A fake amoCRM (api-contracts.md §2) speaking its wire format: hal+json lists under
/// `_embedded` with `_links.next`, **204 with an empty body** when nothing matches, `limit` ≤ 250
/// (≤ 100 for events), Unix-second timestamps, integer prices, `custom_fields_values` that is
/// `null` when empty, the OAuth token endpoint with rotating refresh tokens, 401 problem+json,
/// 429 with a non-JSON body, and webhook bodies with the old (v2) field names.
///
/// Tests change deals through it (`upsert`, `move`, `setPaid`, `delete`): every change bumps the
/// lead's `updated_at` and records the events the real CRM records, so the fake's own state is
/// what a sync must reproduce exactly.
public final class FakeAmoCRM: Sendable {
    public struct Knobs: Sendable {
        /// Requests answered 429 (non-JSON body) before normal answers.
        public var tooManyRequests = 0
        /// Requests answered 503 before normal answers (after the 429s).
        public var serverErrors = 0
        /// Access tokens stop working after this many API calls (401).
        public var tokenLifetimeCalls = Int.max
        /// Lead ids whose `price` comes as a malformed string.
        public var malformedPrice: Set<Int64> = []
        /// Lead ids whose stage is one no pipeline lists.
        public var strayStage: Set<Int64> = []
        /// A regular stage added to pipeline 3001 (a stage created in the CRM after a sync began).
        public var addedStage: Int64?
        /// Leads edited by a manager right after the n-th listing call (`order[updated_at]`) was
        /// answered: n → lead ids, each moved to the end of the modification order while a sync
        /// pages through it.
        public var editsAfterListCall: [Int: [Int64]] = [:]
        /// Leads that listings leave out although they exist (fetched by id they are there): a
        /// list answer that missed a deal.
        public var missingFromLists: Set<Int64> = []
        public init() {}
    }

    /// A lead as the fake keeps it.
    public struct Lead: Sendable, Equatable {
        public var id: Int64
        public var name: String
        public var price: Int64
        public var pipelineID: Int64
        public var statusID: Int64
        public var responsibleUserID: Int64
        public var createdAt: Int64
        public var updatedAt: Int64
        public var closedAt: Int64?
        /// field id → (code, name, value); code and name as amoCRM sends them.
        public var fields: [Int64: (code: String?, name: String, value: String)]
        public var tags: [String]
        public var contactIDs: [Int64]
        /// Catalog elements (products of catalog `FakeAmoCRM.catalogID`) and their quantities.
        public var products: [(element: Int64, quantity: Int)]

        public init(id: Int64, name: String, price: Int64, pipelineID: Int64, statusID: Int64, responsibleUserID: Int64 = 504141,
                    createdAt: Int64, updatedAt: Int64? = nil, closedAt: Int64? = nil,
                    fields: [Int64: (code: String?, name: String, value: String)] = [:], tags: [String] = [], contactIDs: [Int64] = [],
                    products: [(element: Int64, quantity: Int)] = []) {
            self.products = products
            self.id = id
            self.name = name
            self.price = price
            self.pipelineID = pipelineID
            self.statusID = statusID
            self.responsibleUserID = responsibleUserID
            self.createdAt = createdAt
            self.updatedAt = updatedAt ?? createdAt
            self.closedAt = closedAt
            self.fields = fields
            self.tags = tags
            self.contactIDs = contactIDs
        }

        public static func == (lhs: Lead, rhs: Lead) -> Bool {
            lhs.id == rhs.id && lhs.price == rhs.price && lhs.pipelineID == rhs.pipelineID && lhs.statusID == rhs.statusID
                && lhs.updatedAt == rhs.updatedAt && lhs.fields.mapValues(\.value) == rhs.fields.mapValues(\.value)
        }
    }

    public struct Contact: Sendable {
        public var id: Int64
        public var name: String
        public var phones: [String]
        public var emails: [String]
        public init(id: Int64, name: String, phones: [String], emails: [String]) {
            self.id = id
            self.name = name
            self.phones = phones
            self.emails = emails
        }
    }

    struct Event {
        var id: String
        var type: String
        var leadID: Int64
        var createdAt: Int64
        var after: String
        var before: String
    }

    struct State {
        var leads: [Int64: Lead] = [:]
        var contacts: [Int64: Contact] = [:]
        var events: [Event] = []
        var knobs = Knobs()
        var clock: Int64 = 1_772_000_000
        var eventCounter = 0
        // auth
        var longLivedToken: String?
        var clientID = ""
        var clientSecret = ""
        var refreshTokens: Set<String> = []
        var accessTokens: [String: Int] = [:]  // token → calls left
        var issued = 0
        var calls = 0
        var paths: [String] = []
        var listCalls = 0
        /// Lead ids by (updated_at, id), rebuilt after a change (lists of 100k leads page fast).
        var byUpdate: [Int64]?

        mutating func ordered() -> [Int64] {
            if let byUpdate { return byUpdate }
            let order = leads.values.sorted { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) }.map(\.id)
            byUpdate = order
            return order
        }
    }

    /// The products catalog and its elements (id → name, price).
    public static let catalogID: Int64 = 5001
    public static let catalog: [Int64: (name: String, price: String)] = [
        9001: ("Курс «Аналитика»", "45000"), 9002: ("Консультация", "5000.50"), 9003: ("Вебинар", "0"),
    ]

    /// The paid-total field's id (domain.md definition 10) in this fake.
    public static let paidFieldID: Int64 = 700200
    public static let pipelines: [(id: Int64, name: String, statuses: [(id: Int64, name: String, type: Int)])] = [
        (3001, "Продажи", [(41000, "Неразобранное", 1), (41001, "Первичный контакт", 0), (41002, "Переговоры", 0),
                          (41003, "Договор подписан", 0), (142, "Успешно реализовано", 0), (143, "Закрыто и не реализовано", 0)]),
        (3002, "Вебинар", [(42000, "Неразобранное", 1), (42001, "Регистрация", 0), (42002, "Чистка", 0),
                          (142, "Успешно реализовано", 0), (143, "Закрыто и не реализовано", 0)]),
    ]

    private let state = Mutex(State())

    /// A fake with a long-lived token.
    public init(longLivedToken: String) { state.withLock { $0.longLivedToken = longLivedToken } }

    /// A fake with OAuth: `refreshToken` is the one the integration starts with.
    public init(clientID: String, clientSecret: String, refreshToken: String) {
        state.withLock {
            $0.clientID = clientID
            $0.clientSecret = clientSecret
            $0.refreshTokens = [refreshToken]
        }
    }

    public func setKnobs(_ knobs: Knobs) { state.withLock { $0.knobs = knobs } }
    public var tokensIssued: Int { state.withLock { $0.issued } }
    /// API calls served (token endpoint excluded).
    public var calls: Int { state.withLock { $0.calls } }
    /// Listing calls of leads (`order[updated_at]`) answered so far.
    public var leadListCalls: Int { state.withLock { $0.listCalls } }
    /// Paths of the API calls served, in order.
    public var paths: [String] { state.withLock { $0.paths } }
    /// The fake's clock (Unix seconds): every change happens one second after the previous one.
    public var now: Int64 { state.withLock { $0.clock } }
    public var leads: [Lead] { state.withLock { $0.leads.values.sorted { $0.id < $1.id } } }

    // MARK: - changing the CRM

    /// Adds or replaces leads as they are (timestamps as given) with their creation events.
    public func load(_ leads: [Lead], contacts: [Contact]) {
        state.withLock { state in
            for contact in contacts { state.contacts[contact.id] = contact }
            for lead in leads {
                state.leads[lead.id] = lead
                state.clock = max(state.clock, lead.updatedAt)
            }
            state.byUpdate = nil
        }
    }

    /// Moves a lead to a stage (and pipeline), recording `lead_status_changed`; won and lost
    /// stages close it.
    public func move(_ id: Int64, pipeline: Int64? = nil, stage: Int64) {
        state.withLock { state in
            guard var lead = state.leads[id] else { return }
            state.clock += 1
            let before = #"[{"lead_status": {"id": \#(lead.statusID), "pipeline_id": \#(lead.pipelineID)}}]"#
            lead.pipelineID = pipeline ?? lead.pipelineID
            lead.statusID = stage
            lead.updatedAt = state.clock
            lead.closedAt = stage == 142 || stage == 143 ? state.clock : nil
            state.leads[id] = lead
            state.byUpdate = nil
            state.eventCounter += 1
            state.events.append(Event(id: String(format: "01hx%022d", state.eventCounter), type: "lead_status_changed", leadID: id,
                                      createdAt: state.clock, after: #"[{"lead_status": {"id": \#(stage), "pipeline_id": \#(lead.pipelineID)}}]"#,
                                      before: before))
        }
    }

    /// Sets the paid-total field, recording its change event (unless `silently`: a value set by
    /// import, with no event) — now, or at `at` (Unix seconds) for a history being loaded.
    public func setPaid(_ id: Int64, to amount: String, silently: Bool = false, at: Int64? = nil) {
        state.withLock { state in
            guard var lead = state.leads[id] else { return }
            state.clock = max(state.clock + 1, at ?? 0)
            let old = lead.fields[Self.paidFieldID]?.value
            lead.fields[Self.paidFieldID] = (nil, "Оплачено", amount)
            lead.updatedAt = max(lead.updatedAt, at ?? state.clock)
            state.leads[id] = lead
            state.byUpdate = nil
            guard !silently else { return }
            func side(_ text: String?) -> String {
                guard let text else { return "[]" }
                return #"[{"custom_field_value": {"field_id": \#(Self.paidFieldID), "field_type": 2, "enum_id": null, "text": "\#(text)"}}]"#
            }
            state.eventCounter += 1
            state.events.append(Event(id: String(format: "01hx%022d", state.eventCounter), type: "custom_field_\(Self.paidFieldID)_value_changed",
                                      leadID: id, createdAt: at ?? state.clock, after: side(amount), before: side(old)))
        }
    }

    /// Changes a lead's price.
    public func setPrice(_ id: Int64, _ price: Int64) {
        state.withLock { state in
            guard state.leads[id] != nil else { return }
            state.clock += 1
            state.leads[id]!.price = price
            state.leads[id]!.updatedAt = state.clock
            state.byUpdate = nil
        }
    }

    /// Deletes a lead (it no longer appears in lists).
    public func delete(_ id: Int64) {
        state.withLock {
            $0.leads.removeValue(forKey: id)
            $0.byUpdate = nil
        }
    }

    /// The webhook amoCRM sends for a lead (`status`, `update`, `add` or `delete`), form-encoded,
    /// with the old field names.
    public func webhookBody(for id: Int64, action: String = "update") -> String {
        state.withLock { state in
            var pairs: [(String, String)] = []
            let prefix = "leads[\(action)][0]"
            pairs.append(("\(prefix)[id]", String(id)))
            if let lead = state.leads[id] {
                pairs += [("\(prefix)[name]", lead.name), ("\(prefix)[status_id]", String(lead.statusID)),
                          ("\(prefix)[pipeline_id]", String(lead.pipelineID)), ("\(prefix)[price]", String(lead.price)),
                          ("\(prefix)[responsible_user_id]", String(lead.responsibleUserID)),
                          ("\(prefix)[last_modified]", String(lead.updatedAt)), ("\(prefix)[date_create]", String(lead.createdAt))]
                for (index, (fieldID, field)) in lead.fields.sorted(by: { $0.key < $1.key }).enumerated() {
                    pairs += [("\(prefix)[custom_fields][\(index)][id]", String(fieldID)), ("\(prefix)[custom_fields][\(index)][name]", field.name),
                              ("\(prefix)[custom_fields][\(index)][values][0][value]", field.value)]
                }
            }
            pairs += [("account[subdomain]", "example"), ("account[id]", "29000001")]
            return FormURLEncoded.encode(pairs)
        }
    }

    // MARK: - HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/oauth2/access_token") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 16)
            return self.token(Data(body.readableBytesView))
        }
        router.get("/api/v4/leads") { request, _ in self.api(request) { state, query in self.leads(&state, query, request) } }
        router.get("/api/v4/leads/pipelines") { request, _ in self.api(request) { state, _ in self.pipelinesAnswer(added: state.knobs.addedStage) } }
        router.get("/api/v4/users") { request, _ in
            self.api(request) { _, _ in
                Self.json(.ok, #"{"_total_items": 2, "_page": 1, "_page_count": 1, "_links": {"self": {"href": "/api/v4/users"}}, "_embedded": {"users": [{"id": 504141, "name": "Анна Менеджер", "email": "anna@example.org", "lang": "ru"}, {"id": 504142, "name": "Борис Продажин", "email": null, "lang": "ru"}]}}"#)
            }
        }
        router.get("/api/v4/contacts") { request, _ in self.api(request) { state, query in self.contacts(&state, query) } }
        router.get("/api/v4/catalogs/:catalog/elements") { request, context in
            self.api(request) { _, query in self.elements(catalog: context.parameters.get("catalog") ?? "", query) }
        }
        router.get("/api/v4/events") { request, _ in self.api(request) { state, query in self.events(&state, query, request) } }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, type: String = "application/hal+json") -> Response {
        Response(status: status, headers: [.contentType: type, HTTPField.Name("X-Request-Id")!: "fake-req-1"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func problem(_ status: Int, _ title: String, _ detail: String) -> Response {
        json(HTTPResponse.Status(code: status), #"{"title": "\#(title)", "type": "https://httpstatus.es/\#(status)", "status": \#(status), "detail": "\#(detail)"}"#,
             type: "application/problem+json")
    }

    /// Common gate of the API: throttling, server errors, the bearer token.
    private func api(_ request: Request, _ answer: (inout State, [(key: String, value: String)]) -> Response) -> Response {
        state.withLock { state -> Response in
            if state.knobs.tooManyRequests > 0 {
                state.knobs.tooManyRequests -= 1
                return Response(status: .tooManyRequests, headers: [.contentType: "text/html"],
                                body: .init(byteBuffer: ByteBuffer(string: "<html><body>429 Too Many Requests</body></html>")))
            }
            if state.knobs.serverErrors > 0 {
                state.knobs.serverErrors -= 1
                return Self.problem(503, "Service Unavailable", "Service temporarily unavailable")
            }
            guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer ") else {
                return Self.problem(401, "Unauthorized", "Authorization header is missing")
            }
            let token = String(auth.dropFirst(7))
            if token != state.longLivedToken {
                guard let left = state.accessTokens[token], left > 0 else { return Self.problem(401, "Unauthorized", "Token has expired") }
                state.accessTokens[token] = left - 1
            }
            state.calls += 1
            state.paths.append(request.uri.path)
            return answer(&state, FormURLEncoded.parse(request.uri.query ?? ""))
        }
    }

    private func token(_ body: Data) -> Response {
        state.withLock { state -> Response in
            guard let fields = try? JSONDecoder().decode([String: String].self, from: body),
                  fields["client_id"] == state.clientID, fields["client_secret"] == state.clientSecret else {
                return Self.problem(401, "Unauthorized", "Client authentication failed")
            }
            guard fields["grant_type"] == "refresh_token", let refresh = fields["refresh_token"], state.refreshTokens.contains(refresh) else {
                return Self.problem(400, "Bad Request", "Refresh token has been revoked")
            }
            // Rotation: the refresh token just used stops working.
            state.refreshTokens.remove(refresh)
            state.issued += 1
            let access = "eyJ.fake-access-\(state.issued)"
            let next = "def502fake-refresh-\(state.issued)"
            state.refreshTokens.insert(next)
            state.accessTokens[access] = state.knobs.tokenLifetimeCalls
            return Self.json(.ok, #"{"token_type": "Bearer", "expires_in": 86400, "access_token": "\#(access)", "refresh_token": "\#(next)"}"#,
                             type: "application/json")
        }
    }

    private func values(_ query: [(key: String, value: String)], _ key: String) -> [String] { query.filter { $0.key == key }.map(\.value) }
    private func value(_ query: [(key: String, value: String)], _ key: String) -> String? { query.first { $0.key == key }?.value }

    private func leads(_ state: inout State, _ query: [(key: String, value: String)], _ request: Request) -> Response {
        let limit = Int(value(query, "limit") ?? "") ?? 50
        guard limit <= 250 else { return Self.problem(400, "Bad Request", "limit must be 250 or less") }
        let page = max(1, Int(value(query, "page") ?? "") ?? 1)
        let ids = values(query, "filter[id][]").compactMap(Int64.init)
        var leads: [Lead]
        if !ids.isEmpty {
            leads = Set(ids).compactMap { state.leads[$0] }.sorted { $0.id < $1.id }
        } else {
            // Every list is served in (updated_at, id) order here, which is what `order[updated_at]=asc` asks.
            let order = state.ordered()
            var first = 0
            if let from = value(query, "filter[updated_at][from]").flatMap(Int64.init) {
                var (low, high) = (0, order.count)
                while low < high {
                    let middle = (low + high) / 2
                    if state.leads[order[middle]]!.updatedAt < from { low = middle + 1 } else { high = middle }
                }
                first = low
            }
            let hidden = state.knobs.missingFromLists
            let window = order[first...].lazy.filter { !hidden.contains($0) }.dropFirst((page - 1) * limit).prefix(limit + 1)
            leads = window.map { state.leads[$0]! }
            let total = order.count - first - (hidden.isEmpty ? 0 : order[first...].filter { hidden.contains($0) }.count)
            let slice = leads.prefix(limit)
            guard !slice.isEmpty else { return Response(status: .noContent) }
            let withContacts = (value(query, "with") ?? "").contains("contacts")
            let items = slice.map { lead(state, $0, withContacts: withContacts, withCatalog: (value(query, "with") ?? "").contains("catalog_elements")) }
            state.listCalls += 1
            for id in state.knobs.editsAfterListCall[state.listCalls] ?? [] {
                guard var edited = state.leads[id] else { continue }
                state.clock += 1
                edited.updatedAt = state.clock
                state.leads[id] = edited
                state.byUpdate = nil
            }
            return Self.json(.ok, #"{"_page": \#(page), "_links": {"self": {"href": "/api/v4/leads?page=\#(page)"}\#(Self.next(page, limit, total, "leads"))}, "_embedded": {"leads": [\#(items.joined(separator: ", "))]}}"#)
        }
        let slice = leads.dropFirst((page - 1) * limit).prefix(limit)
        guard !slice.isEmpty else { return Response(status: .noContent) }
        let withContacts = (value(query, "with") ?? "").contains("contacts")
        let items = slice.map { lead(state, $0, withContacts: withContacts, withCatalog: (value(query, "with") ?? "").contains("catalog_elements")) }
        return Self.json(.ok, #"{"_page": \#(page), "_links": {"self": {"href": "/api/v4/leads?page=\#(page)"}\#(Self.next(page, limit, leads.count, "leads"))}, "_embedded": {"leads": [\#(items.joined(separator: ", "))]}}"#)
    }

    static func next(_ page: Int, _ limit: Int, _ total: Int, _ path: String) -> String {
        page * limit < total ? #", "next": {"href": "/api/v4/\#(path)?page=\#(page + 1)&limit=\#(limit)"}"# : ""
    }

    private func text(_ value: String?) -> String {
        guard let value else { return "null" }
        return String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }

    private func lead(_ state: State, _ lead: Lead, withContacts: Bool, withCatalog: Bool) -> String {
        let fields = lead.fields.sorted { $0.key < $1.key }.map { id, field in
            #"{"field_id": \#(id), "field_name": \#(text(field.name)), "field_code": \#(text(field.code)), "field_type": "\#(field.code?.hasPrefix("UTM") == true ? "tracking_data" : "text")", "values": [{"value": \#(text(field.value))}]}"#
        }
        let custom = fields.isEmpty ? "null" : "[\(fields.joined(separator: ", "))]"
        let price = state.knobs.malformedPrice.contains(lead.id) ? #""45 000 руб""# : String(lead.price)
        let status = state.knobs.strayStage.contains(lead.id) ? 99999 : lead.statusID
        let contacts = withContacts
            ? #", "contacts": [\#(lead.contactIDs.enumerated().map { #"{"id": \#($1), "is_main": \#($0 == 0), "_links": {"self": {"href": "/api/v4/contacts/\#($1)"}}}"# }.joined(separator: ", "))]"#
            : ""
        let elements = (value: lead.products.map { #"{"id": \#($0.element), "metadata": {"quantity": \#($0.quantity), "catalog_id": \#(Self.catalogID)}}"# }, asked: withCatalog)
        let catalogElements = elements.asked ? #", "catalog_elements": [\#(elements.value.joined(separator: ", "))]"# : ""
        let tags = lead.tags.enumerated().map { #"{"id": \#(50 + $0), "name": \#(text($1))}"# }.joined(separator: ", ")
        return #"{"id": \#(lead.id), "name": \#(text(lead.name)), "price": \#(price), "responsible_user_id": \#(lead.responsibleUserID), "group_id": 0, "status_id": \#(status), "pipeline_id": \#(lead.pipelineID), "loss_reason_id": null, "created_by": 504141, "updated_by": 504141, "created_at": \#(lead.createdAt), "updated_at": \#(lead.updatedAt), "closed_at": \#(lead.closedAt.map(String.init) ?? "null"), "closest_task_at": null, "is_deleted": false, "custom_fields_values": \#(custom), "score": null, "account_id": 29000001, "_links": {"self": {"href": "/api/v4/leads/\#(lead.id)"}}, "_embedded": {"tags": [\#(tags)], "companies": []\#(contacts)\#(catalogElements)}}"#
    }

    private func elements(catalog: String, _ query: [(key: String, value: String)]) -> Response {
        guard catalog == String(Self.catalogID) else { return Self.problem(404, "Not Found", "Catalog not found") }
        let ids = values(query, "filter[id][]").compactMap(Int64.init)
        let found = ids.compactMap { id in Self.catalog[id].map { (id, $0) } }
        guard !found.isEmpty else { return Response(status: .noContent) }
        let items = found.map { id, element in
            #"{"id": \#(id), "name": \#(text(element.name)), "catalog_id": \#(Self.catalogID), "custom_fields_values": [{"field_id": 800001, "field_name": "Цена", "field_code": "PRICE", "field_type": "price", "values": [{"value": "\#(element.price)"}]}]}"#
        }
        return Self.json(.ok, #"{"_page": 1, "_links": {"self": {"href": "/api/v4/catalogs/\#(catalog)/elements"}}, "_embedded": {"elements": [\#(items.joined(separator: ", "))]}}"#)
    }

    private func pipelinesAnswer(added: Int64?) -> Response {
        let pipelines = Self.pipelines.enumerated().map { index, pipeline in
            let listed = pipeline.statuses + (pipeline.id == 3001 ? added.map { [(id: $0, name: "Новый этап", type: 0)] } ?? [] : [])
            let statuses = listed.enumerated().map { order, status in
                #"{"id": \#(status.id), "name": \#(text(status.name)), "sort": \#((order + 1) * 10), "is_editable": \#(status.type == 0), "pipeline_id": \#(pipeline.id), "type": \#(status.type), "account_id": 29000001}"#
            }
            return #"{"id": \#(pipeline.id), "name": \#(text(pipeline.name)), "sort": \#(index + 1), "is_main": \#(index == 0), "is_unsorted_on": true, "is_archive": false, "account_id": 29000001, "_links": {"self": {"href": "/api/v4/leads/pipelines/\#(pipeline.id)"}}, "_embedded": {"statuses": [\#(statuses.joined(separator: ", "))]}}"#
        }
        return Self.json(.ok, #"{"_total_items": \#(pipelines.count), "_links": {"self": {"href": "/api/v4/leads/pipelines"}}, "_embedded": {"pipelines": [\#(pipelines.joined(separator: ", "))]}}"#)
    }

    private func contacts(_ state: inout State, _ query: [(key: String, value: String)]) -> Response {
        let ids = values(query, "filter[id][]").compactMap(Int64.init)
        let found = ids.compactMap { state.contacts[$0] }
        guard !found.isEmpty else { return Response(status: .noContent) }
        let items = found.map { contact in
            let phones = contact.phones.map { #"{"value": \#(text($0)), "enum_id": 300001, "enum_code": "WORK"}"# }.joined(separator: ", ")
            let emails = contact.emails.map { #"{"value": \#(text($0)), "enum_id": 300011, "enum_code": "WORK"}"# }.joined(separator: ", ")
            return #"{"id": \#(contact.id), "name": \#(text(contact.name)), "responsible_user_id": 504141, "created_at": 1709280000, "updated_at": 1709280000, "is_deleted": false, "custom_fields_values": [{"field_id": 600001, "field_name": "Телефон", "field_code": "PHONE", "field_type": "multitext", "values": [\#(phones)]}, {"field_id": 600003, "field_name": "Email", "field_code": "EMAIL", "field_type": "multitext", "values": [\#(emails)]}], "account_id": 29000001, "_embedded": {"tags": [], "companies": []}}"#
        }
        return Self.json(.ok, #"{"_page": 1, "_links": {"self": {"href": "/api/v4/contacts"}}, "_embedded": {"contacts": [\#(items.joined(separator: ", "))]}}"#)
    }

    private func events(_ state: inout State, _ query: [(key: String, value: String)], _ request: Request) -> Response {
        let limit = Int(value(query, "limit") ?? "") ?? 50
        guard limit <= 100 else { return Self.problem(400, "Bad Request", "limit must be 100 or less") }
        let ids = Set(values(query, "filter[entity_id][]").compactMap(Int64.init))
        guard ids.count <= 10 else { return Self.problem(400, "Bad Request", "filter[entity_id] takes at most 10 ids") }
        let page = max(1, Int(value(query, "page") ?? "") ?? 1)
        let types = Set(values(query, "filter[type][]") + values(query, "filter[type]"))
        let from = value(query, "filter[created_at][from]").flatMap(Int64.init)
        let events = state.events.filter { event in
            (types.isEmpty || types.contains(event.type)) && (from.map { event.createdAt >= $0 } ?? true) && (ids.isEmpty || ids.contains(event.leadID))
        }
        let slice = events.dropFirst((page - 1) * limit).prefix(limit)
        guard !slice.isEmpty else { return Response(status: .noContent) }
        let items = slice.map { event in
            #"{"id": "\#(event.id)", "type": "\#(event.type)", "entity_id": \#(event.leadID), "entity_type": "lead", "created_by": 504141, "created_at": \#(event.createdAt), "value_after": \#(event.after), "value_before": \#(event.before), "account_id": 29000001, "_links": {"self": {"href": "/api/v4/events/\#(event.id)"}}}"#
        }
        return Self.json(.ok, #"{"_page": \#(page), "_links": {"self": {"href": "/api/v4/events?page=\#(page)"}\#(Self.next(page, limit, events.count, "events"))}, "_embedded": {"events": [\#(items.joined(separator: ", "))]}}"#)
    }
}
