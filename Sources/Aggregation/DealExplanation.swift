import Attribution
import Domain
import Foundation
import Postgres
import Settings

/// Why a sale counts where it counts: one deal's path from the stored links, computed afresh —
/// the deal, the rule that linked it to its lead (and the duplicate chain it was re-rooted
/// through), every touch with its channel, keys, time and the rule that made it a touch, and its
/// credit and credited revenue under each model (`analytics explain`).
public struct DealExplanation: Sendable {
    public struct Touch: Sendable {
        public var position: Int
        public var visitID: String?
        public var startedAt: Int64?
        /// `own_visit` or `client_lookback`; nil for the `(unknown)` touch of a lead without any.
        public var rule: String?
        public var channel: String
        public var contractor: String?
        public var keys: ReportKeys
        /// In `AttributionModel.allCases` order, units of 10^-15.
        public var weights: [Int64]
    }

    public var connectionID: String
    public var dealID: String
    public var crm: String
    public var status: String
    public var pipeline: String
    public var stage: String
    public var createdAt: Int64
    public var revenue: ExactAmount
    public var currency: String
    /// The CRM's linking fields on the deal.
    public var requestIDField: String?
    public var visitIDField: String?
    public var rule: String
    public var leadRequestID: String?
    public var leadAt: Int64?
    public var leadVisitID: String?
    public var leadClientKey: String?
    public var customerID: String?
    public var touches: [Touch]

    /// Finds the deal `dealID` of `connection` (a CRM source id of the project) and explains it.
    /// - Throws: `AggregationError` when the deal or its link does not exist.
    public static func explain(project: Project, connection connectionID: String, dealID: String, on connection: PGConnection) async throws -> DealExplanation {
        let builder = try ReportBuilder(project: project)
        let deals = try await builder.readDeals(where: "d.connection_id = $2 AND d.deal_id = $3", [connectionID, dealID], on: connection)
        guard let deal = deals.first else {
            let stored = try await connection.query("""
                SELECT d.is_deleted, l.deal_id IS NOT NULL FROM crm.deals d
                LEFT JOIN journey.deal_links l ON l.project_id = d.project_id AND l.connection_id = d.connection_id AND l.deal_id = d.deal_id
                WHERE d.project_id = $1 AND d.connection_id = $2 AND d.deal_id = $3
                """, [project.id, connectionID, dealID])
            if stored.isEmpty { throw AggregationError("deal \(dealID) of \(connectionID) is not stored (run deal-sync for \(connectionID) first)") }
            if try stored[0].decode(Bool.self, 0) { throw AggregationError("deal \(dealID) of \(connectionID) is deleted in the CRM") }
            throw AggregationError("deal \(dealID) of \(connectionID) is not linked yet (the identity resolver has not seen it)")
        }
        let fields = try await connection.query("""
            SELECT request_id, visit_id, crm FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND deal_id = $3
            """, [project.id, connectionID, dealID])[0]
        var explanation = DealExplanation(
            connectionID: connectionID, dealID: dealID, crm: deal.crm, status: deal.status, pipeline: deal.pipeline, stage: deal.stage,
            createdAt: deal.createdAt, revenue: deal.revenue, currency: project.currency, requestIDField: try fields.decode(String?.self, 0),
            visitIDField: try fields.decode(String?.self, 1), rule: deal.rule, leadRequestID: deal.lead, leadAt: nil, leadVisitID: nil,
            leadClientKey: nil, customerID: deal.customerID, touches: [])
        guard let lead = deal.lead else {
            // Orphan: (unknown), in full under every model.
            let unknown = builder.classifier.classify(ChannelInput(source: ReportKeys.unknown.source, medium: nil, campaign: nil, traffic: "unknown"))
            explanation.touches = [Touch(position: 1, visitID: nil, startedAt: nil, rule: nil, channel: unknown.channel, contractor: unknown.contractor,
                                         keys: .unknown, weights: Array(repeating: Credit.unit, count: AttributionModel.allCases.count))]
            return explanation
        }
        guard let path = try await builder.credits.leads(where: "l.request_id = $2", [lead], on: connection).first else {
            throw AggregationError("deal \(dealID) of \(connectionID) links to lead \(lead), which is not stored")
        }
        let leadRow = try await connection.query("SELECT visit_id, client_key FROM journey.leads WHERE project_id = $1 AND request_id = $2",
                                                 [project.id, lead])[0]
        var rules: [Int: String] = [:]
        for row in try await connection.query("SELECT position, rule FROM journey.touches WHERE project_id = $1 AND request_id = $2",
                                              [project.id, lead]) {
            rules[try row.decode(Int.self, 0)] = try row.decode(String.self, 1)
        }
        explanation.leadAt = path.occurredAt
        explanation.leadVisitID = try leadRow.decode(String?.self, 0)
        explanation.leadClientKey = try leadRow.decode(String?.self, 1)
        explanation.touches = path.credits.map {
            Touch(position: $0.position, visitID: $0.visitID, startedAt: $0.touchedAt, rule: $0.visitID == nil ? nil : rules[$0.position],
                  channel: $0.channel, contractor: $0.contractor, keys: $0.keys, weights: $0.weights)
        }
        return explanation
    }

    /// A weight as a decimal fraction with 15 places.
    public static func fraction(_ weight: Int64) -> String {
        let whole = weight / Credit.unit, rest = weight % Credit.unit
        let digits = String(rest)
        return "\(whole)." + String(repeating: "0", count: 15 - digits.count) + digits
    }

    static let ruleText = [
        "request_id": "the deal's request-id field names the lead (definition 8a)",
        "visit_id": "the deal's visit-id field names the lead's visit: its earliest non-duplicate lead (8b)",
        "contact_near": "a phone or e-mail of the deal's contact matches a lead within ±1 h of the deal's creation (8c)",
        "contact_earlier": "a phone or e-mail of the deal's contact matches the latest earlier lead (8c)",
        "none": "nothing links it: a won deal is orphan revenue on (unknown) (definition 13)",
    ]

    /// The explanation as the terminal shows it, times in `timeZone`.
    public func text(timeZone: TimeZone) -> String {
        func time(_ micros: Int64?) -> String {
            guard let micros else { return "—" }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = timeZone
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            return formatter.string(from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        }
        var lines: [String] = []
        lines.append("deal \(dealID) (\(crm), connection \(connectionID)): \(status), pipeline \(pipeline), stage \(stage), created \(time(createdAt))")
        lines.append("revenue \(revenue) \(currency)")
        lines.append("fields: request_id \(requestIDField ?? "—"), visit_id \(visitIDField ?? "—")")
        lines.append("link: \(rule) — \(Self.ruleText[rule] ?? rule)")
        if let leadRequestID {
            lines.append("lead \(leadRequestID) at \(time(leadAt)), visit \(leadVisitID ?? "—"), client \(leadClientKey ?? "—")")
        }
        if let customerID { lines.append("customer \(customerID)") }
        let models = AttributionModel.allCases
        lines.append("")
        lines.append("touches (\(touches.count)):")
        for touch in touches {
            let how = touch.rule.map { $0 == "own_visit" ? "the lead's own visit" : "the client's visit in the lookback window" }
                ?? "no visit known: (unknown)"
            let keys = [touch.keys.source, touch.keys.medium, touch.keys.campaign, touch.keys.ad, touch.keys.keyword]
                .map { $0.isEmpty ? "—" : $0 }.joined(separator: " / ")
            lines.append("  #\(touch.position) \(time(touch.startedAt))  \(touch.channel)\(touch.contractor.map { " — \($0)" } ?? "")  \(keys)")
            lines.append("     visit \(touch.visitID ?? "—"): \(how)")
        }
        lines.append("")
        lines.append("credit per model (weight; revenue credited):")
        for (index, model) in models.enumerated() {
            let parts = touches.map { "#\($0.position) \(Self.fraction($0.weights[index])); \(revenue.credited($0.weights[index]))" }
            let total = touches.map { $0.weights[index] }.reduce(0, +)
            lines.append("  \(model.rawValue): " + parts.joined(separator: "  |  ") + "  (sum \(Self.fraction(total)))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
