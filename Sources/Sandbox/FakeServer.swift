import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Runs a fake API on 127.0.0.1 with a free port for the duration of `body`.
public enum FakeServer {
    /// Serves `router` while `body` runs; `body` gets the base URL (`http://127.0.0.1:PORT`).
    public static func serve<T: Sendable>(
        _ router: Router<BasicRequestContext>, logger: Logger = Logger(label: "fake"),
        _ body: @Sendable (String) async throws -> T
    ) async throws -> T {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService()
                return nil
            }
            var ports = portStream.makeAsyncIterator()
            guard let port = await ports.next() else { throw CancellationError() }
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        }
    }

    /// A fake serving in the background until `stop()`.
    public struct Running: Sendable {
        public let url: String
        let task: Task<Void, any Error>
        public func stop() { task.cancel() }
    }

    /// Starts serving `router` on 127.0.0.1 (`port` 0: a free one) and returns once it listens.
    public static func start(_ router: Router<BasicRequestContext>, port: Int = 0, logger: Logger = Logger(label: "fake")) async throws -> Running {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "fake"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let task = Task {
            defer { portContinuation.finish() }
            try await app.runService()
        }
        var ports = portStream.makeAsyncIterator()
        guard let bound = await ports.next() else {
            // The server ended before listening (the port is taken): its error says why.
            try await task.value
            throw CancellationError()
        }
        return Running(url: "http://127.0.0.1:\(bound)", task: task)
    }
}
