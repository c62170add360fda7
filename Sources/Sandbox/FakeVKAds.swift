import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import VKAds

/// A fake of the VK Ads API v2 (and legacy myTarget, same engine): OAuth token creation with a
/// cap on live tokens, refresh and deletion; object listings with `limit/offset`; daily banner
/// statistics with the 200-id and 92-day limits, zero rows for idle days and money as decimal
/// strings; `X-RateLimit-*` headers and 429.
public final class FakeVKAds: Sendable {
    public struct Banner: Sendable {
        public var id: Int64
        public var name: String
        /// The ad group (VK Ads) or campaign (myTarget) it belongs to.
        public var parent: Int64
        public init(id: Int64, name: String, parent: Int64) {
            self.id = id
            self.name = name
            self.parent = parent
        }
    }

    public struct Stat: Sendable {
        public var shows: Int64
        public var clicks: Int64
        public var goals: Int64
        public var spent: Micros
        public init(shows: Int64, clicks: Int64, goals: Int64, spent: Micros) {
            self.shows = shows
            self.clicks = clicks
            self.goals = goals
            self.spent = spent
        }
    }

    public struct Knobs: Sendable {
        /// Statistics calls answered 429 (RPS window exhausted) before normal answers.
        public var tooManyRequests = 0
        /// Live tokens allowed per client.
        public var maxLiveTokens = 5
        /// The `utm` of every ad group (VK Ads) or campaign (myTarget), served when `fields` asks
        /// for it; may hold `{{macros}}`. nil: an empty setting.
        public var utm: String?
        public init() {}
    }

    struct State {
        var flavor: VKAdsClient.Flavor
        var clientID: String
        var clientSecret: String
        var campaigns: [(Int64, String)] = []
        var groups: [(Int64, String, Int64)] = []
        var banners: [Banner] = []
        var stats: [Int64: [LocalDay: Stat]] = [:]
        var knobs = Knobs()
        var live: [String: String] = [:]  // access token → refresh token
        var issued = 0
        var statCalls = 0
    }

    private let state: Mutex<State>

    public init(flavor: VKAdsClient.Flavor, clientID: String, clientSecret: String) {
        state = Mutex(State(flavor: flavor, clientID: clientID, clientSecret: clientSecret))
    }

    public func setObjects(campaigns: [(Int64, String)], groups: [(Int64, String, Int64)], banners: [Banner]) {
        state.withLock {
            $0.campaigns = campaigns
            $0.groups = groups
            $0.banners = banners
        }
    }
    public func setStats(_ stats: [Int64: [LocalDay: Stat]]) { state.withLock { $0.stats = stats } }
    public func setKnobs(_ knobs: Knobs) { state.withLock { $0.knobs = knobs } }
    /// Tokens created (not refreshed) so far.
    public var tokensIssued: Int { state.withLock { $0.issued } }
    public var statCalls: Int { state.withLock { $0.statCalls } }
    /// Revokes every live token (the next API call gets 401).
    public func revokeTokens() { state.withLock { $0.live.removeAll() } }

    /// Spend per day and campaign id.
    public func totals() -> [LocalDay: [String: Micros]] {
        state.withLock { state in
            let groupCampaign = Dictionary(state.groups.map { ($0.0, $0.2) }, uniquingKeysWith: { a, _ in a })
            var totals: [LocalDay: [String: Micros]] = [:]
            for banner in state.banners {
                let campaign = state.flavor == .vkAds ? groupCampaign[banner.parent] ?? 0 : banner.parent
                for (day, stat) in state.stats[banner.id] ?? [:] where stat.spent != .zero || stat.shows != 0 || stat.clicks != 0 {
                    totals[day, default: [:]][String(campaign), default: .zero] += stat.spent
                }
            }
            return totals
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/api/v2/oauth2/token.json") { request, _ -> Response in
            let form = Self.form(String(buffer: try await request.body.collect(upTo: 1 << 16)))
            return self.token(form)
        }
        router.post("/api/v2/oauth2/token/delete.json") { request, _ -> Response in
            let form = Self.form(String(buffer: try await request.body.collect(upTo: 1 << 16)))
            return self.state.withLock { state in
                guard form["client_id"] == state.clientID, form["client_secret"] == state.clientSecret else {
                    return Self.json(.unauthorized, #"{"error": "invalid_client", "error_description": "Invalid client credentials"}"#)
                }
                state.live.removeAll()
                return Response(status: .noContent)
            }
        }
        router.get("/api/v2/:objects") { request, context -> Response in
            self.list(request, objects: context.parameters.get("objects") ?? "")
        }
        router.get("/api/v2/statistics/banners/day.json") { request, _ -> Response in self.statistics(request) }
        return router
    }

    static func form(_ body: String) -> [String: String] {
        Dictionary(body.split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }, uniquingKeysWith: { a, _ in a })
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json", HTTPField.Name("X-RateLimit-RPS-Limit")!: "10",
                                           HTTPField.Name("X-RateLimit-RPS-Remaining")!: "9", HTTPField.Name("X-RateLimit-Hourly-Limit")!: "3600",
                                           HTTPField.Name("X-RateLimit-Hourly-Remaining")!: "3599"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func token(_ form: [String: String]) -> Response {
        state.withLock { state -> Response in
            guard form["client_id"] == state.clientID, form["client_secret"] == state.clientSecret else {
                return Self.json(.unauthorized, #"{"error": "invalid_client", "error_description": "Invalid client credentials"}"#)
            }
            switch form["grant_type"] {
            case "refresh_token":
                guard let old = state.live.first(where: { $0.value == form["refresh_token"] })?.key else {
                    return Self.json(.badRequest, #"{"error": "invalid_grant", "error_description": "Invalid refresh token"}"#)
                }
                let refresh = state.live.removeValue(forKey: old)!
                let access = "vk-access-\(UUID().uuidString.prefix(8))"
                state.live[access] = refresh
                return Self.json(.ok, #"{"access_token": "\#(access)", "token_type": "Bearer", "scope": ["read_ads", "read_stats"], "expires_in": 86400, "refresh_token": "\#(refresh)", "tokens_left": \#(state.knobs.maxLiveTokens - state.live.count)}"#)
            case "client_credentials", "agency_client_credentials":
                guard state.live.count < state.knobs.maxLiveTokens else {
                    return Self.json(.badRequest, #"{"error": "token_limit_exceeded", "error_description": "Token limit exceeded"}"#)
                }
                state.issued += 1
                let access = "vk-access-\(state.issued)"
                let refresh = "vk-refresh-\(state.issued)"
                state.live[access] = refresh
                return Self.json(.ok, #"{"access_token": "\#(access)", "token_type": "Bearer", "scope": ["read_ads", "read_stats"], "expires_in": 86400, "refresh_token": "\#(refresh)", "tokens_left": \#(state.knobs.maxLiveTokens - state.live.count)}"#)
            default:
                return Self.json(.badRequest, #"{"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}"#)
            }
        }
    }

    private func authorized(_ request: Request, _ state: State) -> Bool {
        guard let auth = request.headers[.authorization], auth.hasPrefix("Bearer ") else { return false }
        return state.live[String(auth.dropFirst(7))] != nil
    }

    func list(_ request: Request, objects: String) -> Response {
        state.withLock { state -> Response in
            guard authorized(request, state) else {
                return Self.json(.unauthorized, #"{"error": {"code": "ERR_ACCESS_DENIED", "message": "Invalid token"}}"#)
            }
            let query = request.uri.queryParameters
            let limit = min(Int(query.get("limit") ?? "") ?? 20, 250)
            let offset = Int(query.get("offset") ?? "") ?? 0
            let campaignsName = state.flavor == .vkAds ? "ad_plans.json" : "campaigns.json"
            var items: [String]
            let asksUTM = (query.get("fields") ?? "").split(separator: ",").contains("utm")
            let utm = asksUTM ? #", "utm": "\#(state.knobs.utm ?? "")""# : ""
            switch objects {
            case campaignsName:
                let tags = state.flavor == .myTarget ? utm : ""
                items = state.campaigns.map { #"{"id": \#($0.0), "name": "\#($0.1)"\#(tags)}"# }
            case "ad_groups.json" where state.flavor == .vkAds:
                items = state.groups.map { #"{"id": \#($0.0), "name": "\#($0.1)", "ad_plan_id": \#($0.2)\#(utm)}"# }
            case "banners.json":
                let parent = state.flavor == .vkAds ? "ad_group_id" : "campaign_id"
                items = state.banners.map { #"{"id": \#($0.id), "name": "\#($0.name)", "\#(parent)": \#($0.parent)}"# }
            default:
                return Self.json(.notFound, #"{"error": {"code": "ERR_WRONG_RESOURCE", "message": "Unknown resource"}}"#)
            }
            let count = items.count
            items = Array(items.dropFirst(offset).prefix(limit))
            return Self.json(.ok, #"{"count": \#(count), "offset": \#(offset), "items": [\#(items.joined(separator: ", "))]}"#)
        }
    }

    func statistics(_ request: Request) -> Response {
        state.withLock { state -> Response in
            state.statCalls += 1
            if state.knobs.tooManyRequests > 0 {
                state.knobs.tooManyRequests -= 1
                return Response(status: .tooManyRequests, headers: [HTTPField.Name("X-RateLimit-RPS-Remaining")!: "0",
                                                                     HTTPField.Name("X-RateLimit-Hourly-Remaining")!: "100"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error": {"code": "ERR_LIMIT_EXCEEDED", "message": "Too many requests"}}"#)))
            }
            guard authorized(request, state) else {
                return Self.json(.unauthorized, #"{"error": {"code": "ERR_ACCESS_DENIED", "message": "Invalid token"}}"#)
            }
            let query = request.uri.queryParameters
            let ids = (query.get("id") ?? "").split(separator: ",").compactMap { Int64($0) }
            guard let from = query.get("date_from").flatMap({ LocalDay(iso: $0) }), let to = query.get("date_to").flatMap({ LocalDay(iso: $0) }),
                  let range = DayRange(from, to) else {
                return Self.json(.badRequest, #"{"error": {"code": "ERR_WRONG_DATE", "message": "Invalid date"}}"#)
            }
            guard ids.count <= 200, range.count <= 92, !ids.isEmpty else {
                return Self.json(.badRequest, #"{"error": {"code": "ERR_LIMIT_EXCEEDED", "message": "Too many objects or days"}}"#)
            }
            let items = ids.map { id -> String in
                let rows = range.days.map { day -> String in
                    let stat = state.stats[id]?[day] ?? Stat(shows: 0, clicks: 0, goals: 0, spent: .zero)
                    return #"{"date": "\#(day)", "base": {"shows": \#(stat.shows), "clicks": \#(stat.clicks), "goals": \#(stat.goals), "spent": "\#(stat.spent.text(places: 2))", "cpm": "0", "cpc": "0", "cpa": "0", "ctr": 0, "cr": 0}}"#
                }
                return #"{"id": \#(id), "rows": [\#(rows.joined(separator: ", "))], "total": {"base": {}}}"#
            }
            return Self.json(.ok, #"{"items": [\#(items.joined(separator: ", "))], "total": {"base": {}}}"#)
        }
    }
}
