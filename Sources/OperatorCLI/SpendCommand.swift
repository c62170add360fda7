import ArgumentParser
import Collection
import Domain
import Foundation
import Postgres
import Settings

/// `analytics spend tags`: the campaigns whose links at the network would put their visits under
/// other keys than their spend.
public struct SpendCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "spend",
        abstract: "Inspect collected ad spend.",
        subcommands: [Tags.self])

    public init() {}

    struct Tags: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List campaigns whose link UTM settings disagree with the keys their spend is reported under.",
            discussion: """
                Visits are joined to spend on utm_source and utm_campaign (domain.md definition 2). This reads \
                what the collectors found in each network's link settings and lists the campaigns whose links \
                say otherwise, largest spend first, with what to change. Exits non-zero when any disagree.
                """)

        @Option(help: "The project (default: the only one configured).") var project: String?
        @Option(help: "Only this configured source.") var source: String?
        @Option(help: "First day (YYYY-MM-DD); default: 30 days before --to.") var from: String?
        @Option(help: "Last day (YYYY-MM-DD); default: today in the project's time zone.") var to: String?
        @Flag(help: "List every campaign with link settings, also those that agree.") var all = false
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            let settings = try Settings.load(path: config)
            let chosen = project.flatMap(settings.project) ?? (project == nil && settings.projects.count == 1 ? settings.projects.first : nil)
            guard let chosen else {
                throw ValidationError(project.map { "no project '\($0)' is configured" } ?? "several projects are configured: choose one with --project")
            }
            let zone = TimeZone(identifier: chosen.timeZone) ?? .gmt
            guard let last = to.map({ LocalDay(iso: $0) }) ?? LocalDay(Date(), in: zone) else { throw ValidationError("--to must be a date YYYY-MM-DD") }
            guard let first = from.map({ LocalDay(iso: $0) }) ?? last.advanced(by: -29) else { throw ValidationError("--from must be a date YYYY-MM-DD") }
            guard first <= last else { throw ValidationError("--from \(first) is after --to \(last)") }
            let campaigns = try await CLI.withPool(settings, "spend") {
                try await LinkTagAudit.campaigns(project: chosen.id, source: source, from: first, to: last, pool: $0)
            }
            let shown = all ? campaigns : campaigns.filter(\.disagrees)
            let disagreeing = campaigns.filter(\.disagrees).count
            print("project \(chosen.id), \(first) – \(last): \(campaigns.count) campaign key sets with link settings, \(disagreeing) disagree")
            for campaign in shown {
                print("""
                    \(campaign.disagrees ? "✗" : "✓") \(campaign.source)/\(campaign.account) campaign \(campaign.campaignID) \
                    "\(campaign.campaignName)" spend \(campaign.spend.text(places: 2)) \(chosen.currency)
                        reported as utm_source=\(campaign.utmSource) utm_campaign=\(campaign.utmCampaign ?? "")
                        links say   utm_source=\(campaign.linkSource ?? "?") utm_campaign=\(campaign.linkCampaign ?? "?")  [\(campaign.template)]
                    """)
                if campaign.disagrees { print("    → \(campaign.advice)") }
            }
            if disagreeing > 0 { throw ExitCode(2) }
        }
    }
}
