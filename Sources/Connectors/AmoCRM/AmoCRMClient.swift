import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Where the tokens of one amoCRM connection live. amoCRM rotates the refresh token on every
/// refresh and the old one stops working, so a refresh runs under an exclusive lock (every
/// replica shares the store) and the new pair is saved before the access token is used.
public protocol AmoTokenStore: Sendable {
    func load() async throws -> StoredToken?
    /// Under the store's lock: reads the stored pair; when its access token is still `stale`
    /// (or nothing is stored), calls `refresh` with it and saves what it returns; returns the
    /// pair now stored. A pair another replica already renewed is returned as it is.
    func rotate(stale: String?, _ refresh: @Sendable (StoredToken?) async throws -> StoredToken) async throws -> StoredToken
}

/// The amoCRM API v4 (api-contracts.md §2): leads with contacts in pages of up to 250 (204 when
/// nothing matches), pipelines with their statuses, users, contacts, events; at most 7 requests a
/// second, backoff on 429 (whose body is not JSON) and 5xx, one token refresh on 401.
public actor AmoCRMClient {
    public enum Auth: Sendable {
        /// A long-lived token of a private integration: used as it is, never refreshed.
        case longLived(String)
        /// OAuth: the initial refresh token (or authorization code) is used only when the store
        /// has none yet.
        case oauth(clientID: String, clientSecret: String, redirectURI: String, refreshToken: String?, authorizationCode: String?)
    }

    public struct Configuration: Sendable {
        /// `https://<subdomain>.amocrm.ru`.
        public var baseURL: String
        public var auth: Auth
        public var requestsPerSecond: Double
        public var maxAttempts: Int
        public var backoff: Double
        public var timeoutSeconds: Int64

        public init(baseURL: String, auth: Auth, requestsPerSecond: Double = 7, maxAttempts: Int = 6, backoff: Double = 1,
                    timeoutSeconds: Int64 = 60) {
            self.baseURL = baseURL
            self.auth = auth
            self.requestsPerSecond = requestsPerSecond
            self.maxAttempts = maxAttempts
            self.backoff = backoff
            self.timeoutSeconds = timeoutSeconds
        }
    }

    public struct Page: Sendable {
        public var items: [JSONValue]
        public var hasNext: Bool
    }

    public let configuration: Configuration
    private let store: any AmoTokenStore
    private let http: HTTPClient
    private let logger: Logger
    private let limiter: RateLimiter
    private var token: StoredToken?

    public init(configuration: Configuration, store: any AmoTokenStore, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.http = http
        self.logger = logger
        limiter = RateLimiter(perSecond: configuration.requestsPerSecond)
    }

    // MARK: - resources

    /// Leads modified at or after `updatedFrom` (Unix seconds; nil: all), oldest change first,
    /// with their contacts and loss reasons.
    public func leads(updatedFrom: Int64?, page: Int, limit: Int = 250) async throws -> Page {
        var query = [("with", "contacts,loss_reason,catalog_elements"), ("limit", String(limit)), ("page", String(page)), ("order[updated_at]", "asc")]
        if let updatedFrom { query.append(("filter[updated_at][from]", String(updatedFrom))) }
        return try await list(of: "leads", "/api/v4/leads", query)
    }

    /// The leads with these ids (at most 250 a call); deleted ones are absent.
    public func leads(ids: [String]) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        for start in stride(from: 0, to: ids.count, by: 250) {
            let slice = ids[start..<min(ids.count, start + 250)]
            let query = [("with", "contacts,loss_reason,catalog_elements"), ("limit", "250")] + slice.map { ("filter[id][]", $0) }
            all += try await list(of: "leads", "/api/v4/leads", query).items
        }
        return all
    }

    /// The contacts with these ids (at most 250 a call).
    public func contacts(ids: [String]) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        for start in stride(from: 0, to: ids.count, by: 250) {
            let slice = ids[start..<min(ids.count, start + 250)]
            all += try await list(of: "contacts", "/api/v4/contacts", [("limit", "250")] + slice.map { ("filter[id][]", $0) }).items
        }
        return all
    }

    /// Elements of a catalog (products) by id, 250 a call.
    public func catalogElements(catalogID: String, ids: [String]) async throws -> [JSONValue] {
        var all: [JSONValue] = []
        for start in stride(from: 0, to: ids.count, by: 250) {
            let slice = ids[start..<min(ids.count, start + 250)]
            all += try await list(of: "elements", "/api/v4/catalogs/\(catalogID)/elements", [("limit", "250")] + slice.map { ("filter[id][]", $0) }).items
        }
        return all
    }

    /// Every pipeline with its statuses.
    public func pipelines() async throws -> [JSONValue] {
        try await list(of: "pipelines", "/api/v4/leads/pipelines", []).items
    }

    /// Every user.
    public func users() async throws -> [JSONValue] {
        var all: [JSONValue] = []
        var number = 1
        while true {
            let page = try await list(of: "users", "/api/v4/users", [("limit", "250"), ("page", String(number))])
            all += page.items
            guard page.hasNext else { return all }
            number += 1
        }
    }

    /// Events of `types` created at or after `createdFrom`, or of the leads `leadIDs` (at most 10
    /// ids a call), 100 a page.
    public func events(types: [String], createdFrom: Int64?, leadIDs: [String]? = nil, page: Int) async throws -> Page {
        var query = [("filter[entity]", "lead"), ("limit", "100"), ("page", String(page))] + types.map { ("filter[type][]", $0) }
        if let createdFrom { query.append(("filter[created_at][from]", String(createdFrom))) }
        for id in leadIDs ?? [] { query.append(("filter[entity_id][]", id)) }
        return try await list(of: "events", "/api/v4/events", query)
    }

    // MARK: - HTTP

    /// One list call: `_embedded.<key>` and whether `_links.next` exists; 204 is an empty page.
    private func list(of key: String, _ path: String, _ query: [(String, String)]) async throws -> Page {
        let (status, bytes) = try await get(path, query)
        if status == 204 { return Page(items: [], hasNext: false) }
        // An empty page is 204; a 200 without a body is a broken answer, not "no deals".
        guard !bytes.isEmpty else { throw AmoCRMError(status: status, title: "Malformed answer", detail: "\(path): the body is empty") }
        let body: JSONValue
        do { body = try JSONValue.parse(bytes) } catch {
            throw AmoCRMError(status: status, title: "Malformed answer", detail: "\(path): the body is not JSON")
        }
        guard let items = body["_embedded"]?[key]?.array else {
            throw AmoCRMError(status: status, title: "Malformed answer", detail: "\(path): no _embedded.\(key)")
        }
        return Page(items: items, hasNext: body["_links"]?["next"] != nil)
    }

    private func get(_ path: String, _ query: [(String, String)]) async throws -> (Int, [UInt8]) {
        var attempt = 0
        var refreshed = false
        while true {
            let access = try await accessToken()
            var components = URLComponents(string: configuration.baseURL + path)!
            if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
            var request = HTTPClientRequest(url: components.string!)
            request.headers.add(name: "Authorization", value: "Bearer \(access)")
            try await limiter.acquire()
            let (status, headers, bytes) = try await send(request)
            if status == 200 || status == 204 { return (status, bytes) }
            let error = AmoCRMError.parse(status: status, body: bytes, requestID: headers.first(name: "X-Request-Id"))
            if status == 401, !refreshed, case .oauth = configuration.auth {
                refreshed = true
                token = try await store.rotate(stale: access) { stored in try await self.refresh(stored) }
                continue
            }
            attempt += 1
            guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
            logger.warning("amoCRM asked to retry", metadata: ["status": "\(status)", "attempt": "\(attempt)"])
            try await Backoff(initial: configuration.backoff, maximum: 120).sleep(attempt: attempt)
        }
    }

    private func send(_ request: HTTPClientRequest) async throws -> (Int, HTTPHeaders, [UInt8]) {
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.timeoutSeconds))
            return (Int(response.status.code), response.headers, Array(try await response.body.collect(upTo: 1 << 28).readableBytesView))
        } catch {
            // A transport failure is retried like a 5xx; the request (and its token) is not echoed.
            return (599, [:], Array(#"{"title": "Unavailable", "status": 599, "detail": "cannot reach the API"}"#.utf8))
        }
    }

    // MARK: - tokens

    private func accessToken() async throws -> String {
        switch configuration.auth {
        case .longLived(let token):
            return token
        case .oauth:
            if let token, token.expiresAt > Date().addingTimeInterval(60) { return token.accessToken }
            if let stored = try await store.load(), stored.expiresAt > Date().addingTimeInterval(60) {
                token = stored
                return stored.accessToken
            }
            let renewed = try await store.rotate(stale: token?.accessToken) { stored in try await self.refresh(stored) }
            token = renewed
            return renewed.accessToken
        }
    }

    /// `POST /oauth2/access_token`: the stored refresh token (or the configured one, or the
    /// authorization code the first time) for a new pair.
    private func refresh(_ stored: StoredToken?) async throws -> StoredToken {
        guard case .oauth(let clientID, let clientSecret, let redirectURI, let initialRefresh, let code) = configuration.auth else {
            throw AmoCRMError(status: 401, title: "Unauthorized", detail: "the long-lived token was refused")
        }
        var body = ["client_id": clientID, "client_secret": clientSecret, "redirect_uri": redirectURI]
        if let refresh = stored?.refreshToken ?? initialRefresh {
            body["grant_type"] = "refresh_token"
            body["refresh_token"] = refresh
        } else if let code {
            body["grant_type"] = "authorization_code"
            body["code"] = code
        } else {
            throw AmoCRMError(status: 401, title: "Unauthorized", detail: "no refresh token or authorization code is configured")
        }
        let json = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        var request = HTTPClientRequest(url: configuration.baseURL + "/oauth2/access_token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(Array(json), length: .known(Int64(json.count)))
        try await limiter.acquire()
        let (status, headers, bytes) = try await send(request)
        struct Answer: Decodable { let access_token: String; let refresh_token: String?; let expires_in: Double? }
        guard status == 200, let answer = try? JSONDecoder().decode(Answer.self, from: Data(bytes)) else {
            let error = AmoCRMError.parse(status: status, body: bytes, requestID: headers.first(name: "X-Request-Id"))
            throw AmoCRMError(status: status, title: error.title, detail: "the token exchange was refused: \(error.detail)")
        }
        logger.info("amoCRM tokens renewed; the new refresh token is stored")
        return StoredToken(accessToken: answer.access_token, refreshToken: answer.refresh_token ?? stored?.refreshToken,
                        expiresAt: Date().addingTimeInterval(answer.expires_in ?? 86_400))
    }
}

/// An amoCRM error: `application/problem+json` (`title`, `status`, `detail`, validation errors),
/// or a 429 with a non-JSON body.
public struct AmoCRMError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var title: String
    public var detail: String
    public var requestID: String?

    public init(status: Int, title: String, detail: String, requestID: String? = nil) {
        self.status = status
        self.title = title
        self.detail = detail
        self.requestID = requestID
    }

    /// 429 (too many requests) and 5xx may succeed later; 401/402/403 and 400 will not.
    public var isRetryable: Bool { status == 429 || status >= 500 }

    static func parse(status: Int, body: [UInt8], requestID: String?) -> AmoCRMError {
        struct Problem: Decodable {
            struct Validation: Decodable {
                struct Item: Decodable { let code: String?; let path: String?; let detail: String? }
                let errors: [Item]?
            }
            let title: String?
            let detail: String?
            let validation_errors: [Validation]?
            enum CodingKeys: String, CodingKey { case title, detail, validation_errors = "validation-errors" }
        }
        if let problem = try? JSONDecoder().decode(Problem.self, from: Data(body)) {
            let specifics = (problem.validation_errors ?? []).flatMap { $0.errors ?? [] }
                .map { "\($0.path ?? ""): \($0.detail ?? $0.code ?? "")" }
            let detail = ([problem.detail ?? ""] + specifics).filter { !$0.isEmpty }.joined(separator: "; ")
            return AmoCRMError(status: status, title: problem.title ?? "HTTP \(status)", detail: detail, requestID: requestID)
        }
        let title = status == 429 ? "Too Many Requests" : "HTTP \(status)"
        return AmoCRMError(status: status, title: title, detail: String(decoding: body.prefix(200), as: UTF8.self), requestID: requestID)
    }

    public var description: String {
        var text = "amoCRM error (HTTP \(status) \(title))"
        if !detail.isEmpty { text += ": \(detail)" }
        switch status {
        case 401: text += " [the token is invalid or expired]"
        case 402: text += " [the amoCRM account is not paid]"
        case 403: text += " [access denied or the IP is blocked for too many requests]"
        default: break
        }
        if let requestID { text += " [X-Request-Id \(requestID)]" }
        return text
    }
}
