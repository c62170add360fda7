import Aggregation
import ArgumentParser
import Logging
import Runtime
import Settings

/// aggregator: recomputes the report partitions (project, day) that spend updates and the
/// identity resolver's link changes touch, and swaps them into the `report` tables the `mart`
/// views read. Runs until SIGTERM; any number of replicas.
@main
struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "aggregator", abstract: "Keep the mart's report partitions current.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
    @Option(help: "Batches handled at once in this process (in-process replicas).") var concurrency = 1
    @Option(help: "Seconds to gather a burst of messages into one batch.") var linger = 0.2

    func run() async throws {
        let settings = try Settings.load(path: config)
        Observability.bootstrap(settings)
        let worker = WorkerConfiguration(name: "aggregator", queue: ClusterTopology.aggregatorQueue, topology: ClusterTopology.all,
                                         prefetch: 1000, batchSize: 1000, batchBytes: 16 << 20, batchLinger: linger, concurrency: concurrency,
                                         skipProcessed: false, analyzedTables: ["report.credits", "report.cells", "report.leads", "report.deals"])
        try await WorkerApp(settings: settings, worker: worker, handler: try AggregatorHandler(projects: settings.projects), publishTopology: ClusterTopology.all)
            .build(logger: Logger(label: "aggregator")).run()
    }
}
