import ArgumentParser
import Identity
import Logging
import Runtime
import Settings

/// identity-resolver: stores visits and leads from the tracker and notes deal changes for
/// linking. Runs until SIGTERM; any number of replicas.
@main
struct IdentityResolverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "identity-resolver", abstract: "Store tracked visits and leads; join them to deals.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
    @Option(help: "Batches handled at once in this process (in-process replicas).") var concurrency = 2

    func run() async throws {
        let settings = try Settings.load(path: config)
        Observability.bootstrap(settings)
        let worker = WorkerConfiguration(name: "identity-resolver", queue: ClusterTopology.identityQueue, topology: ClusterTopology.all,
                                         prefetch: 2000, batchSize: 500, batchBytes: 8 << 20, batchLinger: 0.02, concurrency: concurrency,
                                         skipProcessed: false,
                                         analyzedTables: ["journey.visits", "journey.leads", "journey.keys", "journey.touches", "journey.deal_links"])
        try await WorkerApp(settings: settings, worker: worker, handler: IdentityHandler(projects: settings.projects), publishTopology: ClusterTopology.all)
            .build(logger: Logger(label: "identity-resolver")).run()
    }
}
