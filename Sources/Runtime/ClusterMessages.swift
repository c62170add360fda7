import Domain
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

// MARK: - hand-written decoders of the hot payloads (identical results to `Codable` where that
// succeeds; where these throw, `Envelope.payload(as:)` decodes with `Codable` for the message)

extension TrackedVisit: JSONFastDecodable {
    public init(json reader: inout JSONReader) throws {
        var visitID: String?, clientID: String?, occurredAt: String?, landingURL: String?, referrer: String?, referrerHost: String?
        var referrerKind: String?, utmSource: String?, utmMedium: String?, utmCampaign: String?, utmContent: String?, utmTerm: String?
        var clickID: String?, clickIDKind: String?, userAgent: String?, traffic: String?, receivedAt: String?
        try reader.readObject { reader, key in
            switch key {
            case "visit_id": visitID = try reader.readString()
            case "client_id": clientID = try reader.readOptionalString()
            case "occurred_at": occurredAt = try reader.readString()
            case "landing_url": landingURL = try reader.readString()
            case "referrer": referrer = try reader.readOptionalString()
            case "referrer_host": referrerHost = try reader.readOptionalString()
            case "referrer_kind": referrerKind = try reader.readString()
            case "utm_source": utmSource = try reader.readOptionalString()
            case "utm_medium": utmMedium = try reader.readOptionalString()
            case "utm_campaign": utmCampaign = try reader.readOptionalString()
            case "utm_content": utmContent = try reader.readOptionalString()
            case "utm_term": utmTerm = try reader.readOptionalString()
            case "click_id": clickID = try reader.readOptionalString()
            case "click_id_kind": clickIDKind = try reader.readOptionalString()
            case "user_agent": userAgent = try reader.readOptionalString()
            case "traffic": traffic = try reader.readString()
            case "received_at": receivedAt = try reader.readString()
            default: try reader.skipValue()
            }
        }
        guard let visitID, let occurredAt, let landingURL, let referrerKind, let traffic, let receivedAt else { throw JSONReader.Mismatch() }
        self.init(visitID: visitID, clientID: clientID, occurredAt: occurredAt, landingURL: landingURL, referrer: referrer, referrerHost: referrerHost,
                  referrerKind: referrerKind, utmSource: utmSource, utmMedium: utmMedium, utmCampaign: utmCampaign, utmContent: utmContent,
                  utmTerm: utmTerm, clickID: clickID, clickIDKind: clickIDKind, userAgent: userAgent, traffic: traffic, receivedAt: receivedAt)
    }
}

extension TrackedLead: JSONFastDecodable {
    public init(json reader: inout JSONReader) throws {
        var requestID: String?, visitID: String?, clientID: String?, occurredAt: String?, kind: String?, phone: String?, email: String?
        var name: String?, page: String?, product: String?, receivedAt: String?
        try reader.readObject { reader, key in
            switch key {
            case "request_id": requestID = try reader.readString()
            case "visit_id": visitID = try reader.readOptionalString()
            case "client_id": clientID = try reader.readOptionalString()
            case "occurred_at": occurredAt = try reader.readString()
            case "kind": kind = try reader.readString()
            case "phone": phone = try reader.readOptionalString()
            case "email": email = try reader.readOptionalString()
            case "name": name = try reader.readOptionalString()
            case "page": page = try reader.readOptionalString()
            case "product": product = try reader.readOptionalString()
            case "received_at": receivedAt = try reader.readString()
            default: try reader.skipValue()
            }
        }
        guard let requestID, let occurredAt, let kind, let receivedAt else { throw JSONReader.Mismatch() }
        self.init(requestID: requestID, visitID: visitID, clientID: clientID, occurredAt: occurredAt, kind: kind, phone: phone, email: email,
                  name: name, page: page, product: product, receivedAt: receivedAt)
    }
}

extension TrackedBatch: JSONFastDecodable {
    public init(json reader: inout JSONReader) throws {
        var visits: [TrackedVisit]?
        var leads: [TrackedLead]?
        try reader.readObject { reader, key in
            switch key {
            case "visits":
                var list: [TrackedVisit] = []
                try reader.readArray { list.append(try TrackedVisit(json: &$0)) }
                visits = list
            case "leads":
                var list: [TrackedLead] = []
                try reader.readArray { list.append(try TrackedLead(json: &$0)) }
                leads = list
            default: try reader.skipValue()
            }
        }
        guard let visits, let leads else { throw JSONReader.Mismatch() }
        self.init(visits: visits, leads: leads)
    }
}

// MARK: - hand-written encoders of the hot payloads (what `JSONEncoder` writes, faster)

extension TrackedVisit: JSONFastEncodable {
    public func write(json writer: inout JSONWriter) {
        writer.raw("{")
        writer.field("visit_id", visitID, first: true)
        writer.field("client_id", clientID)
        writer.field("occurred_at", occurredAt)
        writer.field("landing_url", landingURL)
        writer.field("referrer", referrer)
        writer.field("referrer_host", referrerHost)
        writer.field("referrer_kind", referrerKind)
        writer.field("utm_source", utmSource)
        writer.field("utm_medium", utmMedium)
        writer.field("utm_campaign", utmCampaign)
        writer.field("utm_content", utmContent)
        writer.field("utm_term", utmTerm)
        writer.field("click_id", clickID)
        writer.field("click_id_kind", clickIDKind)
        writer.field("user_agent", userAgent)
        writer.field("traffic", traffic)
        writer.field("received_at", receivedAt)
        writer.raw("}")
    }
}

extension TrackedLead: JSONFastEncodable {
    public func write(json writer: inout JSONWriter) {
        writer.raw("{")
        writer.field("request_id", requestID, first: true)
        writer.field("visit_id", visitID)
        writer.field("client_id", clientID)
        writer.field("occurred_at", occurredAt)
        writer.field("kind", kind)
        writer.field("phone", phone)
        writer.field("email", email)
        writer.field("name", name)
        writer.field("page", page)
        writer.field("product", product)
        writer.field("received_at", receivedAt)
        writer.raw("}")
    }
}

extension TrackedBatch: JSONFastEncodable {
    public func write(json writer: inout JSONWriter) {
        writer.raw(#"{"leads":["#)
        for (index, lead) in leads.enumerated() {
            if index > 0 { writer.raw(",") }
            lead.write(json: &writer)
        }
        writer.raw(#"],"visits":["#)
        for (index, visit) in visits.enumerated() {
            if index > 0 { writer.raw(",") }
            visit.write(json: &writer)
        }
        writer.raw("]}")
    }
}
