import Domain
import Foundation
import GoogleAds
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// A fake of Google Ads `googleAds:searchStream` and of Google's OAuth token endpoint
/// (`POST /token`), speaking their wire formats: a JSON array of result batches with int64
/// values as strings and lowerCamelCase keys, rows with all-zero metrics omitted, the
/// `{"error": {code, message, status, details}}` body with 401/403/429/500/503, an error element
/// inside the stream, and expiring access tokens.
public final class FakeGoogleAds: Sendable {
    public struct Knobs: Sendable {
        /// HTTP statuses answered first, one per searchStream call (429, 500, 503, 400, 403).
        public var errorStatuses: [Int] = []
        /// Access tokens stop working after this many calls (401 UNAUTHENTICATED).
        public var tokenLifetimeCalls = Int.max
        /// Results per batch.
        public var batchSize = 1000
        /// Append an error element after the batches (a stream that fails midway).
        public var failMidStream = false
        /// Every campaign's `finalUrlSuffix` (may hold ValueTrack macros); nil: not set.
        public var campaignFinalURLSuffix: String?
        /// Campaign id → its own final-URL suffix (over `campaignFinalURLSuffix`): Google has no
        /// campaign-name macro, so advertisers write each campaign's name into its suffix.
        public var campaignFinalURLSuffixes: [String: String] = [:]
        /// Every ad group's `trackingUrlTemplate`; nil: not set.
        public var adGroupTrackingTemplate: String?
        public init() {}
    }

    struct State {
        var rows: [String: [GoogleAdsClient.Row]] = [:]
        var knobs = Knobs()
        var tokens: [String: Int] = [:]  // access token → calls left
        var issued = 0
        var refreshToken = ""
        var developerToken = ""
        var calls = 0
    }

    private let state = Mutex(State())

    public init(refreshToken: String, developerToken: String) {
        state.withLock {
            $0.refreshToken = refreshToken
            $0.developerToken = developerToken
        }
    }

    public func setRows(_ rows: [GoogleAdsClient.Row], customerID: String) { state.withLock { $0.rows[customerID] = rows } }
    public func setKnobs(_ knobs: Knobs) { state.withLock { $0.knobs = knobs } }
    /// Access tokens issued so far.
    public var tokensIssued: Int { state.withLock { $0.issued } }
    public var streamCalls: Int { state.withLock { $0.calls } }

    /// Cost micros per day and campaign id.
    public func totals(customerID: String) -> [LocalDay: [String: Int64]] {
        state.withLock { state in
            var totals: [LocalDay: [String: Int64]] = [:]
            for row in state.rows[customerID] ?? [] { totals[row.day, default: [:]][row.campaignID, default: 0] += row.costMicros }
            return totals
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/token") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 16))
            let form = Dictionary(body.split(separator: "&").map { pair -> (String, String) in
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }, uniquingKeysWith: { a, _ in a })
            return self.state.withLock { state -> Response in
                guard form["grant_type"] == "refresh_token", form["refresh_token"] == state.refreshToken else {
                    return Self.json(.badRequest, #"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#)
                }
                state.issued += 1
                let token = "ya29.fake-\(state.issued)"
                state.tokens[token] = state.knobs.tokenLifetimeCalls
                return Self.json(.ok, #"{"access_token": "\#(token)", "expires_in": 3599, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/adwords"}"#)
            }
        }
        router.post("/:version/customers/:customer/googleAds:searchStream") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let customer = context.parameters.get("customer") ?? ""
            return self.stream(headers: request.headers, customer: customer, body: Data(buffer: body))
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=UTF-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ code: Int, _ status: String, _ message: String, _ detail: String) -> String {
        #"{"error": {"code": \#(code), "message": "\#(message)", "status": "\#(status)", "details": [{"@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure", "errors": [{"errorCode": {"queryError": "\#(detail)"}, "message": "\#(detail)"}], "requestId": "fpZ3l2XcV0aCqF7c2wU4Hw"}]}}"#
    }

    func stream(headers: HTTPFields, customer: String, body: Data) -> Response {
        state.withLock { state -> Response in
            state.calls += 1
            if !state.knobs.errorStatuses.isEmpty {
                let status = state.knobs.errorStatuses.removeFirst()
                let (name, message) = [429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
                                       500: ("INTERNAL", "Internal error encountered."), 503: ("UNAVAILABLE", "The service is currently unavailable."),
                                       403: ("PERMISSION_DENIED", "The caller does not have permission"),
                                       400: ("INVALID_ARGUMENT", "Request contains an invalid argument.")][status] ?? ("UNKNOWN", "Unknown")
                return Self.json(HTTPResponse.Status(code: status), Self.error(status, name, message, name))
            }
            guard let auth = headers[.authorization], auth.hasPrefix("Bearer "), let left = state.tokens[String(auth.dropFirst(7))], left > 0 else {
                return Self.json(.unauthorized, Self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", "AUTHENTICATION_ERROR"))
            }
            state.tokens[String(auth.dropFirst(7))] = left - 1
            guard headers[HTTPField.Name("developer-token")!] == state.developerToken else {
                return Self.json(.forbidden, Self.error(403, "PERMISSION_DENIED", "The developer token is not valid.", "DEVELOPER_TOKEN_INVALID"))
            }
            struct Query: Decodable { let query: String }
            guard let query = try? JSONDecoder().decode(Query.self, from: body).query, query.contains("FROM ad_group_ad"),
                  let range = Self.dates(query) else {
                return Self.json(.badRequest, Self.error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "UNRECOGNIZED_FIELD"))
            }
            let rows = (state.rows[customer] ?? []).filter {
                range.first <= $0.day && $0.day <= range.last && ($0.impressions != 0 || $0.clicks != 0 || $0.costMicros != 0)
            }
            func campaignLinks(_ id: String) -> String {
                (state.knobs.campaignFinalURLSuffixes[id] ?? state.knobs.campaignFinalURLSuffix).map { #", "finalUrlSuffix": "\#($0)""# } ?? ""
            }
            let groupLinks = state.knobs.adGroupTrackingTemplate.map { #", "trackingUrlTemplate": "\#($0)""# } ?? ""
            var batches: [String] = []
            var start = 0
            repeat {
                let slice = rows[start..<min(rows.count, start + state.knobs.batchSize)]
                let results = slice.map { row in
                    #"{"campaign": {"resourceName": "customers/\#(customer)/campaigns/\#(row.campaignID)", "id": "\#(row.campaignID)", "name": "\#(row.campaignName)"\#(campaignLinks(row.campaignID))}, "#
                        + #""adGroup": {"id": "\#(row.adGroupID)", "name": "\#(row.adGroupName)"\#(groupLinks)}, "adGroupAd": {"ad": {"id": "\#(row.adID)"\#(row.adName.map { #", "name": "\#($0)""# } ?? "")}}, "#
                        + #""metrics": {"impressions": "\#(row.impressions)", "clicks": "\#(row.clicks)", "costMicros": "\#(row.costMicros)"\#(row.conversions.map { ", \"conversions\": \($0)" } ?? "")}, "#
                        + #""segments": {"date": "\#(row.day)"}}"#
                }
                let last = start + state.knobs.batchSize >= rows.count
                batches.append(#"{"results": [\#(results.joined(separator: ", "))], "fieldMask": "segments.date,campaign.id,campaign.name,adGroup.id,adGroup.name,adGroupAd.ad.id,adGroupAd.ad.name,metrics.impressions,metrics.clicks,metrics.costMicros,metrics.conversions", "requestId": "fpZ3l2XcV0aCqF7c2wU4Hw"\#(last ? #", "queryResourceConsumption": "12""# : "")}"#)
                start += state.knobs.batchSize
            } while start < rows.count
            if rows.isEmpty { batches = [] }
            if state.knobs.failMidStream {
                batches.append(Self.error(500, "INTERNAL", "Internal error encountered.", "INTERNAL_ERROR"))
            }
            return Self.json(.ok, "[" + batches.joined(separator: ",\n") + "]")
        }
    }

    static func dates(_ query: String) -> DayRange? {
        guard let between = query.range(of: "BETWEEN '") else { return nil }
        let rest = query[between.upperBound...]
        guard let firstEnd = rest.firstIndex(of: "'"), let first = LocalDay(iso: rest[..<firstEnd]),
              let and = rest.range(of: "AND '") else { return nil }
        let tail = rest[and.upperBound...]
        guard let lastEnd = tail.firstIndex(of: "'"), let last = LocalDay(iso: tail[..<lastEnd]) else { return nil }
        return DayRange(first, last)
    }
}
