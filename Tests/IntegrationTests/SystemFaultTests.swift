import Demo
import Foundation
import Testing

/// The system test under faults (issue 8, points 1, 2 and 4): the whole cluster as separate
/// processes on a stack of its own, against the sandbox fakes; while the collectors run and the
/// site's visits and leads flow, every worker and the tracker are SIGKILLed at random moments
/// (ten times each) and started again, RabbitMQ and then PostgreSQL are stopped and started. Once
/// the cluster settles, the mart equals the world's ground truth exactly — every model's totals,
/// every day's visits, leads and spend, every deal's status, revenue and lead: nothing lost,
/// nothing counted twice — and no log line holds a secret.
///
/// A larger run: `scripts/system-test.sh --people 6000 --kills 25`.
@Suite(.serialized) struct SystemFaultTests {
    @Test func killingEveryWorkerAndTheTrackerAndRestartingTheServersUnderLoadLosesNothingAndCountsNothingTwice() async throws {
        let stack = PrivateStack(pgPort: 25492, amqpPort: 5723, management: true)
        try stack.stack("start")
        defer { _ = try? stack.stack("stop") }
        let work = "/tmp/\(TestStack.unique("system"))"
        var options = DemoRun.Options(binDirectory: TestStack.productsDirectory.path, workDirectory: work, databaseURL: stack.databaseURL,
                                      amqpURL: stack.amqpURL, managementURL: stack.managementURL, world: DemoWorld(seed: 11, people: 300))
        options.settleTimeout = 300
        options.faults = FaultPlan(killsPerProcess: 10, seed: 11, pace: 40, stack: StackControl(script: stack.script, environment: stack.environment))
        let lines = LineLog()
        let run = DemoRun(options: options, say: { lines.append($0) }, tick: { _ in })
        let (outcome, cluster, fakes) = try await run.run(logger: TestStack.logger)
        await cluster.stopAll()
        fakes.stop()

        let faults = try #require(outcome.faults)
        #expect(faults.kills.keys.sorted() == ["aggregator-1", "aggregator-2", "deal-sync", "identity-resolver", "tracker"])
        #expect(faults.kills.values.allSatisfy { $0 >= 10 }, "\(faults.kills)")
        #expect(faults.brokerRestarts == 1 && faults.databaseRestarts == 1)
        // The faults met data in flight: the site had to send requests again.
        #expect(faults.feedRetries > 0)
        // Nothing crashed on its own.
        #expect(faults.unexpectedExits.isEmpty, "\(faults.unexpectedExits)")

        for (model, total) in outcome.totals {
            #expect(total.rounded == outcome.truth.rounded, "\(model): \(total) ≠ truth \(outcome.truth)")
        }
        #expect(outcome.differences.isEmpty, "\(outcome.differences.prefix(30).joined(separator: "\n"))")
        #expect(outcome.matchesTruth)
        #expect(outcome.leakedSecrets.isEmpty, "\(outcome.leakedSecrets)")
        try? FileManager.default.removeItem(atPath: work)
    }
}
