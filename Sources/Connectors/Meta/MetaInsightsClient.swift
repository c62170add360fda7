import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Meta Marketing API Ads Insights at ad level, one row per day (`time_increment=1`).
///
/// Follows `paging.next` cursors; backs off on the rate-limit codes (4, 17, 32, 613, 80000,
/// 80004) and on `is_transient` errors, waiting `estimated_time_to_regain_access` when the
/// `X-Business-Use-Case-Usage` header gives one; when the synchronous call is refused for size
/// or time (codes 1/99, 2/1504038, 100/1504018) it runs the same query as an async report
/// (`POST …/insights` → poll the report run → read its insights). The token travels in the
/// `Authorization` header, never in a URL or a message.
public struct MetaInsightsClient: Sendable {
    public struct Configuration: Sendable {
        public var baseURL: String
        public var apiVersion: String
        public var accessToken: String
        public var pageSize: Int
        public var maxAttempts: Int
        public var backoff: Double
        /// Seconds between polls of an async report.
        public var pollInterval: Double
        public var maxPolls: Int

        public init(
            baseURL: String = "https://graph.facebook.com", apiVersion: String = "v25.0", accessToken: String, pageSize: Int = 500,
            maxAttempts: Int = 6, backoff: Double = 2, pollInterval: Double = 5, maxPolls: Int = 360
        ) {
            self.baseURL = baseURL
            self.apiVersion = apiVersion
            self.accessToken = accessToken
            self.pageSize = pageSize
            self.maxAttempts = maxAttempts
            self.backoff = backoff
            self.pollInterval = pollInterval
            self.maxPolls = maxPolls
        }
    }

    /// One insights row (numbers arrive as strings and are converted exactly).
    public struct Row: Sendable, Equatable {
        public var day: LocalDay
        public var campaignID: String
        public var campaignName: String
        public var adSetID: String
        public var adSetName: String
        public var adID: String
        public var adName: String
        public var impressions: Int64
        public var clicks: Int64
        public var spend: Micros
        public var currency: String?

        public init(day: LocalDay, campaignID: String, campaignName: String, adSetID: String, adSetName: String, adID: String,
                    adName: String, impressions: Int64, clicks: Int64, spend: Micros, currency: String? = nil) {
            self.day = day
            self.campaignID = campaignID
            self.campaignName = campaignName
            self.adSetID = adSetID
            self.adSetName = adSetName
            self.adID = adID
            self.adName = adName
            self.impressions = impressions
            self.clicks = clicks
            self.spend = spend
            self.currency = currency
        }
    }

    public static let fields = "date_start,date_stop,account_currency,campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,spend,impressions,clicks"

    public let configuration: Configuration
    private let http: HTTPClient
    private let logger: Logger

    public init(configuration: Configuration, http: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.http = http
        self.logger = logger
    }

    /// Every row of ad account `account` (with or without `act_`) for `days`.
    /// - Throws: `MetaError`.
    public func rows(account: String, days: DayRange) async throws -> [Row] {
        let act = account.hasPrefix("act_") ? account : "act_\(account)"
        let query = Self.query(days, pageSize: configuration.pageSize)
        let root = "\(configuration.baseURL)/\(configuration.apiVersion)"
        do {
            return try await pages(from: "\(root)/\(act)/insights?\(query)")
        } catch let error as MetaError where error.needsAsyncReport {
            logger.info("insights too large for a synchronous call; running an async report", metadata: ["meta.account": "\(act)"])
            let started = try await call(.POST, "\(root)/\(act)/insights?\(query)")
            struct Run: Decodable { let report_run_id: String }
            guard let run = try? JSONDecoder().decode(Run.self, from: Data(started)) else {
                throw MetaError(code: 0, subcode: nil, message: "no report_run_id in the async report answer", transient: false)
            }
            try await waitForReport(root: root, runID: run.report_run_id)
            return try await pages(from: "\(root)/\(run.report_run_id)/insights?limit=\(configuration.pageSize)")
        }
    }

    static func query(_ days: DayRange, pageSize: Int) -> String {
        let range = #"{"since":"\#(days.first)","until":"\#(days.last)"}"#
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return "level=ad&time_increment=1&time_range=\(range.addingPercentEncoding(withAllowedCharacters: allowed)!)"
            + "&fields=\(fields.addingPercentEncoding(withAllowedCharacters: allowed)!)&limit=\(pageSize)"
    }

    private func waitForReport(root: String, runID: String) async throws {
        struct Status: Decodable { let async_status: String; let async_percent_completion: Int? }
        for _ in 0..<configuration.maxPolls {
            let body = try await call(.GET, "\(root)/\(runID)")
            guard let status = try? JSONDecoder().decode(Status.self, from: Data(body)) else {
                throw MetaError(code: 0, subcode: nil, message: "unreadable async report status", transient: false)
            }
            switch status.async_status {
            case "Job Completed": return
            case "Job Failed", "Job Skipped":
                throw MetaError(code: -2, subcode: 2_490_547, message: "the async report ended with '\(status.async_status)'", transient: false)
            default:
                try await Task.sleep(for: .milliseconds(Int(configuration.pollInterval * 1000)))
            }
        }
        throw MetaError(code: 0, subcode: nil, message: "the async report was not done after \(configuration.maxPolls) polls", transient: false)
    }

    private func pages(from first: String) async throws -> [Row] {
        struct Item: Decodable {
            let date_start: String
            let campaign_id: String?
            let campaign_name: String?
            let adset_id: String?
            let adset_name: String?
            let ad_id: String?
            let ad_name: String?
            let impressions: String?
            let clicks: String?
            let spend: String?
            let account_currency: String?
        }
        var rows: [Row] = []
        try await eachPage(from: first) { (page, items: [Item]) in
            for (index, item) in items.enumerated() {
                func fail(_ field: String, _ value: String?) -> MetaError {
                    MetaError(code: 0, subcode: nil, message: "page \(page) row \(index + 1): \(field) '\(value ?? "missing")' is invalid", transient: false)
                }
                guard let day = LocalDay(iso: item.date_start) else { throw fail("date_start", item.date_start) }
                guard let campaign = item.campaign_id else { throw fail("campaign_id", nil) }
                // The spend was asked for: a row without it is not a row of zero spend.
                guard let spendText = item.spend, let spend = Micros(decimal: spendText) else { throw fail("spend", item.spend) }
                guard let impressions = Int64(item.impressions ?? "0") else { throw fail("impressions", item.impressions) }
                guard let clicks = Int64(item.clicks ?? "0") else { throw fail("clicks", item.clicks) }
                rows.append(Row(day: day, campaignID: campaign, campaignName: item.campaign_name ?? "", adSetID: item.adset_id ?? "",
                                adSetName: item.adset_name ?? "", adID: item.ad_id ?? "", adName: item.ad_name ?? "",
                                impressions: impressions, clicks: clicks, spend: spend, currency: item.account_currency))
            }
        }
        return rows
    }

    /// The `url_tags` of every ad's creative in ad account `account` (ad id → tags; ads whose
    /// creative has none are absent): `GET /act_<id>/ads?fields=id,creative{url_tags}`, cursor
    /// paging. The tags may hold macros (`{{campaign.name}}`, `{{ad.id}}`).
    public func urlTags(account: String) async throws -> [String: String] {
        struct Item: Decodable {
            struct Creative: Decodable { let url_tags: String? }
            let id: String
            let creative: Creative?
        }
        let act = account.hasPrefix("act_") ? account : "act_\(account)"
        let fields = "id,creative{url_tags}".addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~,")))!
        var tags: [String: String] = [:]
        try await eachPage(from: "\(configuration.baseURL)/\(configuration.apiVersion)/\(act)/ads?fields=\(fields)&limit=\(configuration.pageSize)") {
            (_, items: [Item]) in
            for item in items { if let urlTags = item.creative?.url_tags, !urlTags.isEmpty { tags[item.id] = urlTags } }
        }
        return tags
    }

    /// Calls `first`, then each `paging.next`, handing every page's `data` to `body`.
    private func eachPage<Item: Decodable>(from first: String, _ body: (Int, [Item]) throws -> Void) async throws {
        var next: String? = first
        var page = 0
        while let url = next {
            page += 1
            let bytes = try await call(.GET, url)
            let decoded: MetaPage<Item>
            do {
                decoded = try JSONDecoder().decode(MetaPage<Item>.self, from: Data(bytes))
            } catch let error as DecodingError {
                throw MetaError(code: 0, subcode: nil, message: "page \(page): \(DecodingProblem.describe(error))", transient: false)
            }
            try body(page, decoded.data)
            next = decoded.paging?.next
        }
    }

    /// One call with retries for rate limits and transient errors.
    private func call(_ method: HTTPMethod, _ url: String) async throws -> [UInt8] {
        var attempt = 0
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(configuration.accessToken)")
            var status = 599
            var headers = HTTPHeaders()
            var bytes: [UInt8] = []
            do {
                let response = try await http.execute(request, timeout: .seconds(300))
                status = Int(response.status.code)
                headers = response.headers
                bytes = Array(try await response.body.collect(upTo: 1 << 28).readableBytesView)
            } catch {
                bytes = Array(#"{"error": {"message": "cannot reach the Graph API", "code": 2, "is_transient": true}}"#.utf8)
            }
            if status == 200 { return bytes }
            let error = MetaError.parse(status: status, body: bytes)
            if error.needsAsyncReport { throw error }
            attempt += 1
            guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
            var wait = Backoff(initial: configuration.backoff, maximum: 300).delay(attempt: attempt)
            if let minutes = Self.minutesToRegainAccess(headers), minutes > 0 { wait = max(wait, minutes * 60) }
            logger.warning("Meta asked to slow down", metadata: ["error": "\(error)", "attempt": "\(attempt)", "wait": "\(wait)"])
            try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
        }
    }

    /// The largest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
    static func minutesToRegainAccess(_ headers: HTTPHeaders) -> Double? {
        guard let text = headers.first(name: "X-Business-Use-Case-Usage"),
              let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [[String: Any]]] else { return nil }
        return json.values.flatMap { $0 }.compactMap { ($0["estimated_time_to_regain_access"] as? NSNumber)?.doubleValue }.max()
    }
}

/// A Graph API error: `{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}`.
public struct MetaError: Error, CustomStringConvertible, Sendable {
    public var code: Int
    public var subcode: Int?
    public var message: String
    public var transient: Bool
    public var httpStatus: Int?

    public init(code: Int, subcode: Int?, message: String, transient: Bool, httpStatus: Int? = nil) {
        self.code = code
        self.subcode = subcode
        self.message = message
        self.transient = transient
        self.httpStatus = httpStatus
    }

    /// Rate limits (4, 17, 32, 613, 80000–80014), transient errors and 5xx.
    public var isRetryable: Bool {
        [4, 17, 32, 613].contains(code) || (80000...80014).contains(code) || transient || (httpStatus ?? 0) >= 500
    }

    /// The synchronous call was too big or too slow: use an async report.
    public var needsAsyncReport: Bool {
        (code == 100 && subcode == 1_504_018) || (code == 2 && subcode == 1_504_038) || code == 1 || code == 99
    }

    public var description: String {
        "Meta error \(code)\(subcode.map { "/\($0)" } ?? "")\(httpStatus.map { " (HTTP \($0))" } ?? ""): \(message)"
            + (code == 190 ? " [the access token is invalid or expired]" : "")
    }

    static func parse(status: Int, body: [UInt8]) -> MetaError {
        struct Body: Decodable {
            struct Inner: Decodable {
                let message: String
                let code: Int
                let error_subcode: Int?
                let is_transient: Bool?
            }
            let error: Inner
        }
        if let parsed = try? JSONDecoder().decode(Body.self, from: Data(body)) {
            return MetaError(code: parsed.error.code, subcode: parsed.error.error_subcode, message: parsed.error.message,
                             transient: parsed.error.is_transient ?? false, httpStatus: status)
        }
        return MetaError(code: 0, subcode: nil, message: String(decoding: body.prefix(300), as: UTF8.self), transient: false, httpStatus: status)
    }
}

/// A page of a Graph API edge: `data` and `paging.next` (absent on the last page).
struct MetaPage<Item: Decodable>: Decodable {
    struct Paging: Decodable { let next: String? }
    let data: [Item]
    let paging: Paging?
}
