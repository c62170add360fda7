import Aggregation
import ArgumentParser
import Domain
import Foundation
import Postgres
import Settings

extension Settings {
    /// `--project`, or the only configured project.
    func chosenProject(_ id: String?) throws -> Project {
        if let id {
            guard let project = project(id) else { throw ValidationError("no project '\(id)' is configured") }
            return project
        }
        guard projects.count == 1 else { throw ValidationError("several projects are configured: choose one with --project") }
        return projects[0]
    }
}

/// `analytics rebuild`: recomputes a project's report partitions (all, or a range of days) in
/// one transaction — after changing channel rules, stage mappings or the half-life.
public struct RebuildCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Recompute the mart's report tables of a project (every day, or --from/--to) from the stored data.")

    @Option(help: "The project (default: the only one configured).") var project: String?
    @Option(help: "First day (YYYY-MM-DD); with --to, only these days are recomputed.") var from: String?
    @Option(help: "Last day (YYYY-MM-DD).") var to: String?
    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

    public init() {}

    public func run() async throws {
        let settings = try Settings.load(path: config)
        let chosen = try settings.chosenProject(project)
        var days: Set<LocalDay>?
        switch (from, to) {
        case (nil, nil): days = nil
        case let (first?, last?):
            guard let a = LocalDay(iso: first), let b = LocalDay(iso: last), let range = DayRange(a, b) else {
                throw ValidationError("--from/--to: '\(first)'..'\(last)' is not a range of dates (YYYY-MM-DD)")
            }
            days = Set(range.days)
        default: throw ValidationError("give both --from and --to, or neither")
        }
        let builder = try ReportBuilder(project: chosen)
        let started = ContinuousClock.now
        let summary = try await CLI.withPool(settings, "rebuild") { pool in
            try await pool.withTransaction { try await builder.rebuild(days: days, on: $0, readers: pool) }
        }
        let seconds = (ContinuousClock.now - started).components
        let elapsed = Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18
        print("project \(chosen.id): rebuilt \(summary.days) days — \(summary.leads) leads, \(summary.credits) credits, \(summary.deals) deals, "
              + "\(summary.cells) cells, \(summary.paymentCells) payment cells in \(String(format: "%.2f", elapsed)) s")
    }
}

/// `analytics explain <crm> <deal id>`: the deal's path and its credit under every model.
public struct ExplainCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show why a deal's sale counts where it counts: its lead, the rule of each link, every touch and its credit per model.")

    @Argument(help: "The CRM connection (its source id), or amocrm / bitrix24 when the project has one of that kind.") var crm: String
    @Argument(help: "The deal's id in the CRM.") var dealID: String
    @Option(help: "The project (default: the only one configured).") var project: String?
    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

    public init() {}

    public func run() async throws {
        let settings = try Settings.load(path: config)
        let chosen = try settings.chosenProject(project)
        let connectionID = try Self.connection(crm, in: chosen)
        let explanation = try await CLI.withPool(settings, "explain") { pool in
            try await pool.withConnection { try await DealExplanation.explain(project: chosen, connection: connectionID, dealID: dealID, on: $0) }
        }
        print(explanation.text(timeZone: TimeZone(identifier: chosen.timeZone) ?? .gmt), terminator: "")
    }

    /// The CRM source `name` designates: its id, or its kind when only one source has it.
    static func connection(_ name: String, in project: Project) throws -> String {
        let crms = project.sources.filter { $0.kind == "amocrm" || $0.kind == "bitrix24" }
        if let source = crms.first(where: { $0.id == name }) { return source.id }
        let ofKind = crms.filter { $0.kind == name }
        guard ofKind.count == 1 else {
            throw ValidationError(ofKind.isEmpty
                ? "project \(project.id) has no CRM source '\(name)' (sources: \(crms.map(\.id).joined(separator: ", ")))"
                : "project \(project.id) has several \(name) sources: name one of \(ofKind.map(\.id).joined(separator: ", "))")
        }
        return ofKind[0].id
    }
}

/// `analytics media-plan import FILE`: planned spend and leads per month and channel.
public struct MediaPlanCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "media-plan", abstract: "Import media plans (read by mart.media_plan).", subcommands: [Import.self])

    public init() {}

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the plans of the months a CSV names (columns month, channel, planned_spend, planned_leads).")
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The project (default: the only one configured).") var project: String?
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            let settings = try Settings.load(path: config)
            let chosen = try settings.chosenProject(project)
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read \(file) as UTF-8 text")
            }
            let rows: [MediaPlan.Row]
            do { rows = try MediaPlan.parse(text) } catch let error as CSVError {
                throw ValidationError("\(file): \(error)")
            }
            try await CLI.withPool(settings, "media-plan") { pool in
                try await pool.withConnection { try await MediaPlan.store(rows, project: chosen.id, on: $0) }
            }
            let months = Set(rows.map(\.month)).sorted()
            print("project \(chosen.id): \(rows.count) plan rows for \(months.map { String($0.description.prefix(7)) }.joined(separator: ", "))")
        }
    }
}
