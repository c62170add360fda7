import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Meta
import NIOCore
import Synchronization

/// A fake of the Meta Marketing API Ads Insights: `GET /{v}/act_{id}/insights` at ad level per
/// day with cursor paging (`paging.next`), every number a string, the Graph error body with the
/// real rate-limit codes and `X-Business-Use-Case-Usage`, and async reports
/// (`POST …/insights` → `GET /{run}` → `GET /{run}/insights`).
public final class FakeMeta: Sendable {
    public struct Knobs: Sendable {
        public struct Failure: Sendable {
            public var code: Int
            public var subcode: Int?
            public var transient: Bool
            public var status: Int
            public init(code: Int, subcode: Int? = nil, transient: Bool = false, status: Int = 400) {
                self.code = code
                self.subcode = subcode
                self.transient = transient
                self.status = status
            }
        }
        /// Errors answered first, one per call.
        public var failures: [Failure] = []
        /// Refuse synchronous insights (code 100 / 1504018): the client must use async reports.
        public var refuseSynchronous = false
        /// "Job Running" answers before "Job Completed".
        public var asyncPolls = 2
        public var maxPageSize = 1000
        /// Every ad creative's `url_tags` (may hold `{{campaign.name}}`-style macros); nil: none.
        public var urlTags: String?
        public init() {}
    }

    struct State {
        var rows: [String: [MetaInsightsClient.Row]] = [:]
        var knobs = Knobs()
        var token = ""
        var runs: [String: (account: String, from: LocalDay, to: LocalDay, polls: Int)] = [:]
        var pagesServed = 0
        var asyncRuns = 0
    }

    private let state = Mutex(State())

    public init(accessToken: String) { state.withLock { $0.token = accessToken } }
    public func setRows(_ rows: [MetaInsightsClient.Row], account: String) { state.withLock { $0.rows[account] = rows } }
    public func setKnobs(_ knobs: Knobs) { state.withLock { $0.knobs = knobs } }
    public var pagesServed: Int { state.withLock { $0.pagesServed } }
    public var asyncRuns: Int { state.withLock { $0.asyncRuns } }

    /// Spend per day and campaign.
    public func totals(account: String) -> [LocalDay: [String: Micros]] {
        state.withLock { state in
            var totals: [LocalDay: [String: Micros]] = [:]
            for row in state.rows[account] ?? [] { totals[row.day, default: [:]][row.campaignID, default: .zero] += row.spend }
            return totals
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/:version/:object/insights") { request, context in
            self.insights(request, version: context.parameters.get("version") ?? "", object: context.parameters.get("object") ?? "", post: false)
        }
        router.post("/:version/:object/insights") { request, context in
            self.insights(request, version: context.parameters.get("version") ?? "", object: context.parameters.get("object") ?? "", post: true)
        }
        router.get("/:version/:object/ads") { request, context in
            self.ads(request, object: context.parameters.get("object") ?? "")
        }
        router.get("/:version/:object") { request, context in
            self.runStatus(request, run: context.parameters.get("object") ?? "")
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=UTF-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ failure: Knobs.Failure, _ message: String) -> Response {
        let subcode = failure.subcode.map { #", "error_subcode": \#($0)"# } ?? ""
        var headers: HTTPFields = [:]
        if (80000...80014).contains(failure.code) || failure.code == 17 {
            headers[HTTPField.Name("X-Business-Use-Case-Usage")!] =
                #"{"1234567890":[{"type":"ads_insights","call_count":100,"total_cputime":40,"total_time":60,"estimated_time_to_regain_access":0}]}"#
        }
        return json(HTTPResponse.Status(code: failure.status),
                    #"{"error": {"message": "\#(message)", "type": "OAuthException", "code": \#(failure.code)\#(subcode), "is_transient": \#(failure.transient), "fbtrace_id": "AbC123"}}"#,
                    headers: headers)
    }

    /// Common checks; returns an error response or nil.
    private func gate(_ request: Request, _ state: inout State) -> Response? {
        if !state.knobs.failures.isEmpty {
            let failure = state.knobs.failures.removeFirst()
            let messages = [17: "(#17) User request limit reached", 613: "(#613) Calls to this api have exceeded the rate limit.",
                            4: "(#4) Application request limit reached", 80000: "(#80000) There have been too many calls from this ad-account.",
                            190: "Error validating access token: Session has expired", 100: "(#100) Invalid parameter",
                            2: "An unexpected error has occurred. Please retry your request later."]
            return Self.error(failure, messages[failure.code] ?? "Error")
        }
        guard request.headers[.authorization] == "Bearer \(state.token)" else {
            return Self.error(.init(code: 190, status: 400), "Error validating access token: Session has expired")
        }
        return nil
    }

    func insights(_ request: Request, version: String, object: String, post: Bool) -> Response {
        state.withLock { state -> Response in
            if let refusal = gate(request, &state) { return refusal }
            let query = request.uri.queryParameters
            let limit = min(Int(query.get("limit") ?? "") ?? 25, state.knobs.maxPageSize)
            let offset = Int((query.get("after") ?? "").dropFirst(3)) ?? 0
            let account: String
            let from: LocalDay
            let to: LocalDay
            if object.hasPrefix("act_") {
                guard query.get("level") == "ad", query.get("time_increment") == "1",
                      let range = query.get("time_range").flatMap({ try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }),
                      let since = range["since"].flatMap({ LocalDay(iso: $0) }), let until = range["until"].flatMap({ LocalDay(iso: $0) })
                else {
                    return Self.error(.init(code: 100, status: 400), "(#100) Invalid parameter")
                }
                account = String(object.dropFirst(4))
                (from, to) = (since, until)
                if post {
                    state.asyncRuns += 1
                    let run = "60239201490\(state.asyncRuns)"
                    state.runs[run] = (account, from, to, 0)
                    return Self.json(.ok, #"{"report_run_id": "\#(run)"}"#)
                }
                if state.knobs.refuseSynchronous {
                    return Self.error(.init(code: 100, subcode: 1_504_018, status: 400),
                                      "(#100) The request was too large to process; please reduce the date range or use async")
                }
            } else {
                guard let run = state.runs[object], run.polls > state.knobs.asyncPolls else {
                    return Self.error(.init(code: 100, status: 400), "(#100) The report is not ready")
                }
                (account, from, to) = (run.account, run.from, run.to)
            }
            state.pagesServed += 1
            let rows = (state.rows[account] ?? []).filter { from <= $0.day && $0.day <= to }
            let page = rows.dropFirst(offset).prefix(limit)
            let data = page.map { row in
                #"{"account_id": "\#(account)", "campaign_id": "\#(row.campaignID)", "campaign_name": "\#(row.campaignName)", "adset_id": "\#(row.adSetID)", "adset_name": "\#(row.adSetName)", "#
                    + #""ad_id": "\#(row.adID)", "ad_name": "\#(row.adName)", "impressions": "\#(row.impressions)", "clicks": "\#(row.clicks)", "spend": "\#(Self.graphNumber(row.spend))", "#
                    + #""account_currency": "\#(row.currency ?? "USD")", "date_start": "\#(row.day)", "date_stop": "\#(row.day)"}"#
            }
            return Self.json(.ok, #"{"data": [\#(data.joined(separator: ", "))], \#(Self.paging(request, offset: offset, count: page.count, total: rows.count))}"#)
        }
    }

    /// `"paging": {"cursors": ..., "next": ...}`, `next` only when more rows follow.
    static func paging(_ request: Request, offset: Int, count: Int, total: Int) -> String {
        var paging = #""paging": {"cursors": {"before": "off\#(offset)", "after": "off\#(offset + count)"}"#
        if offset + count < total {
            var components = URLComponents(string: "http://\(request.head.authority ?? "127.0.0.1")\(request.uri.path)")!
            components.queryItems = request.uri.queryParameters.map { URLQueryItem(name: String($0.key), value: String($0.value)) }
                .filter { $0.name != "after" } + [URLQueryItem(name: "after", value: "off\(offset + count)")]
            paging += #", "next": "\#(components.string!)""#
        }
        return paging + "}"
    }

    /// `GET /{v}/act_{id}/ads?fields=id,creative{url_tags}`: the account's ads, with their
    /// creative's URL tags when the knob sets them.
    func ads(_ request: Request, object: String) -> Response {
        state.withLock { state -> Response in
            if let refusal = gate(request, &state) { return refusal }
            let query = request.uri.queryParameters
            guard object.hasPrefix("act_"), let fields = query.get("fields"), fields.contains("creative") else {
                return Self.error(.init(code: 100, status: 400), "(#100) Invalid parameter")
            }
            let limit = min(Int(query.get("limit") ?? "") ?? 25, state.knobs.maxPageSize)
            let offset = Int((query.get("after") ?? "").dropFirst(3)) ?? 0
            var ads: [String] = []
            var seen = Set<String>()
            for row in state.rows[String(object.dropFirst(4))] ?? [] where seen.insert(row.adID).inserted { ads.append(row.adID) }
            let page = ads.dropFirst(offset).prefix(limit)
            let tags = state.knobs.urlTags.map { #", "url_tags": "\#($0)""# } ?? ""
            let data = page.map { #"{"id": "\#($0)", "creative": {"id": "9\#($0)"\#(tags)}}"# }
            return Self.json(.ok, #"{"data": [\#(data.joined(separator: ", "))], \#(Self.paging(request, offset: offset, count: page.count, total: ads.count))}"#)
        }
    }

    func runStatus(_ request: Request, run: String) -> Response {
        state.withLock { state -> Response in
            if let refusal = gate(request, &state) { return refusal }
            guard var job = state.runs[run] else { return Self.error(.init(code: 100, status: 400), "(#100) Unknown object") }
            job.polls += 1
            state.runs[run] = job
            let done = job.polls > state.knobs.asyncPolls
            let percent = done ? 100 : job.polls * 100 / (state.knobs.asyncPolls + 1)
            return Self.json(.ok, #"{"id": "\#(run)", "account_id": "\#(job.account)", "async_status": "\#(done ? "Job Completed" : "Job Running")", "async_percent_completion": \#(percent)}"#)
        }
    }

    /// `5339.5`, `12`, `0.01`: Meta prints amounts without trailing zeros.
    static func graphNumber(_ amount: Micros) -> String {
        var text = amount.description
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
