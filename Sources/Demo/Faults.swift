import Domain
import Foundation
import Postgres
import Sandbox

/// What the fault-injection run does to the cluster while data flows (issue 8): every worker
/// and the tracker SIGKILLed at random moments and started again, the broker and then the
/// database stopped and started under load.
public struct FaultPlan: Sendable {
    /// SIGKILLs of each process (the tracker, identity-resolver, deal-sync, every aggregator).
    public var killsPerProcess = 10
    public var seed: UInt64 = 1
    /// Requests a second of the site's feed, so that the faults meet data in flight.
    public var pace: Double = 40
    /// The stack the cluster runs on; nil: no server restarts.
    public var stack: StackControl?
    /// How long the broker and the database each stay down.
    public var downSeconds: Double = 3

    public init(killsPerProcess: Int = 10, seed: UInt64 = 1, pace: Double = 40, stack: StackControl? = nil) {
        self.killsPerProcess = killsPerProcess
        self.seed = seed
        self.pace = pace
        self.stack = stack
    }
}

/// `scripts/stack.sh` of one stack (its `STACK_ROOT` and ports in `environment`): stops and
/// starts its servers.
public struct StackControl: Sendable {
    public var script: String
    public var environment: [String: String]

    public init(script: String, environment: [String: String]) {
        self.script = script
        self.environment = environment
    }

    func run(_ command: String, log: String) async throws {
        let environment = ProcessInfo.processInfo.environment.merging(self.environment) { _, b in b }
        let arguments = [script, command]
        // posix_spawn and waitpid on a thread of its own: Foundation's `Process` can miss the
        // exit of a script whose grandchild (the server it started) keeps running.
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try Spawn.run("/bin/bash", arguments, environment: environment, outputPath: log, append: true)) } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        guard status == 0 else { throw DemoError("stack.sh \(command) failed (\(status)); see \(log)") }
    }

}

/// What the faults did, and what the cluster did about them.
public struct FaultReport: Sendable {
    /// SIGKILLs per process.
    public var kills: [String: Int] = [:]
    public var brokerRestarts = 0
    public var databaseRestarts = 0
    /// Processes that ended although nobody stopped them (restarted, as a supervisor would).
    public var unexpectedExits: [String] = []
    /// Requests the site sent again (no answer, or a 5xx while the broker was down).
    public var feedRetries = 0
    /// Collector runs started again after a failed one (as the next scheduled run would).
    public var collectorReruns = 0

    public init() {}
}

/// Runs a plan's faults against the cluster; stops when every fault has happened.
struct Chaos {
    let plan: FaultPlan
    let cluster: ClusterProcesses
    let targets: [String]
    let log: String
    let say: @Sendable (String) -> Void

    enum Event { case kill(String), restartBroker, restartDatabase }

    /// Every target `killsPerProcess` times in a shuffled order, the broker's restart a third of
    /// the way in and the database's two thirds.
    func events() -> [Event] {
        var random = SplitMix64(seed: plan.seed)
        var events = targets.flatMap { target in Array(repeating: Event.kill(target), count: plan.killsPerProcess) }
        events.shuffle(using: &random)
        if plan.stack != nil {
            events.insert(.restartDatabase, at: events.count * 2 / 3)
            events.insert(.restartBroker, at: events.count / 3)
        }
        return events
    }

    /// Stops one server of the stack (`stop-<server>`), keeps it down, starts it again.
    func restart(_ title: String, _ server: String) async throws {
        say("   fault: \(title) stopped for \(plan.downSeconds) s")
        try await plan.stack!.run("stop-\(server)", log: log)
        try await Task.sleep(for: .milliseconds(Int64(plan.downSeconds * 1000)))
        try await plan.stack!.run("start-\(server)", log: log)
        say("   fault: \(title) back")
    }

    func run(report: FaultBox) async throws {
        var random = SplitMix64(seed: plan.seed &+ 1)
        for event in events() {
            try await Task.sleep(for: .milliseconds(100 + Int64(random.below(800))))
            switch event {
            case .kill(let name):
                try await cluster.killAndRestart(name)
                report.update { $0.kills[name, default: 0] += 1 }
            case .restartBroker:
                try await restart("RabbitMQ", "rabbitmq")
                report.update { $0.brokerRestarts += 1 }
            case .restartDatabase:
                try await restart("PostgreSQL", "postgres")
                report.update { $0.databaseRestarts += 1 }
            }
        }
    }
}

/// The fault report, shared by the tasks that fill it.
final class FaultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var report = FaultReport()
    func update(_ change: (inout FaultReport) -> Void) { lock.withLock { change(&report) } }
    var value: FaultReport { lock.withLock { report } }
}

/// The mart against the world's ground truth, beyond the totals: per day (visits, leads and
/// spend, the same under every model) and per deal (status, revenue and the lead it is linked
/// to). Returns every difference, empty when the mart is exact.
enum Reconciliation {
    static func differences(_ demo: DemoWorld, project: String, timeZone: TimeZone, on connection: PGConnection) async throws -> [String] {
        let world = demo.world
        var problems: [String] = []
        // Per day.
        var truth: [LocalDay: (visits: Decimal, leads: Decimal, spend: Decimal)] = [:]
        func day(_ text: String) -> LocalDay { LocalDay(Timestamp.parse(text)!, in: timeZone) }
        for visit in world.visits { truth[day(visit.occurredAt), default: (0, 0, 0)].visits += 1 }
        for lead in world.leads where lead.duplicateOf == nil { truth[day(lead.tracked.occurredAt), default: (0, 0, 0)].leads += 1 }
        for (key, amount) in world.spendTruth { truth[key.day, default: (0, 0, 0)].spend += amount }
        for (day, amount) in demo.dailyCosts { truth[day, default: (0, 0, 0)].spend += amount }
        let rows = try await connection.query("""
            SELECT model, day::text, sum(visits), sum(leads), sum(spend) FROM mart.channel_report WHERE project_id = $1 GROUP BY model, day
            """, [project])
        var seen: [String: Set<LocalDay>] = [:]
        for row in rows {
            let model = try row.decode(String.self, 0)
            let day = LocalDay(iso: try row.decode(String.self, 1))!
            seen[model, default: []].insert(day)
            let expected = truth[day] ?? (0, 0, 0)
            let visits = try row.decode(Decimal.self, 2), leads = try row.decode(Decimal.self, 3), spend = try row.decode(Decimal.self, 4)
            if visits != expected.visits || leads.rounded(places: 6) != expected.leads || spend.rounded(places: 2) != expected.spend.rounded(places: 2) {
                problems.append("\(model) \(day): visits \(visits), leads \(leads), spend \(spend.text(places: 2)); "
                    + "truth \(expected.visits), \(expected.leads), \(expected.spend.text(places: 2))")
            }
        }
        for (model, days) in seen {
            for (missing, figures) in truth where !days.contains(missing) && (figures.visits + figures.leads + figures.spend) != 0 {
                problems.append("\(model) \(missing): missing from the mart")
            }
        }
        // Per deal.
        let stored = try await connection.query("""
            SELECT crm, deal_id, status, revenue, coalesce(lead_request_id, '') FROM mart.deals WHERE project_id = $1
            """, [project])
        var byKey: [String: [(status: String, revenue: Decimal, lead: String)]] = [:]
        for row in stored {
            byKey["\(try row.decode(String.self, 0))/\(try row.decode(String.self, 1))", default: []]
                .append((try row.decode(String.self, 2), try row.decode(Decimal.self, 3), try row.decode(String.self, 4)))
        }
        for deal in world.deals {
            let key = "\(deal.crm.rawValue)/\(deal.id)"
            let revenue = deal.status == "won" ? Decimal(deal.payments.filter(\.paid).map(\.amount).reduce(0, +)) / 100 : 0
            guard let rows = byKey.removeValue(forKey: key) else { problems.append("deal \(key): missing from the mart"); continue }
            guard rows.count == 1, let row = rows.first else { problems.append("deal \(key): \(rows.count) rows"); continue }
            if row.status != deal.status || row.revenue != revenue || row.lead != (deal.truth?.lead ?? "") {
                problems.append("deal \(key): \(row.status), \(row.revenue), lead '\(row.lead)'; truth \(deal.status), \(revenue), lead '\(deal.truth?.lead ?? "")'")
            }
        }
        for key in byKey.keys.sorted() { problems.append("deal \(key): in the mart but not in the world") }
        return problems.sorted()
    }
}

/// Runs a command to its end with posix_spawn and waitpid (blocking: call it off the
/// cooperative pool). Foundation's `Process` can miss the exit of a script whose grandchild — a
/// server it started — keeps running. Standard output goes to a file (appended to, or
/// replaced), standard error to the same file unless `errorPath` names another.
public enum Spawn {
    public static func run(_ path: String, _ arguments: [String], environment: [String: String], outputPath: String,
                           errorPath: String? = nil, append: Bool = false) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw DemoError("cannot start \(path): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
