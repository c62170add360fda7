import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// What each part of a process reports about itself; `/ready` answers 200 only when every
/// registered part is ready.
public final class Readiness: Sendable {
    private let parts = Mutex<[String: Bool]>([:])

    public init() {}

    /// Sets part `name`'s state (registering it on first use).
    public func set(_ name: String, ready: Bool) { parts.withLock { $0[name] = ready } }

    /// True when at least one part registered and all are ready.
    public var isReady: Bool { parts.withLock { !$0.isEmpty && $0.values.allSatisfy { $0 } } }

    /// Each part and its state.
    public var snapshot: [String: Bool] { parts.withLock { $0 } }
}

/// The operations endpoint of every long-running process:
/// `GET /health` (alive: 200), `GET /ready` (200 or 503 with each part's state, as JSON) and
/// `GET /metrics` (Prometheus text format).
public enum HealthServer {
    /// Builds the HTTP service (run it in the process's `ServiceGroup`).
    /// - Parameters:
    ///   - host: listening address (`0.0.0.0` in containers, `127.0.0.1` locally).
    ///   - port: `HTTP_PORT` (0 picks a free port).
    public static func make(
        host: String = "0.0.0.0", port: Int, readiness: Readiness, registry: PrometheusCollectorRegistry, logger: Logger,
        onServerRunning: (@Sendable (Int) async -> Void)? = nil
    ) -> some Service {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        router.get("/ready") { _, _ -> Response in
            let states = readiness.snapshot.sorted { $0.key < $1.key }
                .map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
            let body = "{\"ready\":\(readiness.isReady),\"parts\":{\(states)}}\n"
            return Response(
                status: readiness.isReady ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "skvoznaya"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
