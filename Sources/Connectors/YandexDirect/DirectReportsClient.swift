import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The Reports service of the Yandex Direct API v5: `POST /json/v5/reports`.
///
/// Asks for a CUSTOM_REPORT at day × campaign × ad group × ad × criterion grain, polls while the
/// service answers 201/202 (waiting `retryIn` seconds), retries the error codes that mean
/// "later" with backoff, and stops on the ones that mean "never" (bad token, no units, bad
/// request). The token never appears in an error or a log line.
public struct DirectReportsClient: Sendable {
    public struct Configuration: Sendable {
        /// `https://api.direct.yandex.com` in production; a sandbox fake in tests.
        public var baseURL: String
        /// The OAuth token (a secret: never logged).
        public var token: String
        /// The advertiser's login; required with an agency token.
        public var clientLogin: String?
        /// `IncludeVAT`: false asks Direct for VAT-free costs (preferred, domain.md #14).
        public var includeVAT: Bool
        /// Most polls of one offline report.
        public var maxPolls: Int
        /// Seconds to wait when a 201/202 carries no `retryIn`.
        public var defaultRetryIn: Double
        /// Attempts for retryable errors, and the first backoff in seconds (doubling).
        public var maxAttempts: Int
        public var backoff: Double
        public var timeoutSeconds: Int64

        public init(
            baseURL: String = "https://api.direct.yandex.com", token: String, clientLogin: String? = nil,
            includeVAT: Bool = false, maxPolls: Int = 120, defaultRetryIn: Double = 10, maxAttempts: Int = 5,
            backoff: Double = 1, timeoutSeconds: Int64 = 300
        ) {
            self.baseURL = baseURL
            self.token = token
            self.clientLogin = clientLogin
            self.includeVAT = includeVAT
            self.maxPolls = maxPolls
            self.defaultRetryIn = defaultRetryIn
            self.maxAttempts = maxAttempts
            self.backoff = backoff
            self.timeoutSeconds = timeoutSeconds
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient
    let logger: Logger

    public init(configuration: Configuration, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
    }

    /// The TSV body of the report for `days`, ready for `DirectReportParser`.
    /// - Throws: `DirectAPIError` (after retries for retryable codes).
    public func report(days: DayRange, fieldNames: [String] = DirectReportRow.fieldNames) async throws -> [UInt8] {
        let body = try Self.requestBody(days: days, fieldNames: fieldNames, includeVAT: configuration.includeVAT)
        var attempt = 0
        var polls = 0
        while true {
            let (status, headers, bytes) = try await post("/json/v5/reports", body, reportHeaders: true)
            switch status {
            case 200:
                return bytes
            case 201, 202:
                polls += 1
                guard polls <= configuration.maxPolls else {
                    throw DirectAPIError(code: 0, message: "the report was not ready after \(configuration.maxPolls) polls", httpStatus: status)
                }
                let wait = headers.first(name: "retryIn").flatMap(Double.init) ?? configuration.defaultRetryIn
                logger.debug("report is being built offline", metadata: ["retryIn": "\(wait)", "poll": "\(polls)"])
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            default:
                let error = Self.error(status: status, headers: headers, body: bytes)
                attempt += 1
                guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
                logger.warning("Yandex Direct asked to retry", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try await Backoff(initial: configuration.backoff, maximum: 300).sleep(attempt: attempt)
            }
        }
    }

    func post(_ path: String, _ body: [UInt8], reportHeaders: Bool) async throws -> (Int, HTTPHeaders, [UInt8]) {
        var request = HTTPClientRequest(url: configuration.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.token)")
        if let login = configuration.clientLogin { request.headers.add(name: "Client-Login", value: login) }
        request.headers.add(name: "Accept-Language", value: "en")
        if reportHeaders { request.headers.add(name: "processingMode", value: "auto") }
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.body = .bytes(body, length: .known(Int64(body.count)))
        do {
            let response = try await http.execute(request, timeout: .seconds(configuration.timeoutSeconds))
            let buffer = try await response.body.collect(upTo: 1 << 30)
            return (Int(response.status.code), response.headers, Array(buffer.readableBytesView))
        } catch let error as DirectAPIError {
            throw error
        } catch {
            // Transport failures are retryable like a 5xx; the request (and token) is not echoed.
            throw DirectAPIError(code: 0, message: "cannot reach \(configuration.baseURL): \(error)", httpStatus: 599)
        }
    }

    static func error(status: Int, headers: HTTPHeaders, body: [UInt8]) -> DirectAPIError {
        struct Envelope: Decodable {
            struct Inner: Decodable {
                let request_id: String?
                let error_code: Int
                let error_string: String
                let error_detail: String?
            }
            let error: Inner
        }
        if let parsed = try? JSONDecoder().decode(Envelope.self, from: Data(body)) {
            return DirectAPIError(code: parsed.error.error_code, message: parsed.error.error_string,
                                  detail: parsed.error.error_detail ?? "", httpStatus: status,
                                  requestID: parsed.error.request_id ?? headers.first(name: "RequestId"))
        }
        return DirectAPIError(code: 0, message: String(decoding: body.prefix(300), as: UTF8.self), httpStatus: status,
                              requestID: headers.first(name: "RequestId"))
    }

    /// The ReportDefinition; its name is a hash of its parameters (Direct identifies offline
    /// reports by name, and one name must not be reused with other parameters).
    static func requestBody(days: DayRange, fieldNames: [String], includeVAT: Bool) throws -> [UInt8] {
        struct Body: Encodable {
            struct Params: Encodable {
                struct Selection: Encodable { let DateFrom: String; let DateTo: String }
                let SelectionCriteria: Selection
                let FieldNames: [String]
                let ReportName: String
                let ReportType = "CUSTOM_REPORT"
                let DateRangeType = "CUSTOM_DATE"
                let Format = "TSV"
                let IncludeVAT: String
                let IncludeDiscount = "NO"
            }
            let params: Params
        }
        let key = "\(days.first)|\(days.last)|\(fieldNames.joined(separator: ","))|\(includeVAT)"
        let name = "skvoznaya-\(days.first)-\(days.last)-\(FNV1a.hex(key))"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(Body(params: .init(
            SelectionCriteria: .init(DateFrom: days.first.description, DateTo: days.last.description),
            FieldNames: fieldNames, ReportName: name, IncludeVAT: includeVAT ? "YES" : "NO"))))
    }
}
