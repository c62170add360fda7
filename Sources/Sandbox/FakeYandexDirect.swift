import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import YandexDirect

/// A fake of the Yandex Direct Reports service (`POST /json/v5/reports`) speaking its wire
/// format: TSV bodies with the title line, column line and `Total rows` summary as the request
/// headers ask, money in micros or decimals, `IncludeVAT`, 201/202 with `retryIn` for offline
/// reports, the `{"error": {...}}` body with the real error codes, and `Client-Login` for agency
/// tokens. It keeps its own rows, so tests reconcile against it exactly.
public final class FakeYandexDirect: Sendable {
    /// Behaviour switches for unhappy paths.
    public struct Knobs: Sendable {
        /// 201/202 answers before the report is ready (per distinct report).
        public var offlinePolls = 0
        /// The `retryIn` header value, seconds.
        public var retryIn = 0
        /// API error codes answered first, one per request, in order (then normal answers).
        public var errorCodes: [Int] = []
        /// Corrupt the Cost of the first row of this day (bad data test).
        public var malformedDay: LocalDay?
        /// Cut the body short: drop the last data row but keep `Total rows` (truncation test).
        public var truncate = false
        /// Tokens that belong to an agency (they need `Client-Login`).
        public var agencyTokens: Set<String> = []
        /// Every text ad's `Href` (may hold Direct macros such as `{campaign_id}`); nil: no link.
        public var adHref: String?
        /// Every ad group's `TrackingParams`; nil: none.
        public var trackingParams: String?
        /// API error codes answered first by `AdGroups.get` / `Ads.get` (HTTP 200, error body).
        public var objectErrorCodes: [Int] = []
        /// Objects per page of `AdGroups.get` / `Ads.get` before `LimitedBy` truncates it.
        public var objectsPageLimit = 10_000
        public init() {}
    }

    struct State {
        var rows: [String: [DirectReportRow]] = [:]
        var tokens: [String: String] = [:]  // token → login (advertiser tokens)
        var knobs = Knobs()
        var polls: [String: Int] = [:]
        var requests: [(login: String, from: LocalDay, to: LocalDay)] = []
        var objectCalls: [String] = []
        var objects: [String: [Int64: [DirectReportRow]]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers an advertiser token for `login`.
    public func addToken(_ token: String, login: String) { state.withLock { state in state.tokens[token] = login } }
    /// Registers an agency token (it may ask for any login via `Client-Login`).
    public func addAgencyToken(_ token: String) { _ = state.withLock { $0.knobs.agencyTokens.insert(token) } }
    /// Replaces the statistics of `login` (costs stored without VAT).
    public func setRows(_ rows: [DirectReportRow], login: String) {
        var objects: [Int64: [DirectReportRow]] = [:]  // campaign → one row per distinct (group, ad)
        var seen = Set<[Int64?]>()
        for row in rows where seen.insert([row.campaignID, row.adGroupID, row.adID]).inserted { objects[row.campaignID, default: []].append(row) }
        state.withLock {
            $0.rows[login] = rows
            $0.objects[login] = objects
        }
    }
    public func setKnobs(_ knobs: Knobs) {
        state.withLock { state in
            let agency = state.knobs.agencyTokens
            state.knobs = knobs
            state.knobs.agencyTokens.formUnion(agency)
        }
    }
    /// Every `AdGroups.get` / `Ads.get` call served (`adgroups`, `ads`), in order.
    public var objectCalls: [String] { state.withLock { $0.objectCalls } }
    /// The title the fake gives ad `id`.
    public static func title(ofAd id: Int64) -> String { "Объявление \(id)" }
    /// Every report request served (login and period), in order.
    public var requests: [(login: String, from: LocalDay, to: LocalDay)] { state.withLock { $0.requests } }

    /// Cost without VAT per day and campaign: the figure a collector must reproduce.
    public func totals(login: String) -> [LocalDay: [Int64: Micros]] {
        state.withLock { state in
            var totals: [LocalDay: [Int64: Micros]] = [:]
            for row in state.rows[login] ?? [] { totals[row.day, default: [:]][row.campaignID, default: .zero] += row.cost }
            return totals
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/json/v5/reports") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return self.answer(headers: request.headers, body: Array(body.readableBytesView))
        }
        for service in ["adgroups", "ads"] {
            router.post("/json/v5/\(service)") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                return self.objects(service, headers: request.headers, body: Array(body.readableBytesView))
            }
        }
        return router
    }

    private struct ReportRequest: Decodable {
        struct Params: Decodable {
            struct Selection: Decodable { let DateFrom: String?; let DateTo: String? }
            let SelectionCriteria: Selection
            let FieldNames: [String]
            let ReportName: String
            let ReportType: String
            let DateRangeType: String
            let Format: String
            let IncludeVAT: String
        }
        let params: Params
    }

    func answer(headers: HTTPFields, body: [UInt8]) -> Response {
        let error = Self.error
        let header = { (name: String) in headers[HTTPField.Name(name)!] }
        return state.withLock { state -> Response in
            if !state.knobs.errorCodes.isEmpty {
                let code = state.knobs.errorCodes.removeFirst()
                let texts = [52: "Authorization server unavailable", 53: "Authorization error", 56: "Exceeded the limit on the number of method calls",
                             152: "Insufficient units", 506: "Exceeded the limit on the number of concurrent connections",
                             1000: "Service temporarily unavailable", 1001: "Server error", 1002: "Server error",
                             9000: "Too many reports in the offline queue"]
                return error(code >= 1000 ? .internalServerError : .badRequest, code, texts[code] ?? "Error", "")
            }
            let login: String
            switch Self.login(headers: headers, state: state) {
            case .success(let found): login = found
            case .failure(let failure): return failure.response
            }
            guard let parsed = try? JSONDecoder().decode(ReportRequest.self, from: Data(body)) else {
                return error(.badRequest, 8000, "Invalid request", "The request body is not a valid ReportDefinition")
            }
            let params = parsed.params
            guard params.Format == "TSV", params.ReportType == "CUSTOM_REPORT", params.DateRangeType == "CUSTOM_DATE",
                  ["YES", "NO"].contains(params.IncludeVAT),
                  let from = params.SelectionCriteria.DateFrom.flatMap({ LocalDay(iso: $0) }),
                  let to = params.SelectionCriteria.DateTo.flatMap({ LocalDay(iso: $0) }), from <= to
            else {
                return error(.badRequest, 8000, "Invalid request", "Invalid ReportDefinition parameters")
            }
            let unknown = params.FieldNames.filter { !DirectReportRow.fieldNames.contains($0) }
            guard unknown.isEmpty else {
                return error(.badRequest, 8000, "Invalid request", "Unknown field \(unknown[0])")
            }
            let polled = state.polls[params.ReportName, default: 0]
            if polled < state.knobs.offlinePolls {
                state.polls[params.ReportName] = polled + 1
                return Response(status: polled == 0 ? .created : .accepted,
                                headers: [HTTPField.Name("retryIn")!: String(state.knobs.retryIn), HTTPField.Name("reportsInQueue")!: "1"])
            }
            state.polls[params.ReportName] = nil
            state.requests.append((login, from, to))
            let micros = header("returnMoneyInMicros") != "false"
            let rows = (state.rows[login] ?? []).filter { from <= $0.day && $0.day <= to }
            var lines: [String] = []
            if header("skipReportHeader") != "true" { lines.append("\"\(params.ReportName) (\(from) - \(to))\"") }
            if header("skipColumnHeader") != "true" { lines.append(params.FieldNames.joined(separator: "\t")) }
            var dataLines = rows.map { row -> String in
                let cost = params.IncludeVAT == "YES" ? Self.withVAT(row.cost, on: row.day) : row.cost
                var costText = micros ? String(cost.value) : cost.text(places: 2)
                if row.day == state.knobs.malformedDay, row == rows.first(where: { $0.day == row.day }) { costText = "12,5.x" }
                return params.FieldNames.map { field -> String in
                    switch field {
                    case "Date": return row.day.description
                    case "CampaignId": return String(row.campaignID)
                    case "CampaignName": return row.campaignName
                    case "AdGroupId": return row.adGroupID.map(String.init) ?? "--"
                    case "AdGroupName": return row.adGroupName ?? "--"
                    case "AdId": return row.adID.map(String.init) ?? "--"
                    case "CriterionId": return row.criterionID.map(String.init) ?? "--"
                    case "Criterion": return row.criterion ?? "--"
                    case "Impressions": return String(row.impressions)
                    case "Clicks": return String(row.clicks)
                    case "Cost": return costText
                    case "Conversions": return row.conversions.map(String.init) ?? "--"
                    default: return "--"
                    }
                }.joined(separator: "\t")
            }
            let count = dataLines.count
            if state.knobs.truncate, !dataLines.isEmpty { dataLines.removeLast() }
            lines += dataLines
            if header("skipReportSummary") != "true" { lines.append("Total rows: \(count)") }
            return Response(status: .ok, headers: [.contentType: "text/tab-separated-values; charset=utf-8", HTTPField.Name("RequestId")!: "1"],
                            body: .init(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n")))
        }
    }

    static func error(_ status: HTTPResponse.Status, _ code: Int, _ text: String, _ detail: String) -> Response {
        let json = #"{"error":{"request_id":"8802841563234519862","error_code":\#(code),"error_string":"\#(text)","error_detail":"\#(detail)"}}"#
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", HTTPField.Name("RequestId")!: "8802841563234519862"],
                        body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    struct Refusal: Error { let response: Response }

    /// The advertiser a request acts for: its own token's login, or an agency token's `Client-Login`.
    static func login(headers: HTTPFields, state: State) -> Result<String, Refusal> {
        let header = { (name: String) in headers[HTTPField.Name(name)!] }
        guard let auth = header("Authorization"), auth.hasPrefix("Bearer ") else {
            return .failure(Refusal(response: error(.badRequest, 53, "Authorization error", "No OAuth token")))
        }
        let token = String(auth.dropFirst(7))
        if state.knobs.agencyTokens.contains(token) {
            guard let clientLogin = header("Client-Login") else {
                return .failure(Refusal(response: error(.badRequest, 8000, "Invalid request", "Client-Login is required for an agency token")))
            }
            return .success(clientLogin)
        }
        if let own = state.tokens[token] {
            if let clientLogin = header("Client-Login"), clientLogin != own {
                return .failure(Refusal(response: error(.badRequest, 54, "No rights", "No rights to the client \(clientLogin)")))
            }
            return .success(own)
        }
        return .failure(Refusal(response: error(.badRequest, 53, "Authorization error", "Invalid OAuth token")))
    }

    private struct GetRequest: Decodable {
        struct Params: Decodable {
            struct Selection: Decodable { let CampaignIds: [Int64]?; let Ids: [Int64]?; let AdGroupIds: [Int64]? }
            struct Page: Decodable { let Limit: Int?; let Offset: Int? }
            let SelectionCriteria: Selection
            let FieldNames: [String]
            let Page: Page?
            let TextAdFieldNames: [String]?
        }
        let method: String
        let params: Params
    }

    /// `AdGroups.get` and `Ads.get` over the objects the fake's rows mention. Errors come as the
    /// `{"error": ...}` body with HTTP 200, as Direct's JSON services send them.
    func objects(_ service: String, headers: HTTPFields, body: [UInt8]) -> Response {
        state.withLock { state -> Response in
            if !state.knobs.objectErrorCodes.isEmpty {
                let code = state.knobs.objectErrorCodes.removeFirst()
                return Self.error(.ok, code, code == 152 ? "Insufficient units" : "Server error", "")
            }
            let login: String
            switch Self.login(headers: headers, state: state) {
            case .success(let found): login = found
            case .failure(let failure): return failure.response
            }
            guard let parsed = try? JSONDecoder().decode(GetRequest.self, from: Data(body)), parsed.method == "get" else {
                return Self.error(.ok, 8000, "Invalid request", "The request body is not a valid get request")
            }
            let selection = parsed.params.SelectionCriteria
            guard selection.CampaignIds != nil || selection.Ids != nil || selection.AdGroupIds != nil else {
                return Self.error(.ok, 4001, "Invalid request parameters", "SelectionCriteria must contain Ids, AdGroupIds or CampaignIds")
            }
            if let ids = selection.CampaignIds, ids.count > 10 {
                return Self.error(.ok, 4001, "Invalid request parameters", "Array CampaignIds may contain no more than 10 elements")
            }
            state.objectCalls.append(service)
            let rows = (selection.CampaignIds ?? []).flatMap { state.objects[login]?[$0] ?? [] }
            var seen = Set<Int64>()
            var items: [String] = []
            for row in rows {
                func text(_ value: String?) -> String {
                    guard let value else { return "null" }
                    let data = try! JSONEncoder().encode(value)
                    return String(decoding: data, as: UTF8.self)
                }
                if service == "adgroups", let group = row.adGroupID, seen.insert(group).inserted {
                    items.append(#"{"Id":\#(group),"CampaignId":\#(row.campaignID),"Name":\#(text(row.adGroupName)),"TrackingParams":\#(text(state.knobs.trackingParams))}"#)
                } else if service == "ads", let ad = row.adID, seen.insert(ad).inserted {
                    items.append(#"{"Id":\#(ad),"CampaignId":\#(row.campaignID),"AdGroupId":\#(row.adGroupID ?? 0),"Type":"TEXT_AD","TextAd":{"Title":\#(text(Self.title(ofAd: ad))),"Href":\#(text(state.knobs.adHref))}}"#)
                }
            }
            let offset = max(0, parsed.params.Page?.Offset ?? 0)
            let limit = min(parsed.params.Page?.Limit ?? 10_000, state.knobs.objectsPageLimit)
            let page = items.dropFirst(offset).prefix(limit)
            let truncated = offset + page.count < items.count
            let key = service == "ads" ? "Ads" : "AdGroups"
            let limitedBy = truncated ? #","LimitedBy":\#(offset + page.count)"# : ""
            let json = #"{"result":{"\#(key)":[\#(page.joined(separator: ","))]\#(limitedBy)}}"#
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", HTTPField.Name("Units")!: "10/27995466/28000500"],
                            body: .init(byteBuffer: ByteBuffer(string: json)))
        }
    }

    /// Cost with Russian VAT of its day, rounded to the kopeck (Direct rounds micros to 10 000).
    static func withVAT(_ cost: Micros, on day: LocalDay) -> Micros {
        let percent: Int64 = day < LocalDay(year: 2026, month: 1, day: 1)! ? 120 : 122
        let scaled = cost.value * percent
        let rounded = (scaled + 50 * 10_000) / (100 * 10_000) * 10_000
        return Micros(rounded)
    }

}
