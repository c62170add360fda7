import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Google Ads API `googleAds:searchStream` with GAQL, at ad level per day.
///
/// Gets an access token from the OAuth token endpoint with the refresh token (again once when
/// the API answers 401), sends `developer-token` and `login-customer-id`, reads the JSON array
/// of batches (int64 values arrive as strings), retries 429 `RESOURCE_EXHAUSTED` and 5xx with
/// exponential backoff, and stops on everything else. The API version is configuration.
public actor GoogleAdsClient {
    public struct Configuration: Sendable {
        public var baseURL: String
        public var tokenURL: String
        public var apiVersion: String
        public var developerToken: String
        public var clientID: String
        public var clientSecret: String
        public var refreshToken: String
        /// The manager (MCC) account acted through, digits only.
        public var loginCustomerID: String?
        public var maxAttempts: Int
        public var backoff: Double

        public init(
            baseURL: String = "https://googleads.googleapis.com", tokenURL: String = "https://oauth2.googleapis.com/token",
            apiVersion: String = "v21", developerToken: String, clientID: String, clientSecret: String, refreshToken: String,
            loginCustomerID: String? = nil, maxAttempts: Int = 5, backoff: Double = 1
        ) {
            self.baseURL = baseURL
            self.tokenURL = tokenURL
            self.apiVersion = apiVersion
            self.developerToken = developerToken
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.refreshToken = refreshToken
            self.loginCustomerID = loginCustomerID
            self.maxAttempts = maxAttempts
            self.backoff = backoff
        }
    }

    /// One row of the ad-level daily query.
    public struct Row: Sendable, Equatable {
        public var day: LocalDay
        public var campaignID: String
        public var campaignName: String
        public var adGroupID: String
        public var adGroupName: String
        public var adID: String
        public var adName: String?
        public var impressions: Int64
        public var clicks: Int64
        public var costMicros: Int64
        public var conversions: Double?
        /// The row's link settings, most specific first (Google applies the ad's over the ad
        /// group's over the campaign's): each level's final-URL suffix, then its tracking
        /// template. They may hold ValueTrack macros (`{campaignid}`, `{adgroupid}`).
        public var linkSettings: [String] = []

        public init(
            day: LocalDay, campaignID: String, campaignName: String, adGroupID: String, adGroupName: String, adID: String,
            adName: String? = nil, impressions: Int64, clicks: Int64, costMicros: Int64, conversions: Double? = nil
        ) {
            self.day = day
            self.campaignID = campaignID
            self.campaignName = campaignName
            self.adGroupID = adGroupID
            self.adGroupName = adGroupName
            self.adID = adID
            self.adName = adName
            self.impressions = impressions
            self.clicks = clicks
            self.costMicros = costMicros
            self.conversions = conversions
        }
    }

    public let configuration: Configuration
    private let http: HTTPClient
    private let logger: Logger
    private var accessToken: String?

    public init(configuration: Configuration, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
    }

    /// The GAQL of the daily ad-level statistics.
    public static func query(_ days: DayRange) -> String {
        "SELECT segments.date, campaign.id, campaign.name, campaign.final_url_suffix, campaign.tracking_url_template, "
            + "ad_group.id, ad_group.name, ad_group.final_url_suffix, ad_group.tracking_url_template, "
            + "ad_group_ad.ad.id, ad_group_ad.ad.name, ad_group_ad.ad.final_url_suffix, ad_group_ad.ad.tracking_url_template, "
            + "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions FROM ad_group_ad "
            + "WHERE segments.date BETWEEN '\(days.first)' AND '\(days.last)'"
    }

    /// Every row of `customerID` for `days`.
    /// - Throws: `GoogleAdsError`.
    public func rows(customerID: String, days: DayRange) async throws -> [Row] {
        let customer = customerID.filter(\.isNumber)
        var attempt = 0
        var refreshed = false
        while true {
            let token = try await currentToken()
            var request = HTTPClientRequest(url: "\(configuration.baseURL)/\(configuration.apiVersion)/customers/\(customer)/googleAds:searchStream")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "developer-token", value: configuration.developerToken)
            if let manager = configuration.loginCustomerID { request.headers.add(name: "login-customer-id", value: manager.filter(\.isNumber)) }
            request.headers.add(name: "Content-Type", value: "application/json")
            let body = Array(try JSONEncoder().encode(["query": Self.query(days)]))
            request.body = .bytes(body, length: .known(Int64(body.count)))
            var status = 599
            var bytes: [UInt8]
            do {
                let response = try await http.execute(request, timeout: .seconds(300))
                status = Int(response.status.code)
                bytes = Array(try await response.body.collect(upTo: 1 << 30).readableBytesView)
            } catch {
                status = 599
                bytes = Array("cannot reach \(configuration.baseURL): \(error)".utf8)
            }
            do {
                if status == 200 { return try Self.parse(bytes) }
                throw Self.error(status: status, body: bytes)
            } catch let error as GoogleAdsError {
                if error.httpStatus == 401 && !refreshed {
                    refreshed = true
                    accessToken = nil
                    continue
                }
                attempt += 1
                guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
                logger.warning("Google Ads asked to retry", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try await Backoff(initial: configuration.backoff, maximum: 300).sleep(attempt: attempt)
            }
        }
    }

    private func currentToken() async throws -> String {
        if let accessToken { return accessToken }
        var request = HTTPClientRequest(url: configuration.tokenURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        func encode(_ value: String) -> String {
            value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value
        }
        let form = "grant_type=refresh_token&client_id=\(encode(configuration.clientID))&client_secret=\(encode(configuration.clientSecret))&refresh_token=\(encode(configuration.refreshToken))"
        request.body = .bytes(Array(form.utf8), length: .known(Int64(form.utf8.count)))
        let response: HTTPClientResponse
        let bytes: [UInt8]
        do {
            response = try await http.execute(request, timeout: .seconds(60))
            bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        } catch {
            throw GoogleAdsError(httpStatus: 599, status: "UNAVAILABLE", message: "cannot reach the OAuth token endpoint: \(error)")
        }
        struct Token: Decodable { let access_token: String }
        guard response.status.code == 200, let token = try? JSONDecoder().decode(Token.self, from: Data(bytes)) else {
            // The OAuth error body (`invalid_grant`, ...) names the problem; it holds no secret.
            throw GoogleAdsError(httpStatus: Int(response.status.code), status: "UNAUTHENTICATED",
                                 message: "the OAuth token endpoint refused the refresh token: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        accessToken = token.access_token
        return token.access_token
    }

    static func parse(_ bytes: [UInt8]) throws -> [Row] {
        struct Batch: Decodable {
            struct Result: Decodable {
                struct Named: Decodable {
                    let id: String?
                    let name: String?
                    let finalUrlSuffix: String?
                    let trackingUrlTemplate: String?
                    var links: [String] { [finalUrlSuffix, trackingUrlTemplate].compactMap { $0 } }
                }
                struct Ad: Decodable { let ad: Named? }
                struct Metrics: Decodable {
                    let impressions: String?
                    let clicks: String?
                    let costMicros: String?
                    let conversions: Double?
                }
                struct Segments: Decodable { let date: String }
                let campaign: Named?
                let adGroup: Named?
                let adGroupAd: Ad?
                let metrics: Metrics?
                let segments: Segments
            }
            let results: [Result]?
            let error: ErrorBody.Inner?
        }
        let batches: [Batch]
        do {
            batches = try JSONDecoder().decode([Batch].self, from: Data(bytes))
        } catch let error as DecodingError {
            throw GoogleAdsError(httpStatus: 200, status: "MALFORMED", message: "response: \(DecodingProblem.describe(error))")
        }
        var rows: [Row] = []
        for (batchIndex, batch) in batches.enumerated() {
            if let error = batch.error {
                throw GoogleAdsError(httpStatus: error.code, status: error.status ?? "", message: "in batch \(batchIndex + 1): \(error.message)")
            }
            for (index, result) in (batch.results ?? []).enumerated() {
                func fail(_ field: String, _ value: String?) -> GoogleAdsError {
                    GoogleAdsError(httpStatus: 200, status: "MALFORMED",
                                   message: "batch \(batchIndex + 1) result \(index + 1): \(field) '\(value ?? "missing")' is invalid")
                }
                func int(_ text: String?, _ field: String) throws -> Int64 {
                    guard let text else { return 0 }
                    guard let value = Int64(text) else { throw fail(field, text) }
                    return value
                }
                guard let day = LocalDay(iso: result.segments.date) else { throw fail("segments.date", result.segments.date) }
                guard let campaignID = result.campaign?.id, !campaignID.isEmpty else { throw fail("campaign.id", nil) }
                var row = Row(
                    day: day, campaignID: campaignID, campaignName: result.campaign?.name ?? "",
                    adGroupID: result.adGroup?.id ?? "", adGroupName: result.adGroup?.name ?? "",
                    adID: result.adGroupAd?.ad?.id ?? "", adName: result.adGroupAd?.ad?.name,
                    impressions: try int(result.metrics?.impressions, "metrics.impressions"),
                    clicks: try int(result.metrics?.clicks, "metrics.clicks"),
                    costMicros: try int(result.metrics?.costMicros, "metrics.costMicros"),
                    conversions: result.metrics?.conversions)
                row.linkSettings = (result.adGroupAd?.ad?.links ?? []) + (result.adGroup?.links ?? []) + (result.campaign?.links ?? [])
                rows.append(row)
            }
        }
        return rows
    }

    struct ErrorBody: Decodable {
        struct Inner: Decodable {
            struct Detail: Decodable {
                struct Failure: Decodable { let message: String? }
                let errors: [Failure]?
            }
            let code: Int
            let message: String
            let status: String?
            let details: [Detail]?
        }
        let error: Inner
    }

    static func error(status: Int, body: [UInt8]) -> GoogleAdsError {
        if let parsed = try? JSONDecoder().decode(ErrorBody.self, from: Data(body)) {
            let specifics = (parsed.error.details ?? []).flatMap { $0.errors ?? [] }.compactMap(\.message)
            return GoogleAdsError(httpStatus: status, status: parsed.error.status ?? "",
                                  message: ([parsed.error.message] + specifics).joined(separator: " — "))
        }
        return GoogleAdsError(httpStatus: status, status: "", message: String(decoding: body.prefix(300), as: UTF8.self))
    }
}

/// A Google Ads API error: the HTTP status, the gRPC status name and the messages.
public struct GoogleAdsError: Error, CustomStringConvertible, Sendable {
    public var httpStatus: Int
    public var status: String
    public var message: String

    /// 429 (quota) and 5xx may pass; INVALID_ARGUMENT, PERMISSION_DENIED and the rest will not.
    public var isRetryable: Bool { httpStatus == 429 || httpStatus >= 500 }

    public var description: String { "Google Ads error (HTTP \(httpStatus)\(status.isEmpty ? "" : " \(status)")): \(message)" }
}
