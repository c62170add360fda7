import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Bitrix24 REST through an incoming webhook (api-contracts.md §3): `POST
/// <webhook>/<method>.json` with a JSON body; every scalar a string; lists 50 a page with `next`
/// (or the fast mode `start=-1` with an `>ID` filter); `batch` of up to 50 calls; the leaky
/// bucket's 503 `QUERY_LIMIT_EXCEEDED` and the method time limit's 429 `OPERATION_TIME_LIMIT`
/// waited out; 2 requests a second by default so the bucket never fills.
public actor Bitrix24Client {
    public struct Configuration: Sendable {
        /// `https://<portal>/rest/<user_id>/<webhook_code>` (a secret: it authenticates).
        public var webhookURL: String
        public var requestsPerSecond: Double
        public var maxAttempts: Int
        public var backoff: Double
        public var timeoutSeconds: Int64

        public init(webhookURL: String, requestsPerSecond: Double = 2, maxAttempts: Int = 8, backoff: Double = 1, timeoutSeconds: Int64 = 60) {
            self.webhookURL = webhookURL.hasSuffix("/") ? String(webhookURL.dropLast()) : webhookURL
            self.requestsPerSecond = requestsPerSecond
            self.maxAttempts = maxAttempts
            self.backoff = backoff
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// A method's answer: `result`, and `next` when more rows remain.
    public struct Answer: Sendable {
        public var result: JSONValue
        public var next: Int?
        public var total: Int?

        /// A list method's rows: its `result` must be a list (an object or null there is a broken
        /// answer, not an empty page).
        public func rows(of method: String) throws -> [JSONValue] {
            guard case .array(let rows) = result else {
                throw Bitrix24Error(status: 200, code: "MALFORMED", message: "\(method): the result is not a list")
            }
            return rows
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient
    private let logger: Logger
    private let limiter: RateLimiter

    public init(configuration: Configuration, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
        limiter = RateLimiter(perSecond: configuration.requestsPerSecond)
    }

    /// A JSON body of parameters (keys sorted).
    public nonisolated static func json(_ parameters: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: parameters, options: [.sortedKeys])
    }

    /// Calls `method` with a JSON body (`Bitrix24Client.json`).
    public func call(_ method: String, body: Data) async throws -> Answer {
        let bytes = try await post(method, Array(body))
        let answer: JSONValue
        do { answer = try JSONValue.parse(bytes) } catch {
            throw Bitrix24Error(status: 200, code: "MALFORMED", message: "\(method): the answer is not JSON")
        }
        guard let result = answer["result"] else {
            throw Bitrix24Error(status: 200, code: "MALFORMED", message: "\(method): the answer has no result")
        }
        return Answer(result: result, next: answer["next"]?.text.flatMap { Int($0) }, total: answer["total"]?.text.flatMap { Int($0) })
    }

    /// What a batch answered: each command's result by its key, and each failed command's error
    /// (`CODE: description`) by its key.
    public struct BatchAnswer: Sendable {
        public var results: [String: JSONValue]
        public var failures: [String: String]
    }

    /// Up to 50 calls in one request (`batch`, `halt: 0`): each command is `method?query`. A
    /// command that failed (one contact the webhook's user may not read) fails alone: it is in
    /// `failures`, the others' results stand.
    public func batch(_ commands: [(key: String, command: String)]) async throws -> BatchAnswer {
        precondition(commands.count <= 50, "a batch holds at most 50 calls")
        guard !commands.isEmpty else { return BatchAnswer(results: [:], failures: [:]) }
        var cmd: [String: String] = [:]
        for (key, command) in commands { cmd[key] = command }
        let answer = try await call("batch", body: try Self.json(["halt": 0, "cmd": cmd]))
        var failures: [String: String] = [:]
        if case .object(let failed)? = answer.result["result_error"] {
            for (key, error) in failed {
                failures[key] = "\(error["error"]?.text ?? "ERROR"): \(error["error_description"]?.text ?? "")"
            }
        }
        // An empty batch result comes as [] rather than {}.
        guard case .object(let results)? = answer.result["result"] else { return BatchAnswer(results: [:], failures: failures) }
        return BatchAnswer(results: results, failures: failures)
    }

    private func post(_ method: String, _ body: [UInt8]) async throws -> [UInt8] {
        var attempt = 0
        while true {
            var request = HTTPClientRequest(url: "\(configuration.webhookURL)/\(method).json")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body, length: .known(Int64(body.count)))
            try await limiter.acquire()
            var status: Int
            var bytes: [UInt8]
            do {
                let response = try await http.execute(request, timeout: .seconds(configuration.timeoutSeconds))
                status = Int(response.status.code)
                bytes = Array(try await response.body.collect(upTo: 1 << 28).readableBytesView)
            } catch {
                // The webhook URL holds the secret: never echoed.
                (status, bytes) = (599, Array(#"{"error": "UNAVAILABLE", "error_description": "cannot reach the portal"}"#.utf8))
            }
            if status == 200 { return bytes }
            let error = Bitrix24Error.parse(status: status, body: bytes, method: method)
            attempt += 1
            guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
            logger.warning("Bitrix24 asked to slow down", metadata: ["error": "\(error.code)", "attempt": "\(attempt)"])
            // The bucket drains 2 a second; the time limit frees after its oldest minute expires.
            let initial = error.code == "OPERATION_TIME_LIMIT" ? configuration.backoff * 10 : configuration.backoff
            try await Backoff(initial: initial, maximum: 600).sleep(attempt: attempt)
        }
    }
}

/// A Bitrix24 error: `{"error": "<CODE>", "error_description": "<text>"}` (the code may be empty).
public struct Bitrix24Error: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The leaky bucket (503 QUERY_LIMIT_EXCEEDED), the time limit (429 OPERATION_TIME_LIMIT) and
    /// server errors pass; a manual block (OVERLOAD_LIMIT), bad credentials and bad requests do not.
    public var isRetryable: Bool {
        if code == "OVERLOAD_LIMIT" { return false }
        return code == "QUERY_LIMIT_EXCEEDED" || code == "OPERATION_TIME_LIMIT" || status >= 500 && code != "PORTAL_DELETED"
    }

    static func parse(status: Int, body: [UInt8], method: String) -> Bitrix24Error {
        struct Body: Decodable { let error: String?; let error_description: String? }
        if let parsed = try? JSONDecoder().decode(Body.self, from: Data(body)) {
            return Bitrix24Error(status: status, code: parsed.error ?? "", message: "\(method): \(parsed.error_description ?? "")")
        }
        return Bitrix24Error(status: status, code: "", message: "\(method): HTTP \(status)")
    }

    public var description: String {
        var text = "Bitrix24 error (HTTP \(status)\(code.isEmpty ? "" : " \(code)")): \(message)"
        switch code {
        case "NO_AUTH_FOUND", "INVALID_CREDENTIALS", "expired_token": text += " [the webhook URL or token is not valid]"
        case "OVERLOAD_LIMIT": text += " [the portal blocked this client; ask Bitrix24 support]"
        case "ACCESS_DENIED": text += " [REST is available on paid plans only]"
        default: break
        }
        return text
    }
}

/// An outgoing Bitrix24 webhook (`ONCRMDEALADD` / `ONCRMDEALUPDATE` / `ONCRMDEALDELETE`):
/// form-urlencoded with bracket keys, carrying only the deal id and the application token.
public struct Bitrix24Event: Sendable, Equatable {
    public var event: String
    public var dealID: String
    public var applicationToken: String?
    public var domain: String?

    public init(event: String, dealID: String, applicationToken: String?, domain: String?) {
        self.event = event
        self.dealID = dealID
        self.applicationToken = applicationToken
        self.domain = domain
    }

    public static func parse(_ body: String) -> Bitrix24Event? {
        var event: String?
        var deal: String?
        var token: String?
        var domain: String?
        for (key, value) in FormURLEncoded.parse(body) {
            switch key {
            case "event": event = value.uppercased()
            case "data[FIELDS][ID]": deal = value
            case "auth[application_token]": token = value
            case "auth[domain]": domain = value
            default: break
            }
        }
        guard let event, let deal, !deal.isEmpty, deal.allSatisfy(\.isNumber) else { return nil }
        return Bitrix24Event(event: event, dealID: deal, applicationToken: token, domain: domain)
    }
}
