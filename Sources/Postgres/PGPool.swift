import Foundation
import Logging
import Synchronization

/// A small pool of `PGConnection`s.
///
/// Connections open lazily up to `poolSize`; callers beyond that wait in line. A connection that
/// broke (server restart, network loss) is dropped when it comes back and a fresh one is opened
/// on the next request, so the pool recovers by itself once the server is back. A connection
/// returned inside a transaction is rolled back first.
public final class PGPool: Sendable {
    private struct State {
        var idle: [PGConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }

    public let configuration: PGConfiguration
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameters:
    ///   - configuration: URL, pool size, application name.
    ///   - logger: used for connection diagnostics (never logs the URL's password).
    public init(_ configuration: PGConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Lends a connection to `body` and takes it back afterwards.
    /// - Throws: `PGError(.connectionFailed)` when no connection can be opened, or what `body` throws.
    @discardableResult
    public func withConnection<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` in one transaction on one connection: `BEGIN`, `body`, `COMMIT`
    /// (rolled back when `body` throws).
    @discardableResult
    public func withTransaction<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.withTransaction(body)
        }
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PGEncodable)?] = []) async throws -> PGRows {
        try await withConnection { try await $0.query(sql, parameters) }
    }

    /// Closes idle connections and refuses new requests.
    public func close() async {
        let (idle, waiters) = state.withLock { state -> ([PGConnection], [CheckedContinuation<Void, Never>]) in
            state.closed = true
            defer {
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            state.open -= state.idle.count
            return (state.idle, state.waiters)
        }
        // Waiters wake up, see the pool closed and throw.
        waiters.forEach { $0.resume() }
        for connection in idle { await connection.close() }
    }

    private enum Step { case use(PGConnection), open, wait, closed }

    private func acquire() async throws -> PGConnection {
        while true {
            let step = state.withLock { state -> Step in
                if state.closed { return .closed }
                if let connection = state.idle.popLast() { return .use(connection) }
                if state.open < configuration.poolSize {
                    state.open += 1
                    return .open
                }
                return .wait
            }
            switch step {
            case .closed:
                throw PGError(.closed, "the connection pool is closed")
            case .use(let connection):
                if connection.isBroken {
                    await discard(connection)
                    continue
                }
                return connection
            case .open:
                do {
                    return try await PGConnection.connect(configuration, logger: logger)
                } catch {
                    slotFreed()
                    throw error
                }
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.closed || !state.idle.isEmpty || state.open < configuration.poolSize { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    private func release(_ connection: PGConnection) async {
        var reusable = !connection.isBroken
        if reusable, (try? await connection.transactionStatus()) != .idle {
            _ = try? await connection.simpleQuery("ROLLBACK")
            reusable = (try? await connection.transactionStatus()) == .idle
        }
        if !reusable {
            logger.debug("dropping a broken PostgreSQL connection")
            await discard(connection)
            return
        }
        let (keep, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            if state.closed {
                state.open -= 1
                return (false, state.waiters.isEmpty ? nil : state.waiters.removeFirst())
            }
            state.idle.append(connection)
            return (true, state.waiters.isEmpty ? nil : state.waiters.removeFirst())
        }
        if !keep { await connection.close() }
        waiter?.resume()
    }

    private func discard(_ connection: PGConnection) async {
        await connection.close()
        slotFreed()
    }

    private func slotFreed() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.open -= 1
            return state.waiters.isEmpty ? nil : state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}
