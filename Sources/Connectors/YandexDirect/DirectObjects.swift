import Domain
import Foundation

/// The ad groups and ads of Yandex Direct campaigns (`AdGroups.get`, `Ads.get` of API v5): the
/// ad titles the Reports service does not give, and the links whose UTM parameters visits carry
/// (an ad's `Href` and its group's `TrackingParams`, which Direct appends to every link of the
/// group).
extension DirectReportsClient {
    public struct AdGroup: Sendable, Equatable {
        public var id: Int64
        public var campaignID: Int64
        public var name: String?
        public var trackingParams: String?
    }

    public struct Ad: Sendable, Equatable {
        public var id: Int64
        public var campaignID: Int64
        public var adGroupID: Int64
        /// A text ad's title: what the cabinet shows as the ad.
        public var title: String?
        /// The ad's link, with its own UTM parameters (may hold `{macros}`).
        public var href: String?
    }

    /// At most this many campaign ids go into one `SelectionCriteria.CampaignIds`.
    public static let campaignIDsPerRequest = 10

    /// The ad groups of `campaignIDs` (any number; sent 10 at a time, following `LimitedBy`).
    public func adGroups(campaignIDs: [Int64]) async throws -> [AdGroup] {
        struct Item: Decodable { let Id: Int64; let CampaignId: Int64; let Name: String?; let TrackingParams: String? }
        let items: [Item] = try await getAll(service: "adgroups", resultKey: "AdGroups", campaignIDs: campaignIDs) { selection, page in
            DirectGetRequest(params: .init(SelectionCriteria: selection, FieldNames: ["Id", "CampaignId", "Name", "TrackingParams"], Page: page))
        }
        return items.map { AdGroup(id: $0.Id, campaignID: $0.CampaignId, name: $0.Name, trackingParams: $0.TrackingParams) }
    }

    /// The ads of `campaignIDs`, with the title and link of text and text-image ads.
    public func ads(campaignIDs: [Int64]) async throws -> [Ad] {
        struct Item: Decodable {
            struct Text: Decodable { let Title: String?; let Href: String? }
            struct Image: Decodable { let Href: String? }
            let Id: Int64
            let CampaignId: Int64
            let AdGroupId: Int64
            let TextAd: Text?
            let TextImageAd: Image?
        }
        let items: [Item] = try await getAll(service: "ads", resultKey: "Ads", campaignIDs: campaignIDs) { selection, page in
            DirectGetRequest(params: .init(SelectionCriteria: selection, FieldNames: ["Id", "CampaignId", "AdGroupId"], Page: page,
                                           TextAdFieldNames: ["Title", "Href"], TextImageAdFieldNames: ["Href"]))
        }
        return items.map {
            Ad(id: $0.Id, campaignID: $0.CampaignId, adGroupID: $0.AdGroupId, title: $0.TextAd?.Title,
               href: $0.TextAd?.Href ?? $0.TextImageAd?.Href)
        }
    }

    /// Every object of a `get` method for the campaigns, page by page: a truncated page carries
    /// `LimitedBy`, and the next request asks from that offset.
    private func getAll<Item: Decodable>(
        service: String, resultKey: String, campaignIDs: [Int64],
        request: (DirectGetRequest.Selection, DirectGetRequest.Page) -> DirectGetRequest
    ) async throws -> [Item] {
        let unique = Array(Set(campaignIDs)).sorted()
        var all: [Item] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for start in stride(from: 0, to: unique.count, by: Self.campaignIDsPerRequest) {
            let ids = Array(unique[start..<min(unique.count, start + Self.campaignIDsPerRequest)])
            var offset: Int64 = 0
            while true {
                let body = Array(try encoder.encode(request(.init(CampaignIds: ids), .init(Limit: 10_000, Offset: offset))))
                let bytes = try await call(service: service, body: body)
                let decoder = JSONDecoder()
                decoder.userInfo[resultKeyInfo] = resultKey
                let page: DirectGetPage<Item>
                do { page = try decoder.decode(DirectGetPage<Item>.self, from: Data(bytes)) } catch let error as DecodingError {
                    throw DirectAPIError(code: 0, message: "\(service).get answer: \(DecodingProblem.describe(error))", httpStatus: 200)
                }
                all += page.result.items
                guard let limitedBy = page.result.limitedBy, limitedBy > offset else { break }
                offset = limitedBy
            }
        }
        return all
    }

    /// One call of a v5 JSON service; an `{"error": ...}` body (Direct sends them with HTTP 200
    /// too) is retried or thrown like a Reports error.
    private func call(service: String, body: [UInt8]) async throws -> [UInt8] {
        var attempt = 0
        while true {
            let (status, headers, bytes) = try await post("/json/v5/\(service)", body, reportHeaders: false)
            if status == 200 && !Self.isErrorBody(bytes) { return bytes }
            let error = Self.error(status: status, headers: headers, body: bytes)
            attempt += 1
            guard error.isRetryable, attempt < configuration.maxAttempts else { throw error }
            logger.warning("Yandex Direct asked to retry", metadata: ["service": "\(service)", "error": "\(error)", "attempt": "\(attempt)"])
            try await Backoff(initial: configuration.backoff, maximum: 300).sleep(attempt: attempt)
        }
    }
}

extension DirectReportsClient {
    /// Whether a JSON body's first key is `error`.
    static func isErrorBody(_ bytes: [UInt8]) -> Bool {
        let significant = bytes.lazy.filter { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }.prefix(8)
        return Array(significant) == Array(#"{"error""#.utf8)
    }
}

/// A page of a v5 `get` answer: `result.<Objects>` and, when truncated, `result.LimitedBy`.
struct DirectGetPage<Item: Decodable>: Decodable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    struct Result: Decodable {
        let items: [Item]
        let limitedBy: Int64?
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            let key = decoder.userInfo[resultKeyInfo] as? String ?? ""
            items = try container.decodeIfPresent([Item].self, forKey: AnyKey(stringValue: key)) ?? []
            limitedBy = try container.decodeIfPresent(Int64.self, forKey: AnyKey(stringValue: "LimitedBy"))
        }
    }
    let result: Result
}

private let resultKeyInfo = CodingUserInfoKey(rawValue: "resultKey")!

/// The body of a v5 `get` call.
struct DirectGetRequest: Encodable {
    struct Selection: Encodable { let CampaignIds: [Int64] }
    struct Page: Encodable { let Limit: Int; let Offset: Int64 }
    struct Params: Encodable {
        let SelectionCriteria: Selection
        let FieldNames: [String]
        let Page: Page
        var TextAdFieldNames: [String]? = nil
        var TextImageAdFieldNames: [String]? = nil
    }
    var method = "get"
    let params: Params
}
