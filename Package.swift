// swift-tools-version:6.1
import PackageDescription

// Skvoznaya: open, self-hosted end-to-end marketing analytics.
// Layout and module responsibilities: docs/architecture.md.

/// The collectors: one thin executable per network, all alike.
let collectors = [
    "collector-yandex-direct", "collector-vk-ads", "collector-mytarget", "collector-google-ads", "collector-meta",
    "collector-manual-costs",
]

/// An external API's client: wire format, errors, limits (HTTP through async-http-client).
func connector(_ name: String) -> Target {
    .target(name: name, dependencies: [
        "Domain",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
    ], path: "Sources/Connectors/\(name)")
}

let package = Package(
    name: "skvoznaya",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "analytics", targets: ["analytics"]),
        .executable(name: "runtime-testbed", targets: ["runtime-testbed"]),
        .executable(name: "deal-sync", targets: ["deal-sync"]),
        .executable(name: "tracker", targets: ["tracker"]),
        .executable(name: "identity-resolver", targets: ["identity-resolver"]),
        .executable(name: "aggregator", targets: ["aggregator"]),
        .executable(name: "demo", targets: ["demo"]),
        .executable(name: "dashboard", targets: ["dashboard"]),
    ] + collectors.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C doors: system-library targets, never products. Exactly one Swift module imports each.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"]), .brew(["libpq"])]),
        .systemLibrary(
            name: "CRabbitMQ", pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"]), .brew(["rabbitmq-c"])]
        ),

        // Pure domain values: timestamps, days and time zones, money (no I/O, no dependencies).
        .target(name: "Domain"),
        // libpq client: connections on their own serial queues, pool, typed rows, COPY, bulk upsert.
        .target(name: "Postgres", dependencies: [
            "CLibPQ", "Domain",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // rabbitmq-c client: connections on their own serial queues, topology, confirms, consumer.
        .target(name: "AMQP", dependencies: [
            "CRabbitMQ", "Domain",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Deployment configuration: environment + optional YAML file, secrets by reference.
        .target(name: "Settings", dependencies: [
            "Domain",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // External APIs, one folder each: wire format, client, errors, limits.
        connector("YandexDirect"),
        connector("GoogleAds"),
        connector("Meta"),
        connector("VKAds"),
        connector("AmoCRM"),
        connector("Bitrix24"),
        .target(name: "ManualCosts", dependencies: ["Domain", "Collection"], path: "Sources/Connectors/ManualCosts"),
        // Versioned SQL migrations and the migrator.
        .target(name: "Schema", dependencies: [
            "Postgres", "Domain",
            .product(name: "Logging", package: "swift-log"),
        ], resources: [.embedInCode("Migrations")]),
        // The worker runtime, written once: envelope, batched consume loop, retry/dead-letter,
        // outbox relay, health/metrics endpoint, logging and metrics bootstrap.
        .target(name: "Runtime", dependencies: [
            "Postgres", "AMQP", "Settings", "Domain",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        // The collectors' shared library: runs, chunks, spend facts, exchange rates, CSV.
        .target(name: "Collection", dependencies: ["Domain", "Postgres", "Runtime"]),
        // The collectors: each network as a SpendSource, and the app every collector shares.
        .target(name: "Collectors", dependencies: [
            "Collection", "YandexDirect", "GoogleAds", "Meta", "VKAds", "ManualCosts", "Settings", "Runtime", "AMQP", "Postgres", "Domain",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // deal-sync's logic: the deal model, stage mapping, store, engine, each CRM as a source,
        // the pollers and the webhook consumer.
        .target(name: "DealSync", dependencies: [
            "Domain", "Postgres", "Runtime", "Settings", "AMQP", "AmoCRM", "Bitrix24",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "deal-sync", dependencies: [
            "DealSync", "Runtime", "Settings",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The tracker's HTTP API: validation, normalisation, batched confirmed publishing.
        .target(name: "Tracker", dependencies: [
            "Domain", "Runtime", "Settings", "AMQP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "tracker", dependencies: [
            "Tracker", "Runtime", "Settings",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The identity resolver: visits and leads stored, deals joined to leads, customers.
        // The attribution models and channel rules: pure functions, no I/O.
        .target(name: "Attribution", dependencies: ["Domain", "Settings"]),
        // The aggregator's work on the store: credits, report cells, partitions.
        .target(name: "Aggregation", dependencies: [
            "Attribution", "Collection", "DealSync", "Domain", "Postgres", "Runtime", "Settings",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "aggregator", dependencies: [
            "Aggregation", "Runtime", "Settings",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Identity", dependencies: [
            "Domain", "Postgres", "Runtime", "Settings",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "identity-resolver", dependencies: [
            "Identity", "Runtime", "Settings",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Fake servers of every external API, speaking their wire formats (tests and the demo).
        .target(name: "Sandbox", dependencies: [
            "Domain", "Postgres", "Runtime", "Tracker", "YandexDirect", "GoogleAds", "Meta", "VKAds", "AmoCRM", "Bitrix24",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // What operators and marketers read: reports from the mart views, the cluster's status.
        .target(name: "Reporting", dependencies: [
            "Attribution", "AMQP", "Domain", "Postgres", "Runtime", "Settings",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The operator CLI's commands, as a library so tests call them in-process too.
        .target(name: "OperatorCLI", dependencies: [
            "Postgres", "Schema", "Settings", "Runtime", "Collection", "Domain", "DealSync", "AMQP", "Aggregation", "Reporting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "analytics", dependencies: ["OperatorCLI"]),
        // The dashboard page: server-rendered HTML and SVG from the mart (no script, no CDN).
        .target(name: "Dashboard", dependencies: [
            "Attribution", "Domain", "Postgres", "Reporting", "Runtime", "Settings",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "dashboard", dependencies: [
            "Dashboard", "Runtime", "Settings",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The main job: the sandbox world, the cluster's processes, the report against the truth.
        .target(name: "Demo", dependencies: [
            "Domain", "Postgres", "Reporting", "Sandbox", "Settings",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "demo", dependencies: [
            "Demo", "Reporting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The runtime's test worker: counters with non-idempotent writes, used by the kill,
        // restart, dead-letter and shutdown tests.
        .target(name: "RuntimeTestbed", dependencies: ["Runtime", "Postgres", "AMQP"]),
        .executableTarget(name: "runtime-testbed", dependencies: ["RuntimeTestbed", "Runtime", "AMQP", "Settings"]),

        // Benchmarks of the C doors against their raw baselines (run in release; see docs/benchmarks.md).
        .executableTarget(name: "foundation-bench", dependencies: ["Postgres", "AMQP"]),
        .target(name: "BenchSupport", dependencies: ["Postgres", "Schema", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "collection-bench", dependencies: [
            "BenchSupport", "Collection", "Collectors", "Domain", "Postgres", "Sandbox", "Schema", "Settings", "YandexDirect", "GoogleAds", "Meta", "VKAds",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),

        .executableTarget(name: "dealsync-bench", dependencies: [
            "BenchSupport", "DealSync", "Domain", "Postgres", "Runtime", "Sandbox", "Schema", "Settings",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .executableTarget(name: "identity-bench", dependencies: [
            "BenchSupport", "AMQP", "Domain", "Postgres", "Runtime", "Sandbox", "Settings",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "aggregator-bench", dependencies: [
            "Aggregation", "BenchSupport", "Domain", "Identity", "Postgres", "Runtime", "Sandbox", "Settings",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "tracker-bench", dependencies: [
            "BenchSupport", "Tracker", "Runtime", "Settings", "AMQP", "Domain",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "UnitTests", dependencies: [
            "Domain", "Settings", "Runtime", "Schema", "Postgres", "AMQP", "YandexDirect", "Collection", "ManualCosts", "AmoCRM", "DealSync", "Tracker", "Identity", "Attribution",
            "Aggregation",
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Postgres", "AMQP", "Runtime", "Schema", "Settings", "RuntimeTestbed", "OperatorCLI", "Collection", "Domain",
            "Collectors", "Sandbox", "YandexDirect", "GoogleAds", "Meta", "VKAds", "AmoCRM", "Bitrix24", "DealSync", "Tracker", "Identity", "Attribution", "Aggregation",
            "Reporting", "Demo", "Dashboard",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ]
)

package.targets += collectors.map { name in
    .executableTarget(name: name, dependencies: [
        "Collectors",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
    ])
}

// Shared compiler settings for every Swift target.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
