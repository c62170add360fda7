import Foundation

// The payloads of the cluster's messages (the routes are in `ClusterTopology`): contracts between
// the processes that publish them and those that consume them.

/// A visit as the tracker accepted it (contracts.md §1), normalised: UTM tags filled from the
/// landing URL where the body has none, click ids found, the referrer classified.
public struct TrackedVisit: Codable, Sendable, Equatable {
    public var visitID: String
    public var clientID: String?
    /// RFC 3339 in UTC with microseconds.
    public var occurredAt: String
    public var landingURL: String
    public var referrer: String?
    /// The referrer's host, lower-cased, without `www.`; nil when there is none.
    public var referrerHost: String?
    /// `search`, `social`, `referral`, `internal` (the project's own site) or `none`.
    public var referrerKind: String
    public var utmSource: String?
    public var utmMedium: String?
    public var utmCampaign: String?
    public var utmContent: String?
    public var utmTerm: String?
    public var clickID: String?
    /// `yclid`, `gclid`, `fbclid`, `rb_clickid` when the id came from the landing URL, `body` when posted.
    public var clickIDKind: String?
    public var userAgent: String?
    /// `paid`, `tagged`, `organic`, `social`, `referral` or `direct` (domain.md definitions 1 and 4).
    public var traffic: String
    public var receivedAt: String

    public init(visitID: String, clientID: String? = nil, occurredAt: String, landingURL: String, referrer: String? = nil, referrerHost: String? = nil, referrerKind: String, utmSource: String? = nil, utmMedium: String? = nil, utmCampaign: String? = nil, utmContent: String? = nil, utmTerm: String? = nil, clickID: String? = nil, clickIDKind: String? = nil, userAgent: String? = nil, traffic: String, receivedAt: String) {
        self.visitID = visitID
        self.clientID = clientID
        self.occurredAt = occurredAt
        self.landingURL = landingURL
        self.referrer = referrer
        self.referrerHost = referrerHost
        self.referrerKind = referrerKind
        self.utmSource = utmSource
        self.utmMedium = utmMedium
        self.utmCampaign = utmCampaign
        self.utmContent = utmContent
        self.utmTerm = utmTerm
        self.clickID = clickID
        self.clickIDKind = clickIDKind
        self.userAgent = userAgent
        self.traffic = traffic
        self.receivedAt = receivedAt
    }

    enum CodingKeys: String, CodingKey {
        case visitID = "visit_id", clientID = "client_id", occurredAt = "occurred_at", landingURL = "landing_url", referrer,
             referrerHost = "referrer_host", referrerKind = "referrer_kind", utmSource = "utm_source", utmMedium = "utm_medium",
             utmCampaign = "utm_campaign", utmContent = "utm_content", utmTerm = "utm_term", clickID = "click_id",
             clickIDKind = "click_id_kind", userAgent = "user_agent", traffic, receivedAt = "received_at"
    }
}

/// A lead as the tracker accepted it: phone in E.164 (or none), e-mail lower-cased.
public struct TrackedLead: Codable, Sendable, Equatable {
    public var requestID: String
    public var visitID: String?
    public var clientID: String?
    public var occurredAt: String
    public var kind: String
    public var phone: String?
    public var email: String?
    public var name: String?
    public var page: String?
    public var product: String?
    public var receivedAt: String

    public init(requestID: String, visitID: String? = nil, clientID: String? = nil, occurredAt: String, kind: String, phone: String? = nil, email: String? = nil, name: String? = nil, page: String? = nil, product: String? = nil, receivedAt: String) {
        self.requestID = requestID
        self.visitID = visitID
        self.clientID = clientID
        self.occurredAt = occurredAt
        self.kind = kind
        self.phone = phone
        self.email = email
        self.name = name
        self.page = page
        self.product = product
        self.receivedAt = receivedAt
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id", visitID = "visit_id", clientID = "client_id", occurredAt = "occurred_at", kind, phone, email,
             name, page, product, receivedAt = "received_at"
    }
}

/// The payload of an `events.tracked` message: whatever concurrent requests brought in a few
/// milliseconds, for one project.
public struct TrackedBatch: Codable, Sendable, Equatable {
    public var visits: [TrackedVisit]
    public var leads: [TrackedLead]
    public init(visits: [TrackedVisit] = [], leads: [TrackedLead] = []) {
        self.visits = visits
        self.leads = leads
    }
}

/// The payload of a `crm.webhook` message: a CRM's webhook body as it arrived (the tracker
/// forwards them; `analytics deals webhook` injects one).
public struct CRMWebhookMessage: Codable, Sendable, Equatable {
    public var connection: String
    public var contentType: String
    public var body: String

    enum CodingKeys: String, CodingKey { case connection, contentType = "content_type", body }

    public init(connection: String, contentType: String = "application/x-www-form-urlencoded", body: String) {
        self.connection = connection
        self.contentType = contentType
        self.body = body
    }
}
