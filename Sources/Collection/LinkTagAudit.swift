import Domain
import Foundation
import Postgres

/// Which campaigns' link settings at the network disagree with the keys their spend is reported
/// under: visits from such a campaign will not meet its spend in the report. Read by
/// `analytics spend tags`.
public enum LinkTagAudit {
    public struct Campaign: Sendable, Equatable {
        public var source: String
        public var account: String
        public var campaignID: String
        public var campaignName: String
        /// The keys the spend sits under (domain.md definition 2).
        public var utmSource: String
        public var utmCampaign: String?
        /// What the network's links say, and their template.
        public var linkSource: String?
        public var linkCampaign: String?
        public var template: String
        /// Spend in the project's reporting currency over the period.
        public var spend: Decimal

        /// Whether visits will carry other keys than the spend's.
        public var disagrees: Bool {
            (linkSource != nil && linkSource != utmSource) || linkCampaign != utmCampaign
        }

        /// What the operator can do about it.
        public var advice: String {
            if linkCampaign == nil && template.contains("utm_campaign=") {
                return "utm_campaign is set per click in the network (\(template)); tag it with the campaign's name or id"
            }
            if linkCampaign == nil { return "the links carry no utm_campaign; add one to the campaign's links" }
            if linkCampaign == campaignID && linkCampaign != utmCampaign { return "the links carry the campaign id: set the source's campaign_tag: id" }
            if let linkSource, linkSource != utmSource {
                return "the links say utm_source=\(linkSource), the source is configured as \(utmSource): set utm_source or campaign_tag: network"
            }
            return "the links carry utm_campaign=\(linkCampaign ?? ""): rename the campaign or set the source's campaign_tag: network"
        }
    }

    /// Every campaign of `project` with spend in `from...to` whose rows have link settings (one
    /// line per distinct set of keys), optionally of one source.
    public static func campaigns(project: String, source: String?, from: LocalDay, to: LocalDay, pool: PGPool) async throws -> [Campaign] {
        let rows = try await pool.query("""
            SELECT source_id, account, campaign_id, max(campaign_name), utm_source, utm_campaign, link_utm_source,
                   link_utm_campaign, max(link_template), sum(spend)
            FROM spend.facts
            WHERE project_id = $1 AND ($2::text IS NULL OR source_id = $2) AND day BETWEEN $3::date AND $4::date
              AND link_template IS NOT NULL
            GROUP BY source_id, account, campaign_id, utm_source, utm_campaign, link_utm_source, link_utm_campaign
            ORDER BY sum(spend) DESC, source_id, account, campaign_id
            """, [project, source, from.description, to.description])
        return try rows.map { row in
            Campaign(source: try row.decode(String.self, 0), account: try row.decode(String.self, 1),
                     campaignID: try row.decode(String.self, 2), campaignName: try row.decode(String.self, 3),
                     utmSource: try row.decode(String.self, 4), utmCampaign: try row.decode(String?.self, 5),
                     linkSource: try row.decode(String?.self, 6), linkCampaign: try row.decode(String?.self, 7),
                     template: try row.decode(String.self, 8), spend: try row.decode(Decimal.self, 9))
        }
    }
}
