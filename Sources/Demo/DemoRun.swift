import AsyncHTTPClient
import Domain
import Foundation
import Logging
import Postgres
import Reporting
import Sandbox
import Settings

/// The main job: the sandbox world served by the fakes, the cluster's executables started as
/// separate processes against the local stack, every collector and deal-sync run against the
/// fakes, the site's visits and leads posted to the tracker, and — once the mart is current —
/// the channel report, checked against the world's ground truth under every model.
public struct DemoRun: Sendable {
    public struct Options: Sendable {
        public var binDirectory: String
        public var workDirectory: String
        public var databaseURL: String
        public var amqpURL: String
        /// RabbitMQ's management API, for unacknowledged counts while waiting (optional).
        public var managementURL: String?
        public var world: DemoWorld
        /// Aggregator processes (replicas).
        public var aggregators = 2
        /// How long the mart may take to become current after the last post.
        public var settleTimeout: Double = 600
        /// Faults injected while the data flows (the system test, issue 8); nil: none.
        public var faults: FaultPlan?

        public init(binDirectory: String, workDirectory: String, databaseURL: String, amqpURL: String, managementURL: String? = nil,
                    world: DemoWorld) {
            self.binDirectory = binDirectory
            self.workDirectory = workDirectory
            self.databaseURL = databaseURL
            self.amqpURL = amqpURL
            self.managementURL = managementURL
            self.world = world
        }
    }

    public struct Outcome: Sendable {
        /// The channel report the job prints (the project's default model).
        public var report: Report
        public var reportText: String
        public var truth: World.Totals
        /// Each model's report totals.
        public var totals: [String: World.Totals]
        public var trackerURL: String
        /// The dashboard page of the project (served while the cluster runs).
        public var dashboardURL: String
        /// The page as it was when the mart became current, saved in the work directory.
        public var dashboardSnapshot: String
        /// The mart's differences from the world per day and per deal (empty: none).
        public var differences: [String]
        /// Log files holding a secret's value (empty: none): "file: secret name".
        public var leakedSecrets: [String]
        /// What the faults did, when there were any.
        public var faults: FaultReport?
        /// Every model's totals equal the truth (money to the kopeck), and so does every day and
        /// every deal.
        public var matchesTruth: Bool {
            totals.values.allSatisfy { $0.rounded == truth.rounded } && totals.count == AttributionSettings.models.count && differences.isEmpty
        }
    }

    public let options: Options
    /// Lines of progress (the executable prints them; a test collects them).
    let say: @Sendable (String) -> Void
    /// A line that replaces itself (a counter); nil: print only the final value.
    let tick: @Sendable (String) -> Void

    public init(options: Options, say: @escaping @Sendable (String) -> Void, tick: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.say = say
        self.tick = tick
    }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        return String(format: "%.1f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Runs the job up to the printed report. The cluster and the fakes are returned running,
    /// for the caller to stop (or to keep, with the dashboard); on failure both are stopped.
    public func run(logger: Logger) async throws -> (Outcome, ClusterProcesses, SandboxFakes) {
        let demo = options.world
        let world = demo.world
        let started = ContinuousClock.now
        let duplicates = world.leads.filter { $0.duplicateOf != nil }.count
        let amoDeals = world.deals.filter { $0.crm == .amocrm }
        let refunds = world.deals.filter { $0.payments.contains { $0.amount < 0 } }.count
        let instalments = world.deals.filter { $0.payments.count == 3 }.count
        say("== the sandbox world: an online school's month, \(demo.firstDay) – \(demo.lastDay)")
        say("   \(world.spec.people) people, \(world.visits.count) visits, \(world.leads.count) leads (\(duplicates) resubmitted), "
            + "\(world.deals.count) deals (\(amoDeals.count) in amoCRM's two pipelines, \(world.deals.count - amoDeals.count) in Bitrix24), "
            + "\(instalments) paid in instalments, \(refunds) refunded; a webinar on \(demo.firstDay.advanced(by: world.spec.days / 2))")

        try FileManager.default.createDirectory(atPath: options.workDirectory + "/logs", withIntermediateDirectories: true)
        let fakes = try await SandboxFakes.start(demo)
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in DemoWorld.secrets { environment[key] = value }
        environment["DEMO_B24_WEBHOOK_URL"] = fakes.urls.bitrixWebhook
        environment["DATABASE_URL"] = options.databaseURL
        environment["AMQP_URL"] = options.amqpURL
        environment["ANALYTICS_CONFIG"] = options.workDirectory + "/analytics.yaml"
        environment["LOG_FORMAT"] = "text"
        environment["LOG_LEVEL"] = "info"
        let cluster = ClusterProcesses(binDirectory: options.binDirectory, logDirectory: options.workDirectory + "/logs", environment: environment)
        do {
            let outcome = try await runCluster(fakes: fakes, cluster: cluster, started: started, logger: logger)
            return (outcome, cluster, fakes)
        } catch {
            await cluster.stopAll()
            fakes.stop()
            throw error
        }
    }

    func runCluster(fakes: SandboxFakes, cluster: ClusterProcesses, started: ContinuousClock.Instant, logger: Logger) async throws -> Outcome {
        let demo = options.world
        let world = demo.world
        say("== fakes of Yandex Direct, VK Ads, myTarget, Google Ads, Meta, amoCRM and Bitrix24 on loopback")
        let work = options.workDirectory
        let configPath = work + "/analytics.yaml"
        try demo.configuration(urls: fakes.urls, costSheetPath: work + "/costs.csv").write(toFile: configPath, atomically: true, encoding: .utf8)
        try demo.costSheet.write(toFile: work + "/costs.csv", atomically: true, encoding: .utf8)
        try world.ratesCSV.write(toFile: work + "/rates.csv", atomically: true, encoding: .utf8)
        say("   configuration: \(configPath)")

        func cli(_ arguments: [String], name: String) async throws -> String {
            let (status, output) = try await cluster.run("analytics", name: name, arguments: arguments)
            guard status == 0 else { throw DemoError("analytics \(arguments.joined(separator: " ")) failed (\(status)):\n\(output)") }
            return output
        }
        say("== database: migrations, projects and sources, exchange rates")
        let migrated = try await cli(["migrate"], name: "migrate")
        say("   " + (migrated.split(separator: "\n").last.map(String.init) ?? ""))
        say("   " + (try await cli(["config", "apply"], name: "config-apply")).trimmingCharacters(in: .whitespacesAndNewlines))
        say("   " + (try await cli(["rates", "load", work + "/rates.csv", "--target", "RUB", "--origin", "cbr"], name: "rates"))
                .trimmingCharacters(in: .whitespacesAndNewlines))

        // The workers and the tracker, each its own process.
        say("== the cluster: tracker, identity-resolver, deal-sync, \(options.aggregators) aggregators, dashboard")
        let trackerPort = ClusterProcesses.freePort()
        let tracker = try cluster.start("tracker", arguments: ["--host", "127.0.0.1", "--port", String(trackerPort)])
        let dashboardPort = ClusterProcesses.freePort()
        let dashboard = try cluster.start("dashboard", arguments: ["--host", "127.0.0.1", "--port", String(dashboardPort)])
        var workers = [try cluster.start("identity-resolver"), try cluster.start("deal-sync"), dashboard]
        for index in 1...max(1, options.aggregators) {
            workers.append(try cluster.start("aggregator", name: "aggregator-\(index)", arguments: ["--linger", "0.3"]))
        }
        try await waitUntilReady([(tracker, "http://127.0.0.1:\(trackerPort)/health")] + workers.map { ($0, "http://127.0.0.1:\($0.healthPort)/ready") },
                                 cluster: cluster)
        let trackerURL = "http://127.0.0.1:\(trackerPort)"
        let dashboardBase = "http://127.0.0.1:\(dashboardPort)/projects/\(demo.project)"
        say("   all ready (tracker on \(trackerURL), dashboard on \(dashboardBase), logs in \(work)/logs)")

        // Every collector against its fake, and the site's visits and leads — one after the
        // other, or, under faults, all at once while processes die and servers restart.
        let faultBox = FaultBox()
        let feed = TrackerFeed(world)
        let total = feed.items.count
        let feedClock = ContinuousClock.now
        func collectors() async throws {
            for collector in ["collector-yandex-direct", "collector-vk-ads", "collector-mytarget", "collector-google-ads", "collector-meta",
                              "collector-manual-costs"] {
                let clock = ContinuousClock.now
                var attempt = 0
                while true {
                    attempt += 1
                    let (status, output) = try await cluster.run(collector, arguments: ["--project", demo.project, "--from", demo.firstDay.description,
                                                                                         "--to", demo.lastDay.description])
                    if status == 0 {
                        let summary = output.split(separator: "\n").last { !$0.isEmpty }.map(String.init) ?? "done"
                        say("   \(collector): \(summary.trimmingCharacters(in: .whitespaces)) (\(Self.seconds(since: clock))"
                            + (attempt > 1 ? ", run \(attempt) times" : "") + ")")
                        break
                    }
                    // Under faults the next scheduled run would pick it up: run it again.
                    guard options.faults != nil, attempt < 30 else { throw DemoError("\(collector) failed (\(status)):\n\(output.suffix(3000))") }
                    faultBox.update { $0.collectorReruns += 1 }
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
        func site() async throws {
            try await feed.post(to: trackerURL, project: demo.project, ingestKey: DemoWorld.secrets["DEMO_INGEST_KEY"]!, pace: options.faults?.pace) { done in
                if done % 500 == 0 || done == total { tick("   posted \(done) of \(total)") }
            }
            say("   \(total) accepted, each confirmed by the broker before its answer (\(Self.seconds(since: feedClock))"
                + (feed.retries > 0 ? "; \(feed.retries) sent again" : "") + ")")
        }
        // Under faults, whatever ends on its own is started again, as a supervisor would.
        let supervising = options.faults == nil ? nil : Task {
            while !Task.isCancelled {
                for gone in cluster.exited {
                    faultBox.update { $0.unexpectedExits.append(gone.name) }
                    say("   \(gone.name) ended on its own (\(gone.process.terminationStatus)); started again")
                    _ = try? await cluster.killAndRestart(gone.name)
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { supervising?.cancel() }
        if let plan = options.faults {
            let targets = ["tracker", "identity-resolver", "deal-sync"] + (1...max(1, options.aggregators)).map { "aggregator-\($0)" }
            say("== collectors, the website's \(total) visits and leads and, meanwhile, faults: \(plan.killsPerProcess) SIGKILLs of each of "
                + targets.joined(separator: ", ") + (plan.stack != nil ? "; RabbitMQ, then PostgreSQL, stopped and started" : ""))
            let chaos = Chaos(plan: plan, cluster: cluster, targets: targets, log: work + "/logs/stack.log", say: say)
            async let faulted: Void = chaos.run(report: faultBox)
            async let collected: Void = collectors()
            async let posted: Void = site()
            try await faulted
            try await collected
            try await posted
            let report = faultBox.value
            say("   faults done: \(report.kills.values.reduce(0, +)) kills, \(report.brokerRestarts) broker and \(report.databaseRestarts) database restarts, "
                + "\(report.collectorReruns) collector reruns, \(report.unexpectedExits.count) unexpected exits")
        } else {
            say("== collectors: the month's spend from every network and the cost sheet")
            try await collectors()
            say("== the website: \(total) visits and leads posted to the tracker")
            try await site()
        }

        // Until the mart is current: deal-sync's first full sync done, every queue and the outbox
        // empty several checks in a row.
        say("== waiting until the mart is current")
        let settings = try Settings.load(path: configPath, environment: cluster.environment)
        let pool = PGPool(PGConfiguration(url: options.databaseURL, applicationName: "demo"), logger: logger)
        defer { Task { await pool.close() } }
        let settleClock = ContinuousClock.now
        var quiet = 0
        let deadline = Date().addingTimeInterval(options.settleTimeout)
        while quiet < 4 {
            if options.faults == nil, let gone = cluster.exited.first {
                throw DemoError("\(gone.name) exited (\(gone.process.terminationStatus)):\n\(Self.tail(gone.logPath))")
            }
            guard Date() < deadline else { throw DemoError("the mart did not become current in \(Int(options.settleTimeout)) s; logs in \(work)/logs") }
            let backlog: ClusterStatus.Backlog
            do { backlog = try await ClusterStatus.backlog(settings: settings, pool: pool, managementURL: options.managementURL) } catch {
                // A server still coming back after a fault.
                guard options.faults != nil else { throw error }
                quiet = 0
                tick("   waiting for the servers: \(error)")
                try await Task.sleep(for: .seconds(1))
                continue
            }
            quiet = backlog.isIdle ? quiet + 1 : 0
            let waiting = backlog.queues.map { "\($0.queue) \(($0.ready ?? 0) + ($0.unacknowledged ?? 0))" }.joined(separator: ", ")
            tick("   \(backlog.crmSynced ? "CRMs synced" : "CRMs syncing"); queued: \(waiting); outbox \(backlog.outbox)")
            try await Task.sleep(for: .milliseconds(500))
        }
        say("   current \(Self.seconds(since: settleClock)) after the last post; \(Self.seconds(since: started)) from the start")

        // The report, and every model's totals against the world's truth.
        let project = settings.project(demo.project)!
        let (report, totals) = try await pool.withConnection { connection in
            guard let range = try await ReportQuery.dataRange(project: project.id, on: connection) else { throw DemoError("the report is empty") }
            let report = try await ReportQuery.load(Report.Request(project: project.id, model: project.attribution.defaultModel, from: range.from,
                                                                   to: range.to, grouping: .channel, depth: 2, sort: .romi), on: connection)
            var totals: [String: World.Totals] = [:]
            for model in AttributionSettings.models {
                let total = try await ReportQuery.load(Report.Request(project: project.id, model: model, from: range.from, to: range.to, depth: 1),
                                                       on: connection).total
                totals[model] = World.Totals(spend: total.spend, visits: total.visits, leads: total.leads, deals: total.deals,
                                                 sales: total.sales, revenue: total.revenue)
            }
            return (report, totals)
        }
        let differences = try await pool.withConnection { connection in
            try await Reconciliation.differences(demo, project: project.id, timeZone: TimeZone(identifier: project.timeZone)!, on: connection)
        }
        supervising?.cancel()
        var faultReport = faultBox.value
        faultReport.feedRetries = feed.retries
        let text = ReportFormat.table.render(report, title: "\(project.name) (\(project.id)), \(project.currency)")

        // The dashboard's page of the same figures (the report's period), kept as a file to open
        // after the job.
        let dashboardURL = dashboardBase + "?from=\(report.request.from)&to=\(report.request.to)"
        let page = try await HTTPClient.shared.execute(HTTPClientRequest(url: dashboardURL), timeout: .seconds(60))
        let html = String(buffer: try await page.body.collect(upTo: 16 << 20))
        guard page.status.code == 200, html.contains("id=\"daily-chart\""), html.contains("id=\"report\"") else {
            throw DemoError("the dashboard answered \(page.status.code) without its chart and table; log: \(Self.tail(dashboard.logPath))")
        }
        let snapshot = work + "/dashboard.html"
        try html.write(toFile: snapshot, atomically: true, encoding: .utf8)
        return Outcome(report: report, reportText: text, truth: demo.truth, totals: totals, trackerURL: trackerURL, dashboardURL: dashboardURL,
                       dashboardSnapshot: snapshot, differences: differences, leakedSecrets: Self.leaks(in: work + "/logs"),
                       faults: options.faults == nil ? nil : faultReport)
    }

    /// Every log file that holds one of the run's secret values.
    static func leaks(in directory: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found: [String] = []
        for file in files.sorted() {
            guard let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8) else { continue }
            for (name, value) in DemoWorld.secrets.sorted(by: { $0.key < $1.key }) where value.count >= 6 && text.contains(value) {
                found.append("\(file): \(name)")
            }
        }
        return found
    }

    /// Polls each child's readiness URL until it answers 200; fails naming a child that exits.
    func waitUntilReady(_ checks: [(ClusterProcesses.Child, String)], cluster: ClusterProcesses) async throws {
        let deadline = Date().addingTimeInterval(120)
        var pending = checks
        while !pending.isEmpty {
            if let gone = cluster.exited.first {
                throw DemoError("\(gone.name) exited (\(gone.process.terminationStatus)):\n\(Self.tail(gone.logPath))")
            }
            guard Date() < deadline else { throw DemoError("not ready after 120 s: \(pending.map(\.0.name).joined(separator: ", "))") }
            var still: [(ClusterProcesses.Child, String)] = []
            for (child, url) in pending {
                let ready = (try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)).status.code) == 200
                if !ready { still.append((child, url)) }
            }
            pending = still
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        }
    }

    static func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(3000))
    }
}
