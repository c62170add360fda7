import Domain
import CRabbitMQ
import Dispatch
import Foundation
import Logging
import Synchronization

/// Publishes persistent messages with publisher confirms.
///
/// `publish` returns only once the broker has confirmed every message of the call (stored it,
/// and for quorum queues replicated it). Concurrent calls are batched: one pump on the
/// connection's queue takes everything waiting, publishes it with up to `window` messages in
/// flight, and reads the `basic.ack`/`basic.nack` frames (rabbitmq-c 0.11 has no confirm-wait
/// call). If the connection breaks, the pump reconnects with backoff and publishes again every
/// message not yet confirmed — at-least-once: a consumer may see a message twice, never zero
/// times. A `basic.nack` fails that call with `.nacked`.
public final class AMQPPublisher: Sendable {
    /// Publisher settings.
    public struct Configuration: Sendable {
        /// Most unconfirmed messages on the wire.
        public var window: Int
        public var backoff: Backoff
        /// Give up a call after this many seconds without the broker (nil: never).
        public var giveUpAfterSeconds: Double?
        /// Seconds to wait for outstanding confirms before the connection is taken for dead
        /// (and the unconfirmed messages published again on a new one).
        public var confirmTimeoutSeconds: Double
        public init(
            window: Int = 1000, backoff: Backoff = Backoff(), giveUpAfterSeconds: Double? = nil,
            confirmTimeoutSeconds: Double = 30
        ) {
            self.window = window
            self.backoff = backoff
            self.giveUpAfterSeconds = giveUpAfterSeconds
            self.confirmTimeoutSeconds = confirmTimeoutSeconds
        }
    }

    private final class Request: @unchecked Sendable {
        // Confined to the link's queue once taken by the pump.
        let messages: [AMQPMessage]
        var confirmed: [Bool]
        var remaining: Int
        var failure: (any Error)?
        let continuation: CheckedContinuation<Void, any Error>
        init(_ messages: [AMQPMessage], _ continuation: CheckedContinuation<Void, any Error>) {
            self.messages = messages
            self.confirmed = Array(repeating: false, count: messages.count)
            self.remaining = messages.count
            self.continuation = continuation
        }
    }

    private struct Shared {
        var waiting: [Request] = []
        var pumping = false
        var closed = false
    }

    private let link: AMQPLink
    private let settings: Configuration
    /// The next delivery tag of the current channel. Tags count from 1 on each new channel and
    /// keep counting across batches on the same one. Confined to `link.queue`.
    private let tags = TagCounter()

    private final class TagCounter: @unchecked Sendable {
        var generation = 0
        var next: UInt64 = 1
    }
    private let shared = Mutex(Shared())

    /// - Parameters:
    ///   - configuration: broker URL parts.
    ///   - topology: declared on every (re)connection, so targets exist before anything is sent.
    ///   - name: for logs.
    public init(
        configuration: AMQPConfiguration, topology: AMQPTopology = AMQPTopology(), name: String = "publisher",
        settings: Configuration = Configuration(), logger: Logger
    ) {
        link = AMQPLink(configuration: configuration, topology: topology, name: name, logger: logger)
        link.onConnect = { try $0.confirmSelect() }
        self.settings = settings
        // Between batches nobody reads the socket: service heartbeats, free handled frames, and
        // notice a channel or connection the broker closed meanwhile.
        link.startHeartbeat { socket in
            while let frame = try socket.waitFrame(timeout: 0) {
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD),
                   [AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD].contains(frame.payload.method.id) {
                    throw AMQPSocket.methodError(frame.payload.method, operation: "idle publisher")
                }
            }
            socket.releaseBuffers()
        }
    }

    /// Publishes `messages` and waits for the broker's confirms.
    /// - Throws: `AMQPError(.nacked)` if the broker refused a message, `.closed` after `close()`,
    ///   `.connectionFailed` when `giveUpAfterSeconds` passed without a broker.
    public func publish(_ messages: [AMQPMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let request = Request(messages, continuation)
            let startPump = shared.withLock { state -> Bool? in
                if state.closed { return nil }
                state.waiting.append(request)
                if state.pumping { return false }
                state.pumping = true
                return true
            }
            switch startPump {
            case nil: continuation.resume(throwing: AMQPError(.closed, "the publisher is closed", operation: "publish"))
            case true?: link.queue.async { self.pump() }
            case false?: break
            }
        }
    }

    /// Publishes one message and waits for its confirm.
    public func publish(_ message: AMQPMessage) async throws { try await publish([message]) }

    /// Fails waiting calls, closes the connection.
    public func close() async {
        let waiting = shared.withLock { state -> [Request] in
            state.closed = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for request in waiting {
            request.continuation.resume(throwing: AMQPError(.closed, "the publisher is closed", operation: "publish"))
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            link.queue.async {
                self.link.closeSocket()
                continuation.resume()
            }
        }
    }

    // MARK: - the pump (runs on link.queue)

    /// One pipeline: calls that arrive while earlier messages await their confirms are
    /// published at once, and each call returns as soon as its own messages are confirmed — a
    /// call never waits for a round it was not part of. (Publishing in rounds, each waiting for
    /// all of its confirms before the next began, cost the tracker half its durable rate: a
    /// request waited for the round in progress, then for its own.)
    private func pump() {
        var active: [Request] = []  // taken, not yet resumed
        var unsent: [(Request, Int)] = []  // messages to publish on the current connection
        var inFlight: [UInt64: (Request, Int)] = [:]
        var attempt = 0
        var failingSince: Date?
        var lastConfirm = Date()

        func finish(_ done: (Request) -> Bool) {
            var still: [Request] = []
            for request in active {
                if done(request) {
                    if let failure = request.failure { request.continuation.resume(throwing: failure) } else { request.continuation.resume() }
                } else {
                    still.append(request)
                }
            }
            active = still
        }

        while true {
            let (fresh, closed) = shared.withLock { state -> ([Request], Bool) in
                if state.waiting.isEmpty && active.isEmpty { state.pumping = false }
                defer { state.waiting.removeAll() }
                return (state.waiting, state.closed)
            }
            for request in fresh {
                active.append(request)
                for index in request.messages.indices { unsent.append((request, index)) }
            }
            if active.isEmpty { return }  // `pumping` was cleared under the lock
            if closed {
                for request in active where request.failure == nil { request.failure = AMQPError(.closed, "the publisher is closed", operation: "publish") }
                finish { _ in true }
                shared.withLock { $0.pumping = false }
                return
            }
            do {
                let socket = try link.connected()
                if tags.generation != link.generation {
                    // A new channel: tags count from 1, and every message not yet confirmed is
                    // published again (at-least-once).
                    tags.generation = link.generation
                    tags.next = 1
                    inFlight.removeAll()
                    unsent = active.flatMap { request in
                        request.failure != nil ? [] : request.messages.indices.filter { !request.confirmed[$0] }.map { (request, $0) }
                    }
                    lastConfirm = Date()
                }
                attempt = 0
                failingSince = nil
                var sent = 0
                while sent < unsent.count && inFlight.count < settings.window {
                    let (request, index) = unsent[sent]
                    sent += 1
                    guard request.failure == nil, !request.confirmed[index] else { continue }
                    try socket.publish(request.messages[index])
                    inFlight[tags.next] = (request, index)
                    tags.next += 1
                }
                unsent.removeFirst(sent)
                if inFlight.isEmpty {
                    finish { $0.remaining == 0 || $0.failure != nil }
                    continue
                }
                // Wait briefly for confirms, then look for new calls again.
                if let frame = try socket.waitFrame(timeout: 0.002) {
                    if frame.frame_type == UInt8(AMQP_FRAME_METHOD) {
                        let method = frame.payload.method
                        switch method.id {
                        case AMQP_BASIC_ACK_METHOD:
                            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                            settle(ack.delivery_tag, multiple: ack.multiple != 0, ok: true, inFlight: &inFlight)
                            lastConfirm = Date()
                        case AMQP_BASIC_NACK_METHOD:
                            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                            settle(nack.delivery_tag, multiple: nack.multiple != 0, ok: false, inFlight: &inFlight)
                            lastConfirm = Date()
                        case AMQP_CHANNEL_CLOSE_METHOD, AMQP_CONNECTION_CLOSE_METHOD:
                            throw AMQPSocket.methodError(method, operation: "publish")
                        default:
                            break
                        }
                    }
                    socket.releaseBuffers()
                } else if Date().timeIntervalSince(lastConfirm) > settings.confirmTimeoutSeconds {
                    throw AMQPError(.connectionLost, "no confirms for \(settings.confirmTimeoutSeconds) s", operation: "publish")
                }
                finish { $0.remaining == 0 || $0.failure != nil }
            } catch {
                link.drop(after: error)
                inFlight.removeAll()
                if let amqp = error as? AMQPError, !amqp.isTransient {
                    for request in active where request.failure == nil { request.failure = amqp }
                    finish { _ in true }
                    unsent.removeAll()
                    continue
                }
                attempt += 1
                let since = failingSince ?? Date()
                failingSince = since
                if let limit = settings.giveUpAfterSeconds, Date().timeIntervalSince(since) > limit {
                    let failure = AMQPError(.connectionFailed, "no broker for \(Int(limit)) s: \(error)", operation: "publish")
                    for request in active where request.failure == nil && request.remaining > 0 { request.failure = failure }
                    finish { _ in true }
                    unsent.removeAll()
                    continue
                }
                Thread.sleep(forTimeInterval: settings.backoff.delay(attempt: attempt))
            }
        }
    }

    private func settle(_ tag: UInt64, multiple: Bool, ok: Bool, inFlight: inout [UInt64: (Request, Int)]) {
        let settled: [UInt64] = multiple ? inFlight.keys.filter { $0 <= tag } : [tag]
        for key in settled {
            guard let (request, index) = inFlight.removeValue(forKey: key) else { continue }
            if ok {
                if !request.confirmed[index] {
                    request.confirmed[index] = true
                    request.remaining -= 1
                }
            } else if request.failure == nil {
                request.failure = AMQPError(.nacked, "the broker refused message \(index + 1) of \(request.messages.count)", operation: "publish")
            }
        }
    }
}

extension AMQPPublisher {
    /// Publishes `messages`, publishing them again up to `retries` times (`pause`, then twice
    /// `pause`, ...) when the broker nacks them. A nack is the broker saying it could not take a
    /// message *this time* (a queue process failed or went away under the publish, a full queue
    /// with `reject-publish`); the same messages — same ids — are safe to send again because every
    /// consumer is idempotent. `onNack` hears each nack that will be retried (its attempt number).
    /// Other errors, and the last nack, are thrown.
    public func publish(_ messages: [AMQPMessage], retryingNacks retries: Int, pause: Duration = .milliseconds(100),
                        onNack: (@Sendable (_ attempt: Int, _ error: AMQPError) -> Void)? = nil) async throws {
        var attempt = 0
        while true {
            do {
                return try await publish(messages)
            } catch let error as AMQPError where error.code == .nacked && attempt < retries {
                attempt += 1
                onNack?(attempt, error)
                try await Task.sleep(for: pause * attempt)
            }
        }
    }
}
