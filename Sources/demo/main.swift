import ArgumentParser
import Demo
import Foundation
import Logging
import Reporting

/// demo: the main job (README). Serves the sandbox world from the fakes, runs the cluster's
/// executables against the local stack, and prints the channel report with how to connect a
/// BI tool. `scripts/demo.sh` starts the stack, builds and calls it.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the cluster on the local stack against the sandbox fakes and print the channel report.")

    @Option(help: "Where the executables are (default: next to this one).") var bin: String?
    @Option(name: .customLong("work-dir"), help: "Configuration, cost sheet, rates and logs go here.") var workDirectory = "/tmp/skvoznaya-demo"
    @Option(name: .customLong("database-url"), help: "PostgreSQL (default: $DATABASE_URL).") var databaseURL: String?
    @Option(name: .customLong("amqp-url"), help: "RabbitMQ (default: $AMQP_URL).") var amqpURL: String?
    @Option(name: .customLong("management-url"), help: "RabbitMQ management API (default: $RABBITMQ_MANAGEMENT_URL).") var managementURL: String?
    @Option(help: "People in the world (about 5 visits each).") var people = 6000
    @Option(help: "The world's seed.") var seed: UInt64 = 2026
    @Option(help: "Aggregator processes.") var aggregators = 2
    @Flag(name: .customLong("keep-running"), help: "Leave the cluster and the fakes running until Ctrl-C.") var keepRunning = false
    @Option(help: "The system test: SIGKILL each worker and the tracker this many times while the data flows (0: no faults).") var kills = 0
    @Option(name: .customLong("restart-servers-with"),
            help: "The system test: stop and start RabbitMQ, then PostgreSQL, under load with this stack.sh (its environment names the stack).")
    var stackScript: String?
    @Option(help: "The system test: the site's requests a second while faults happen.") var pace: Double = 40

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let database = databaseURL ?? environment["DATABASE_URL"], let amqp = amqpURL ?? environment["AMQP_URL"] else {
            throw ValidationError("give --database-url and --amqp-url (or DATABASE_URL and AMQP_URL)")
        }
        let ownDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        var options = DemoRun.Options(binDirectory: bin ?? ownDirectory, workDirectory: workDirectory, databaseURL: database, amqpURL: amqp,
                                      managementURL: managementURL ?? environment["RABBITMQ_MANAGEMENT_URL"].flatMap { $0.isEmpty ? nil : $0 },
                                      world: DemoWorld(seed: seed, people: people))
        options.aggregators = aggregators
        if kills > 0 || stackScript != nil {
            options.faults = FaultPlan(killsPerProcess: kills, seed: seed, pace: pace,
                                       stack: stackScript.map { StackControl(script: $0, environment: [:]) })
        }
        var logger = Logger(label: "demo")
        logger.logLevel = .warning
        let interactive = isatty(STDOUT_FILENO) == 1
        let demo = DemoRun(options: options, say: { line in
            if interactive { print("\r\u{1B}[K", terminator: "") }
            print(line)
            fflush(nil)
        }, tick: { line in
            if interactive {
                print("\r\u{1B}[K" + line, terminator: "")
                fflush(nil)
            }
        })
        let (outcome, cluster, fakes) = try await demo.run(logger: logger)
        print("")
        print(outcome.reportText, terminator: "")
        print("")
        print("Totals against the sandbox world's ground truth (every model must equal it):")
        print("   truth:  \(outcome.truth.rounded)")
        for model in outcome.totals.keys.sorted() {
            let total = outcome.totals[model]!.rounded
            print("   \(model.padding(toLength: 16, withPad: " ", startingAt: 0)) \(total == outcome.truth.rounded ? "equal" : "DIFFERENT: \(total)")")
        }
        print(outcome.differences.isEmpty ? "   every day's visits, leads and spend and every deal's status, revenue and lead equal the truth"
                                          : "   \(outcome.differences.count) DIFFERENCES per day or deal:\n" + outcome.differences.prefix(40).map { "     " + $0 }.joined(separator: "\n"))
        print(outcome.matchesTruth ? "   every model's totals equal the truth, to the kopeck" : "   MISMATCH: see the lines above")
        if let faults = outcome.faults {
            print("""

                Faults while the data flowed: \(faults.kills.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")) SIGKILLs; \
                RabbitMQ restarted \(faults.brokerRestarts)×, PostgreSQL \(faults.databaseRestarts)×; \(faults.feedRetries) requests sent again, \
                \(faults.collectorReruns) collector runs again, \(faults.unexpectedExits.count) processes ended on their own\
                \(faults.unexpectedExits.isEmpty ? "" : " (" + faults.unexpectedExits.joined(separator: ", ") + ")").
                """)
        }
        print(outcome.leakedSecrets.isEmpty ? "   no secret's value in any log line (\(workDirectory)/logs)" : "   SECRETS IN LOGS: " + outcome.leakedSecrets.joined(separator: "; "))
        fflush(nil)

        // A read-only login for a BI tool.
        let (status, output) = try await cluster.run("analytics", name: "bi-login", arguments: ["bi-login", "create", "--project", "school", "--login", "school_bi"])
        let password = output.split(separator: "\n").first { $0.hasPrefix("password") }.map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) }
        let url = URLComponents(string: database)
        print("""

            Connect a BI tool (Power BI, Metabase, DataLens, any SQL client) to PostgreSQL:
               host \(url?.host ?? "127.0.0.1")  port \(url?.port ?? 5432)  database \(url?.path.dropFirst() ?? "analytics")  schema mart
               login school_bi  password \(status == 0 ? password ?? "(see \(workDirectory)/logs/bi-login.log)" : "(not created: \(output.trimmingCharacters(in: .whitespacesAndNewlines)))")
               views: channel_report (WHERE model = 'last_non_direct'), deals, manager_report, cohort_payments, media_plan, customers, ltv_report
            More: analytics report --config \(workDirectory)/analytics.yaml --depth 3 --group-by channel|manager|product --format table|csv|json
                  analytics status --config \(workDirectory)/analytics.yaml
            """)
        print("""

            The dashboard (daily spend vs revenue, the channel table, a model switch, a period picker):
               \(keepRunning ? outcome.dashboardURL : "saved as \(outcome.dashboardSnapshot); run with --keep-running to browse it live")
            """)
        if keepRunning {
            print("The cluster keeps running (tracker \(outcome.trackerURL), dashboard \(outcome.dashboardURL)); Ctrl-C stops it.")
            let (signals, continuation) = AsyncStream<Void>.makeStream()
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
            for source in sources {
                source.setEventHandler { continuation.yield() }
                source.resume()
            }
            for await _ in signals { break }
            sources.forEach { $0.cancel() }
        }
        await cluster.stopAll()
        fakes.stop()
        if !outcome.matchesTruth || !outcome.leakedSecrets.isEmpty || !(outcome.faults?.unexpectedExits.isEmpty ?? true) { throw ExitCode(1) }
    }
}
