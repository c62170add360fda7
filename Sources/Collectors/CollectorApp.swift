import AMQP
import ArgumentParser
import Collection
import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Settings

/// The command line every collector executable shares.
public struct CollectorOptions: ParsableArguments {
    @Option(help: "Project id (default: the only project with a source of this kind).") public var project: String?
    @Option(help: "Source id (default: every source of this kind in the project).") public var source: String?
    @Option(help: "Only this account.") public var account: String?
    @Option(help: "First day (YYYY-MM-DD) of a backfill; default: the re-fetch window ending today.") public var from: String?
    @Option(help: "Last day (YYYY-MM-DD) of a backfill; default: today.") public var to: String?
    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") public var config: String?

    public init() {}
}

/// Runs one collection for one network: reads configuration, builds the accounts and the
/// source, runs `SpendCollector`, publishes the `spend.updated` events, prints progress and a
/// summary. Executables are a thin `@main` around `CollectorApp.main`.
public struct CollectorApp: Sendable {
    public let kind: String
    public let defaultUTMSource: String
    /// Builds the network's source for one configured source (credentials resolved here; the
    /// pool is for sources that keep state, such as stored OAuth tokens).
    public let makeSource: @Sendable (Source, Project, PGPool) throws -> any SpendSource

    public init(kind: String, defaultUTMSource: String, makeSource: @escaping @Sendable (Source, Project, PGPool) throws -> any SpendSource) {
        self.kind = kind
        self.defaultUTMSource = defaultUTMSource
        self.makeSource = makeSource
    }

    /// Runs and returns the reports (one per configured source); throws for configuration
    /// errors. `print` receives progress and summary lines.
    public func run(
        _ options: CollectorOptions, settings: Settings, logger: Logger, now: Date = Date(),
        print: @escaping @Sendable (String) -> Void = { Swift.print($0) }
    ) async throws -> [SpendCollector.Report] {
        let candidates = settings.projects.filter { project in
            (options.project == nil || project.id == options.project) && project.sources.contains { $0.kind == kind }
        }
        guard let project = candidates.first, candidates.count == 1 else {
            throw ValidationError(candidates.isEmpty
                ? "no project\(options.project.map { " '\($0)'" } ?? "") has a source of kind \(kind)"
                : "several projects have \(kind) sources: choose one with --project")
        }
        let sources = project.sources.filter { $0.kind == kind && (options.source == nil || $0.id == options.source) }
        guard !sources.isEmpty else { throw ValidationError("project \(project.id) has no \(kind) source '\(options.source ?? "")'") }
        var range: DayRange?
        if options.from != nil || options.to != nil {
            guard let fromText = options.from, let first = LocalDay(iso: fromText) else { throw ValidationError("--from must be a date YYYY-MM-DD") }
            let last = try options.to.map { text -> LocalDay in
                guard let day = LocalDay(iso: text) else { throw ValidationError("--to must be a date YYYY-MM-DD") }
                return day
            } ?? LocalDay(now, in: TimeZone(identifier: project.timeZone)!)
            guard let valid = DayRange(first, last) else { throw ValidationError("--from \(first) is after --to \(last)") }
            range = valid
        }
        let pool = PGPool(PGConfiguration(url: settings.databaseURL, applicationName: "collector-\(kind)"), logger: logger)
        var reports: [SpendCollector.Report] = []
        do {
            for source in sources {
                let accounts = try self.accounts(of: source, project: project).filter { options.account == nil || $0.account == options.account }
                guard !accounts.isEmpty else {
                    throw ValidationError("source \(source.id) has no account '\(options.account ?? "")'")
                }
                var collector = SpendCollector(
                    project: .init(id: project.id, reportingCurrency: project.currency,
                                   spendIncludesVAT: source.options["report_with_vat"] == "true"),
                    source: try makeSource(source, project, pool), pool: pool, logger: logger)
                collector.progress = { done, total, what in print("[\(source.id)] \(done)/\(total) chunks — \(what)") }
                let report = try await collector.run(accounts: accounts, range: range, now: now)
                print("[\(source.id)] \(report.succeeded ? "done" : "FAILED"): \(report.rowsWritten) rows in \(report.chunksDone) chunks"
                      + (report.chunksSkipped > 0 ? ", \(report.chunksSkipped) chunks already done" : ""))
                for failure in report.failures { print("  error: \(failure)") }
                reports.append(report)
            }
            try await publishEvents(settings: settings, pool: pool, logger: logger)
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
        return reports
    }

    /// The accounts of a configured source: its `account`, with `options` `currency` (default:
    /// the project's), `time_zone` (default: the project's), `utm_source` (default per network)
    /// and `campaign_tag` (`name`, `id` or `network`: the network's own link settings, else the name).
    public func accounts(of source: Source, project: Project) throws -> [AdAccount] {
        guard let account = source.account, !account.isEmpty else {
            throw ValidationError("source \(source.id): 'account' is required")
        }
        let zone = source.options["time_zone"] ?? project.timeZone
        guard let timeZone = TimeZone(identifier: zone) else { throw ValidationError("source \(source.id): unknown time_zone '\(zone)'") }
        let tag = AdAccount.CampaignTag(rawValue: source.options["campaign_tag"] ?? "name")
        guard let tag else { throw ValidationError("source \(source.id): campaign_tag must be name, id or network") }
        return [AdAccount(sourceID: source.id, account: account, currency: source.options["currency"] ?? project.currency,
                          timeZone: timeZone, utmSource: source.options["utm_source"] ?? defaultUTMSource, campaignTag: tag)]
    }

    /// Publishes what the run put in the outbox. When the broker is unreachable the events stay
    /// in the outbox, and any worker's relay publishes them later.
    private func publishEvents(settings: Settings, pool: PGPool, logger: Logger) async throws {
        let amqp = try AMQPConfiguration(url: settings.amqpURL)
        let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, name: "collector-\(kind)",
                                      settings: .init(giveUpAfterSeconds: 10), logger: logger)
        let relay = OutboxRelay(pool: pool, publisher: publisher, logger: logger)
        do {
            while try await relay.drainOnce() > 0 {}
        } catch {
            logger.warning("spend.updated events stay in the outbox for a worker's relay", metadata: ["error": "\(error)"])
        }
        await publisher.close()
    }
}
