import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where a client keeps the network's OAuth token between runs (VK Ads and myTarget cap the
/// number of live tokens per client, so a run reuses and refreshes the stored one).
public protocol TokenStore: Sendable {
    func load() async throws -> StoredToken?
    func save(_ token: StoredToken) async throws
}


/// The VK Ads API v2 (`ads.vk.com`) and legacy myTarget (`target.my.com`): same engine.
///
/// - OAuth: `POST /api/v2/oauth2/token.json` with `client_credentials` (or
///   `agency_client_credentials` for an agency's client), the token stored and reused, refreshed
///   with its `refresh_token` when it expires; when the live-token cap is reached the client's
///   tokens are deleted (`/api/v2/oauth2/token/delete.json`) and one is created again.
/// - Objects: campaigns (`ad_plans` in VK Ads, `campaigns` in myTarget), ad groups (VK Ads) and
///   banners, listed with `limit/offset` paging for their names and parents.
/// - Statistics: `GET /api/v2/statistics/banners/day.json` with at most 200 ids and 92 days a
///   call; money as decimal strings in the account currency.
/// - 429 and 5xx back off (the `X-RateLimit-*-Remaining` headers name the exhausted window).
public actor VKAdsClient {
    public enum Flavor: String, Sendable { case vkAds = "vk_ads", myTarget = "mytarget" }

    public struct Configuration: Sendable {
        public var flavor: Flavor
        public var baseURL: String
        public var clientID: String
        public var clientSecret: String
        /// For an agency's client: its name (`agency_client_credentials`).
        public var agencyClientName: String?
        public var maxAttempts: Int
        public var backoff: Double

        public init(flavor: Flavor, baseURL: String? = nil, clientID: String, clientSecret: String, agencyClientName: String? = nil,
                    maxAttempts: Int = 6, backoff: Double = 1) {
            self.flavor = flavor
            self.baseURL = baseURL ?? (flavor == .vkAds ? "https://ads.vk.com" : "https://target.my.com")
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.agencyClientName = agencyClientName
            self.maxAttempts = maxAttempts
            self.backoff = backoff
        }
    }

    /// A banner's daily statistics with its names and parents.
    public struct Row: Sendable, Equatable {
        public var day: LocalDay
        public var campaignID: String
        public var campaignName: String
        public var adGroupID: String?
        public var adGroupName: String?
        public var bannerID: String
        public var bannerName: String?
        public var shows: Int64
        public var clicks: Int64
        public var goals: Int64?
        public var spent: Micros
        /// The UTM parameters set for the banner's ad group (VK Ads) or campaign (myTarget), as
        /// written there (may hold `{{macros}}`).
        public var utm: String?
    }

    public let configuration: Configuration
    private let store: any TokenStore
    private let http: HTTPClient
    private let logger: Logger
    private var token: StoredToken?

    public init(configuration: Configuration, store: any TokenStore, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.http = http
        self.logger = logger
    }

    // MARK: - statistics

    /// Every banner's rows for `days` (≤ 92 days), with names.
    public func rows(days: DayRange) async throws -> [Row] {
        guard days.count <= 92 else { throw VKAdsError(status: 0, code: "ERR_LIMIT_EXCEEDED", message: "at most 92 days a request") }
        let campaigns = try await list(configuration.flavor == .vkAds ? "ad_plans" : "campaigns",
                                       fields: configuration.flavor == .vkAds ? "id,name" : "id,name,utm")
        let campaignNames = Dictionary(campaigns.map { ($0.id, $0.name ?? "") }, uniquingKeysWith: { a, _ in a })
        var utm = Dictionary(campaigns.compactMap { campaign in campaign.utm.map { (campaign.id, $0) } }, uniquingKeysWith: { a, _ in a })
        var groupParents: [String: (String, String)] = [:]
        if configuration.flavor == .vkAds {
            for group in try await list("ad_groups", fields: "id,name,ad_plan_id,utm") {
                groupParents[group.id] = (group.parent ?? "", group.name ?? "")
                if let tags = group.utm { utm[group.id] = tags }
            }
        }
        let banners = try await list("banners", fields: configuration.flavor == .vkAds ? "id,name,ad_group_id" : "id,name,campaign_id")
        var rows: [Row] = []
        for start in stride(from: 0, to: banners.count, by: 200) {
            let slice = Array(banners[start..<min(banners.count, start + 200)])
            let ids = slice.map(\.id).joined(separator: ",")
            let body = try await get("/api/v2/statistics/banners/day.json",
                                     ["id": ids, "date_from": days.first.description, "date_to": days.last.description, "metrics": "base"])
            struct Stats: Decodable {
                struct Item: Decodable {
                    struct DayRow: Decodable {
                        struct Base: Decodable { let shows: Int64?; let clicks: Int64?; let goals: Int64?; let spent: String? }
                        let date: String
                        let base: Base
                    }
                    let id: Int64
                    let rows: [DayRow]
                }
                let items: [Item]
            }
            let stats: Stats
            do { stats = try JSONDecoder().decode(Stats.self, from: Data(body)) } catch let error as DecodingError {
                throw VKAdsError(status: 200, code: "MALFORMED", message: "statistics: \(DecodingProblem.describe(error))")
            }
            let byID = Dictionary(slice.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for item in stats.items {
                let banner = byID[String(item.id)]
                let parent = banner?.parent ?? ""
                let (campaignID, groupID, groupName): (String, String?, String?) = configuration.flavor == .vkAds
                    ? (groupParents[parent]?.0 ?? "", parent, groupParents[parent]?.1) : (parent, nil, nil)
                for dayRow in item.rows {
                    guard let day = LocalDay(iso: dayRow.date) else {
                        throw VKAdsError(status: 200, code: "MALFORMED", message: "banner \(item.id): date '\(dayRow.date)' is invalid")
                    }
                    // Money is always sent, as a decimal string ("0" on a day without activity).
                    guard let spentText = dayRow.base.spent else {
                        throw VKAdsError(status: 200, code: "MALFORMED", message: "banner \(item.id) \(day): spent is missing")
                    }
                    guard let spent = Micros(decimal: spentText) else {
                        throw VKAdsError(status: 200, code: "MALFORMED", message: "banner \(item.id) \(day): spent '\(spentText)' is not an amount")
                    }
                    let shows = dayRow.base.shows ?? 0
                    let clicks = dayRow.base.clicks ?? 0
                    if shows == 0 && clicks == 0 && spent == .zero { continue }  // days without activity come as zero rows
                    rows.append(Row(day: day, campaignID: campaignID, campaignName: campaignNames[campaignID] ?? "", adGroupID: groupID,
                                    adGroupName: groupName, bannerID: String(item.id), bannerName: banner?.name, shows: shows,
                                    clicks: clicks, goals: dayRow.base.goals, spent: spent, utm: utm[parent]))
                }
            }
        }
        return rows
    }

    struct Object: Decodable {
        let id: String
        let name: String?
        let parent: String?
        let utm: String?
        enum Keys: String, CodingKey { case id, name, ad_plan_id, ad_group_id, campaign_id, utm }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            id = String(try c.decode(Int64.self, forKey: .id))
            name = try c.decodeIfPresent(String.self, forKey: .name)
            let parentID = try c.decodeIfPresent(Int64.self, forKey: .ad_plan_id) ?? c.decodeIfPresent(Int64.self, forKey: .ad_group_id)
                ?? c.decodeIfPresent(Int64.self, forKey: .campaign_id)
            parent = parentID.map(String.init)
            utm = try c.decodeIfPresent(String.self, forKey: .utm).flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    /// All objects of a kind, 250 a page.
    func list(_ kind: String, fields: String) async throws -> [Object] {
        struct Page: Decodable { let count: Int; let items: [Object] }
        var objects: [Object] = []
        var offset = 0
        repeat {
            let body = try await get("/api/v2/\(kind).json", ["fields": fields, "limit": "250", "offset": String(offset)])
            let page: Page
            do { page = try JSONDecoder().decode(Page.self, from: Data(body)) } catch let error as DecodingError {
                throw VKAdsError(status: 200, code: "MALFORMED", message: "\(kind): \(DecodingProblem.describe(error))")
            }
            objects += page.items
            offset += page.items.count
            if page.items.isEmpty || offset >= page.count { break }
        } while true
        return objects
    }

    // MARK: - HTTP

    private func get(_ path: String, _ query: [String: String]) async throws -> [UInt8] {
        var attempt = 0
        var renewed = false
        while true {
            let access = try await accessToken()
            var components = URLComponents(string: configuration.baseURL + path)!
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
            var request = HTTPClientRequest(url: components.string!)
            request.headers.add(name: "Authorization", value: "Bearer \(access)")
            let (status, headers, bytes) = try await send(request)
            if status == 200 { return bytes }
            let error = VKAdsError.parse(status: status, body: bytes)
            if status == 401 && !renewed {
                // The stored token was revoked: forget the access token, keep the refresh token.
                renewed = true
                let refresh = token?.refreshToken
                token = StoredToken(accessToken: "", refreshToken: refresh, expiresAt: Date(timeIntervalSince1970: 0))
                try await store.save(token!)
                continue
            }
            attempt += 1
            guard status == 429 || status >= 500, attempt < configuration.maxAttempts else { throw error }
            let exhausted = ["RPS", "Minutely", "Hourly", "Daily"].first { headers.first(name: "X-RateLimit-\($0)-Remaining") == "0" }
            if exhausted == "Hourly" || exhausted == "Daily" {
                throw VKAdsError(status: 429, code: "RATE_LIMIT", message: "the \(exhausted!.lowercased()) request limit is exhausted; run again later")
            }
            logger.warning("VK Ads asked to slow down", metadata: ["status": "\(status)", "attempt": "\(attempt)"])
            try await Backoff(initial: configuration.backoff, maximum: 300).sleep(attempt: attempt)
        }
    }

    private func send(_ request: HTTPClientRequest) async throws -> (Int, HTTPHeaders, [UInt8]) {
        do {
            let response = try await http.execute(request, timeout: .seconds(120))
            return (Int(response.status.code), response.headers, Array(try await response.body.collect(upTo: 1 << 28).readableBytesView))
        } catch {
            return (599, [:], Array(#"{"error": {"code": "UNAVAILABLE", "message": "cannot reach the API"}}"#.utf8))
        }
    }

    /// A valid access token: the stored one, refreshed, or a new one.
    private func accessToken() async throws -> String {
        if let token, token.expiresAt > Date().addingTimeInterval(60), !token.accessToken.isEmpty { return token.accessToken }
        if token == nil { token = try await store.load() }
        if let token, token.expiresAt > Date().addingTimeInterval(60), !token.accessToken.isEmpty { return token.accessToken }
        if let refresh = token?.refreshToken,
           let renewed = try? await requestToken(["grant_type": "refresh_token", "refresh_token": refresh]) {
            return try await keep(renewed)
        }
        var grant = ["grant_type": "client_credentials"]
        if let agencyClient = configuration.agencyClientName {
            grant = ["grant_type": "agency_client_credentials", "agency_client_name": agencyClient]
        }
        do {
            return try await keep(try await requestToken(grant))
        } catch let error as VKAdsError where error.isTokenLimit {
            logger.warning("the live-token cap is reached; deleting this client's tokens and creating one")
            var delete = ["client_id": configuration.clientID, "client_secret": configuration.clientSecret]
            if let agencyClient = configuration.agencyClientName { delete["username"] = agencyClient }
            _ = try await post("/api/v2/oauth2/token/delete.json", delete)
            return try await keep(try await requestToken(grant))
        }
    }

    private func keep(_ fresh: StoredToken) async throws -> String {
        token = fresh
        try await store.save(fresh)
        return fresh.accessToken
    }

    private func requestToken(_ grant: [String: String]) async throws -> StoredToken {
        var form = grant
        form["client_id"] = configuration.clientID
        form["client_secret"] = configuration.clientSecret
        let (status, bytes) = try await post("/api/v2/oauth2/token.json", form)
        struct Answer: Decodable { let access_token: String; let refresh_token: String?; let expires_in: Double?; let tokens_left: Int? }
        guard status == 200, let answer = try? JSONDecoder().decode(Answer.self, from: Data(bytes)) else {
            throw VKAdsError.parse(status: status, body: bytes)
        }
        if let left = answer.tokens_left, left <= 1 { logger.warning("VK Ads allows \(left) more live tokens for this client") }
        return StoredToken(accessToken: answer.access_token, refreshToken: answer.refresh_token,
                           expiresAt: Date().addingTimeInterval(answer.expires_in ?? 86_400))
    }

    private func post(_ path: String, _ form: [String: String]) async throws -> (Int, [UInt8]) {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let body = form.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        var request = HTTPClientRequest(url: configuration.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(Array(body.utf8), length: .known(Int64(body.utf8.count)))
        let (status, _, bytes) = try await send(request)
        return (status, bytes)
    }
}

/// A VK Ads / myTarget error: `{"error": {"code": "ERR_…", "message": "…"}}` or an OAuth error.
public struct VKAdsError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var isRetryable: Bool { status == 429 || status >= 500 }
    /// The live-token cap of the client is reached.
    public var isTokenLimit: Bool { code == "token_limit_exceeded" || message.lowercased().contains("token limit") }

    public var description: String { "VK Ads error \(code) (HTTP \(status)): \(message)" }

    static func parse(status: Int, body: [UInt8]) -> VKAdsError {
        struct API: Decodable { struct Inner: Decodable { let code: String; let message: String }; let error: Inner }
        struct OAuth: Decodable { let error: String; let error_description: String? }
        if let api = try? JSONDecoder().decode(API.self, from: Data(body)) {
            return VKAdsError(status: status, code: api.error.code, message: api.error.message)
        }
        if let oauth = try? JSONDecoder().decode(OAuth.self, from: Data(body)) {
            return VKAdsError(status: status, code: oauth.error, message: oauth.error_description ?? oauth.error)
        }
        return VKAdsError(status: status, code: "HTTP\(status)", message: String(decoding: body.prefix(300), as: UTF8.self))
    }
}
