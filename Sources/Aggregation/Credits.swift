import Attribution
import Domain
import Foundation
import Postgres
import Settings

/// The credits of leads: every touch with its seven weights, report keys, channel and contractor
/// (docs/aggregator.md), read from the stored paths; `ReportBuilder` writes them to
/// `report.credits` with the rest of a partition. Touches are the identity resolver's
/// (`journey.touches`); a lead without any has its one `(unknown)` touch.
public struct Credits: Sendable {
    public let project: Project
    public let halfLifeDays: Double
    let classifier: ChannelClassifier
    let timeZone: TimeZone

    public init(project: Project) {
        self.project = project
        halfLifeDays = project.attribution.halfLifeDays
        classifier = ChannelClassifier(project.channels)
        timeZone = TimeZone(identifier: project.timeZone) ?? TimeZone(identifier: "UTC")!
    }

    /// One credit row, as written.
    public struct Row: Sendable, Equatable {
        public var requestID: String
        public var position: Int
        public var visitID: String?
        public var day: LocalDay
        public var touchedAt: Int64?
        public var channel: String
        public var contractor: String?
        public var keys: ReportKeys
        /// In `AttributionModel.allCases` order.
        public var weights: [Int64]
    }

    /// The credits of one lead from its stored path (rows in touch order; an empty path is the
    /// `(unknown)` touch).
    typealias PathTouch = (position: Int, visitID: String, start: Int64, keys: ReportKeys, traffic: String, clickIDKind: String?)

    func rows(requestID: String, leadAt: Int64, path: [PathTouch], channels: inout ChannelClassifier.Memo) -> [Row] {
        let day = LocalDay.of(micros: leadAt, in: timeZone)
        guard !path.isEmpty else {
            let channel = channels.classify(ChannelInput(source: ReportKeys.unknown.source, medium: nil, campaign: nil, traffic: "unknown"))
            return [Row(requestID: requestID, position: 1, visitID: nil, day: day, touchedAt: nil, channel: channel.channel,
                        contractor: channel.contractor, keys: .unknown, weights: Array(repeating: Credit.unit, count: AttributionModel.allCases.count))]
        }
        let touches = path.map { Touch(start: $0.start, isDirect: $0.traffic == "direct", isPaid: $0.traffic == "paid") }
        let byModel = AttributionModel.allCases.map { Credit.weights(touches, leadAt: leadAt, model: $0, halfLifeDays: halfLifeDays) }
        return path.enumerated().map { index, touch in
            let channel = channels.classify(ChannelInput(source: touch.keys.source, medium: touch.keys.medium.isEmpty ? nil : touch.keys.medium,
                                                           campaign: touch.keys.campaign, traffic: touch.traffic, clickIDKind: touch.clickIDKind))
            return Row(requestID: requestID, position: touch.position, visitID: touch.visitID, day: day, touchedAt: touch.start,
                       channel: channel.channel, contractor: channel.contractor, keys: touch.keys, weights: byModel.map { $0[index] })
        }
    }

    /// A lead as the report needs it: its row and its credit rows (touches with weights).
    struct Lead: Sendable {
        var requestID: String
        var occurredAt: Int64
        var day: LocalDay
        var visitID: String?
        var duplicateOf: String?
        var customerID: String?
        var product: String?
        var credits: [Row]
    }

    /// Reads the leads `filter` picks (SQL over `journey.leads l`, parameters from `$2`) with their
    /// touches and computes their credit rows.
    func leads(where filter: String, _ parameters: [(any PGEncodable)?], on connection: PGConnection) async throws -> [Lead] {
        let stored = try await connection.query("""
            SELECT l.request_id, (extract(epoch FROM l.occurred_at) * 1000000)::int8, t.position, t.visit_id,
                   (extract(epoch FROM t.started_at) * 1000000)::int8, v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term,
                   v.referrer_host, v.referrer_kind, v.traffic, v.click_id_kind, l.visit_id, l.duplicate_of, l.customer_id, l.product
            FROM journey.leads l
            LEFT JOIN journey.touches t ON t.project_id = l.project_id AND t.request_id = l.request_id
            LEFT JOIN journey.visits v ON v.project_id = t.project_id AND v.visit_id = t.visit_id
            WHERE l.project_id = $1 AND (\(filter))
            ORDER BY l.request_id, t.position
            """, [project.id] + parameters)
        var leads: [Lead] = []
        var current: Lead?
        var path: [PathTouch] = []
        var channels = ChannelClassifier.Memo(classifier)
        func close() {
            if var lead = current {
                lead.credits = rows(requestID: lead.requestID, leadAt: lead.occurredAt, path: path, channels: &channels)
                lead.day = lead.credits[0].day
                leads.append(lead)
            }
            path.removeAll(keepingCapacity: true)
        }
        for row in stored {
            let id = try row.decode(String.self, 0)
            if current?.requestID != id {
                close()
                current = Lead(requestID: id, occurredAt: try row.decode(Int64.self, 1), day: LocalDay(daysSinceEpoch: 0),
                               visitID: try row.decode(String?.self, 14), duplicateOf: try row.decode(String?.self, 15),
                               customerID: try row.decode(String?.self, 16), product: try row.decode(String?.self, 17), credits: [])
            }
            guard let position = try row.decode(Int?.self, 2), let visitID = try row.decode(String?.self, 3) else { continue }
            let start = try row.decode(Int64.self, 4)
            // A touch whose visit row is missing keeps its place with the (unknown) keys.
            guard let traffic = try row.decode(String?.self, 12) else {
                path.append((position, visitID, start, .unknown, "unknown", nil))
                continue
            }
            let keys = ReportKeys.ofVisit(utmSource: try row.decode(String?.self, 5), utmMedium: try row.decode(String?.self, 6),
                                          utmCampaign: try row.decode(String?.self, 7), utmContent: try row.decode(String?.self, 8),
                                          utmTerm: try row.decode(String?.self, 9), referrerHost: try row.decode(String?.self, 10),
                                          referrerKind: try row.decode(String.self, 11), traffic: traffic)
            path.append((position, visitID, start, keys, traffic, try row.decode(String?.self, 13)))
        }
        close()
        return leads
    }

    /// Writes credit rows with COPY (the caller deleted what they replace).
    static func write(_ rows: [Row], project projectID: String, on connection: PGConnection) async throws {
        guard !rows.isEmpty else { return }
        try await connection.copyIn("""
            COPY report.credits (project_id, request_id, position, visit_id, day, touched_at, channel, contractor, source, medium, campaign, ad, keyword,
                                 w_first_click, w_last_click, w_last_non_direct, w_last_paid, w_linear, w_position_based, w_time_decay) FROM STDIN
            """) { writer in
            for row in rows {
                writer.field(projectID)
                writer.field(row.requestID)
                writer.field(row.position)
                writer.field(row.visitID)
                writer.field(row.day.description)
                writer.field(microseconds: row.touchedAt)
                writer.field(row.channel)
                writer.field(row.contractor)
                writer.field(row.keys.source)
                writer.field(row.keys.medium)
                writer.field(row.keys.campaign)
                writer.field(row.keys.ad)
                writer.field(row.keys.keyword)
                for weight in row.weights { writer.field(weight) }
                try writer.endRow()
            }
        }
    }
}
