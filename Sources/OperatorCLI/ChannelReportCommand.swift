import ArgumentParser
import Domain
import Foundation
import Postgres
import Reporting
import Settings

extension ReportColumn: ExpressibleByArgument {}
extension Report.Grouping: ExpressibleByArgument {}
extension ReportFormat: ExpressibleByArgument {}

/// `analytics report`: the channel report (channel → source → campaign), or the manager or
/// product report, as a table, CSV or JSON — read from the `mart` views a BI tool reads.
public struct ChannelReportCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Spend, visits, leads, sales, revenue, CPL, CPO and ROMI by channel, source and campaign (or by manager or product).")

    @Option(help: "The project (default: the only one configured).") var project: String?
    @Option(help: "Attribution model: first_click, last_click, last_non_direct, last_paid, linear, position_based, time_decay (default: the project's attribution.default_model).")
    var model: String?
    @Option(help: "First day (YYYY-MM-DD; default: the first day the report holds).") var from: String?
    @Option(help: "Last day (YYYY-MM-DD; default: the last day the report holds).") var to: String?
    @Option(help: "A calendar month instead of --from/--to (YYYY-MM).") var month: String?
    @Option(name: .customLong("group-by"), help: "channel, manager or product.") var grouping: Report.Grouping = .channel
    @Option(help: "Channel report levels: 1 channels, 2 with sources, 3 with campaigns.") var depth: Int = 3
    @Option(help: "Sort every level by this column, highest first (romi, revenue, spend, leads, ...; default: romi for channels, revenue otherwise).")
    var sort: ReportColumn?
    @Option(help: "table, csv or json.") var format: ReportFormat = .table
    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

    public init() {}

    public func validate() throws {
        guard (1...3).contains(depth) else { throw ValidationError("--depth: \(depth) is not 1, 2 or 3") }
        if month != nil && (from != nil || to != nil) { throw ValidationError("give --month or --from/--to, not both") }
        if let model, !AttributionSettings.models.contains(model) {
            throw ValidationError("--model: '\(model)' is not one of \(AttributionSettings.models.joined(separator: ", "))")
        }
    }

    public func run() async throws {
        let settings = try Settings.load(path: config)
        let chosen = try settings.chosenProject(project)
        let output = try await CLI.withPool(settings, "report") { pool in
            try await pool.withConnection { try await Self.render(self, project: chosen, on: $0) }
        }
        print(output, terminator: "")
    }

    /// The command's output for a project (tests call it with the parsed command).
    public static func render(_ command: ChannelReportCommand, project: Project, on connection: PGConnection) async throws -> String {
        func day(_ text: String, _ flag: String) throws -> LocalDay {
            guard let day = LocalDay(iso: text) else { throw ValidationError("\(flag): '\(text)' is not a date (YYYY-MM-DD)") }
            return day
        }
        var first: LocalDay?
        var last: LocalDay?
        if let month = command.month {
            guard let start = LocalDay(iso: month + "-01") else { throw ValidationError("--month: '\(month)' is not a month (YYYY-MM)") }
            first = start
            last = start.daysOfMonth.last
        } else {
            first = try command.from.map { try day($0, "--from") }
            last = try command.to.map { try day($0, "--to") }
        }
        if first == nil || last == nil {
            guard let range = try await ReportQuery.dataRange(project: project.id, on: connection) else {
                return command.format == .table ? "project \(project.id): the report is empty (nothing aggregated yet)\n" : ""
            }
            first = first ?? range.from
            last = last ?? range.to
        }
        let request = Report.Request(project: project.id, model: command.model ?? project.attribution.defaultModel, from: first!, to: last!,
                                     grouping: command.grouping, depth: command.depth, sort: command.sort)
        let report: Report
        do { report = try await ReportQuery.load(request, on: connection) } catch let problem as ReportQuery.Problem {
            throw ValidationError(problem.description)
        }
        return command.format.render(report, title: "\(project.name) (\(project.id)), \(project.currency)")
    }
}

/// `analytics status`: sources, queues, dead letters and the outbox at a glance.
public struct StatusCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Last successful run and lag per source, CRM sync state and unknown stages, queue depths and dead letters.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
    @Option(name: .customLong("management-url"),
            help: "RabbitMQ management API (http://user:password@host:15672) for unacknowledged counts (default: $RABBITMQ_MANAGEMENT_URL).")
    var managementURL: String?

    public init() {}

    public func run() async throws {
        let settings = try Settings.load(path: config)
        let management = managementURL ?? ProcessInfo.processInfo.environment["RABBITMQ_MANAGEMENT_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let status = try await CLI.withPool(settings, "status") { try await ClusterStatus.read(settings: settings, pool: $0, managementURL: management) }
        print(status.text, terminator: "")
    }
}

/// `analytics schedule crontab`: when each collector runs, from the configuration — the crontab
/// the compose scheduler (supercronic) runs.
public struct ScheduleCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "The collectors' schedule from the configuration.", subcommands: [Crontab.self])

    public init() {}

    struct Crontab: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print (or write) a crontab line per ad source: options.schedule, else hourly (cost sheets daily).")
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
        @Option(help: "Write the crontab to this file instead of printing it.") var output: String?

        func run() async throws {
            let text = try CollectorSchedule.crontab(try Settings.load(path: config))
            if let output {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } else {
                print(text, terminator: "")
            }
        }
    }
}
