import CRabbitMQ
import Foundation

/// One rabbitmq-c connection with channel 1 open: synchronous calls, used by exactly one owner
/// (a publisher or consumer) from that owner's serial queue only — rabbitmq-c is not thread-safe.
final class AMQPSocket {
    static let channel: amqp_channel_t = 1
    private(set) var state: amqp_connection_state_t?
    let configuration: AMQPConfiguration

    /// Opens the TCP connection, logs in and opens channel 1.
    init(_ configuration: AMQPConfiguration, connectionName: String) throws {
        self.configuration = configuration
        guard let state = amqp_new_connection() else {
            throw AMQPError(.connectionFailed, "rabbitmq-c could not allocate a connection", operation: "connect")
        }
        self.state = state
        guard let socket = amqp_tcp_socket_new(state) else {
            amqp_destroy_connection(state)
            self.state = nil
            throw AMQPError(.connectionFailed, "rabbitmq-c could not create a socket", operation: "connect")
        }
        var timeout = Self.makeTimeval(Double(configuration.connectTimeoutSeconds))
        let opened = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard opened == AMQP_STATUS_OK.rawValue else {
            destroy()
            throw AMQPError(.connectionFailed,
                            "cannot reach \(configuration.host):\(configuration.port): \(Self.statusText(opened))",
                            operation: "connect")
        }
        let login = swift_amqp_login_plain(
            state, configuration.virtualHost, 1, Int32(configuration.frameMax), Int32(configuration.heartbeatSeconds),
            configuration.user, configuration.password)
        if let error = Self.replyError(login, operation: "login as \(configuration.user) to vhost \(configuration.virtualHost)") {
            destroy()
            throw AMQPError(.connectionFailed, error.message, operation: error.operation, replyCode: error.replyCode)
        }
        amqp_channel_open(state, Self.channel)
        try checkReply("channel.open")
        _ = connectionName
    }

    deinit { destroy() }

    private func destroy() {
        if let state {
            amqp_destroy_connection(state)
            self.state = nil
        }
    }

    /// Closes channel and connection politely, then frees everything. Errors are ignored: the
    /// broker may already be gone.
    func close() {
        guard let state else { return }
        _ = amqp_channel_close(state, Self.channel, Int32(AMQP_REPLY_SUCCESS))
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
        destroy()
    }

    func live() throws -> amqp_connection_state_t {
        guard let state else { throw AMQPError(.closed, "the connection is closed", operation: "use") }
        return state
    }

    // MARK: - errors

    func checkReply(_ operation: String) throws {
        let reply = amqp_get_rpc_reply(try live())
        if let error = Self.replyError(reply, operation: operation) { throw error }
    }

    func checkStatus(_ status: Int32, _ operation: String) throws {
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, Self.statusText(status), operation: operation)
        }
    }

    static func statusText(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }

    /// Translates an RPC reply into an error, or nil when it is normal.
    static func replyError(_ reply: amqp_rpc_reply_t, operation: String) -> AMQPError? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return nil
        case AMQP_RESPONSE_NONE:
            return AMQPError(.connectionLost, "missing RPC reply", operation: operation)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(.connectionLost, statusText(reply.library_error), operation: operation)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            return methodError(reply.reply, operation: operation)
        default:
            return AMQPError(.connectionLost, "unknown reply type", operation: operation)
        }
    }

    /// Reads a connection.close / channel.close method into an error.
    static func methodError(_ method: amqp_method_t, operation: String) -> AMQPError {
        switch method.id {
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return AMQPError(.brokerClosed, "connection closed by broker: \(AMQPDecode.string(close.reply_text))",
                             operation: operation, replyCode: Int(close.reply_code))
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return AMQPError(.brokerClosed, "channel closed by broker: \(AMQPDecode.string(close.reply_text))",
                             operation: operation, replyCode: Int(close.reply_code))
        default:
            return AMQPError(.brokerClosed, "unexpected method 0x\(String(method.id, radix: 16))", operation: operation)
        }
    }

    // MARK: - topology

    func declareExchange(_ name: String, type: String, durable: Bool, arguments: [(String, AMQPFieldValue)]) throws {
        let arena = AMQPArena()
        amqp_exchange_declare(try live(), Self.channel, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, 0, 0,
                              arena.table(arguments))
        try checkReply("exchange.declare \(name)")
    }

    /// Declares a queue; returns its ready message count and consumer count.
    @discardableResult
    func declareQueue(_ name: String, durable: Bool, passive: Bool = false, arguments: [(String, AMQPFieldValue)])
        throws -> (messages: Int, consumers: Int)
    {
        let arena = AMQPArena()
        let ok = amqp_queue_declare(try live(), Self.channel, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, 0, 0,
                                    arena.table(arguments))
        try checkReply("queue.declare \(name)")
        guard let ok else { return (0, 0) }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    func bindQueue(_ queue: String, exchange: String, routingKey: String) throws {
        let arena = AMQPArena()
        amqp_queue_bind(try live(), Self.channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey),
                        amqp_empty_table)
        try checkReply("queue.bind \(queue) to \(exchange) [\(routingKey)]")
    }

    @discardableResult
    func purgeQueue(_ name: String) throws -> Int {
        let arena = AMQPArena()
        let ok = amqp_queue_purge(try live(), Self.channel, arena.bytes(name))
        try checkReply("queue.purge \(name)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    func deleteQueue(_ name: String) throws {
        let arena = AMQPArena()
        amqp_queue_delete(try live(), Self.channel, arena.bytes(name), 0, 0)
        try checkReply("queue.delete \(name)")
    }

    func deleteExchange(_ name: String) throws {
        let arena = AMQPArena()
        amqp_exchange_delete(try live(), Self.channel, arena.bytes(name), 0)
        try checkReply("exchange.delete \(name)")
    }

    // MARK: - publishing and consuming

    func confirmSelect() throws {
        amqp_confirm_select(try live(), Self.channel)
        try checkReply("confirm.select")
    }

    func qos(prefetch: Int) throws {
        amqp_basic_qos(try live(), Self.channel, 0, UInt16(clamping: prefetch), 0)
        try checkReply("basic.qos")
    }

    func publish(_ message: AMQPMessage) throws {
        let arena = AMQPArena()
        var properties = amqp_basic_properties_t()
        var flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG)
        properties.delivery_mode = message.persistent ? UInt8(AMQP_DELIVERY_PERSISTENT.rawValue)
            : UInt8(AMQP_DELIVERY_NONPERSISTENT.rawValue)
        if let contentType = message.contentType {
            properties.content_type = arena.bytes(contentType)
            flags |= amqp_flags_t(AMQP_BASIC_CONTENT_TYPE_FLAG)
        }
        if let messageID = message.messageID {
            properties.message_id = arena.bytes(messageID)
            flags |= amqp_flags_t(AMQP_BASIC_MESSAGE_ID_FLAG)
        }
        if let type = message.type {
            properties.type = arena.bytes(type)
            flags |= amqp_flags_t(AMQP_BASIC_TYPE_FLAG)
        }
        if let expiration = message.expirationMilliseconds {
            properties.expiration = arena.bytes(String(expiration))
            flags |= amqp_flags_t(AMQP_BASIC_EXPIRATION_FLAG)
        }
        if let timestamp = message.timestamp {
            properties.timestamp = UInt64(max(0, timestamp.timeIntervalSince1970))
            flags |= amqp_flags_t(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if !message.headers.isEmpty {
            properties.headers = arena.table(message.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            flags |= amqp_flags_t(AMQP_BASIC_HEADERS_FLAG)
        }
        properties._flags = flags
        let state = try live()
        let status = message.body.withUnsafeBytes { body -> Int32 in
            let bytes = amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
            return amqp_basic_publish(state, Self.channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                                      0, 0, &properties, body.count == 0 ? amqp_empty_bytes : bytes)
        }
        try checkStatus(status, "basic.publish to \(message.exchange.isEmpty ? "(default)" : message.exchange) [\(message.routingKey)]")
    }

    func consume(queue: String, consumerTag: String) throws {
        let arena = AMQPArena()
        amqp_basic_consume(try live(), Self.channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, 0, amqp_empty_table)
        try checkReply("basic.consume \(queue)")
    }

    func ack(_ tag: UInt64, multiple: Bool) throws {
        try checkStatus(amqp_basic_ack(try live(), Self.channel, tag, multiple ? 1 : 0), "basic.ack")
    }

    func nack(_ tag: UInt64, multiple: Bool, requeue: Bool) throws {
        try checkStatus(amqp_basic_nack(try live(), Self.channel, tag, multiple ? 1 : 0, requeue ? 1 : 0), "basic.nack")
    }

    /// Frees the memory of frames already handled (rabbitmq-c keeps every decoded frame of a
    /// channel until this is called; it releases only when no frame is pending).
    func releaseBuffers() {
        if let state { amqp_maybe_release_buffers(state) }
    }

    /// Sends a heartbeat frame: keeps the broker from closing a connection whose owner is busy
    /// elsewhere (a consumer while its batch is being handled).
    func sendHeartbeat() throws {
        var frame = amqp_frame_t()
        frame.frame_type = UInt8(AMQP_FRAME_HEARTBEAT)
        frame.channel = 0
        try checkStatus(amqp_send_frame(try live(), &frame), "heartbeat")
    }

    /// Waits up to `timeout` seconds for the next method frame. Returns nil on timeout.
    /// Heartbeats are serviced inside; a broker that stops answering gives `.connectionLost`.
    func waitFrame(timeout: Double) throws -> amqp_frame_t? {
        let state = try live()
        var frame = amqp_frame_t()
        var tv = Self.makeTimeval(timeout)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &tv)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        try checkStatus(status, "wait for frame")
        return frame
    }

    /// Receives one delivery within `timeout` seconds, or nil on timeout. A broker close of the
    /// channel or connection becomes an error.
    func receive(timeout: Double, generation: Int) throws -> AMQPDelivery? {
        let state = try live()
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var tv = Self.makeTimeval(timeout)
        let reply = amqp_consume_message(state, &envelope, &tv, 0)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            defer { amqp_destroy_envelope(&envelope) }
            return AMQPDelivery(envelope: envelope, generation: generation)
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            if reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            if reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
                // Something other than a delivery: read it to learn what.
                guard let frame = try waitFrame(timeout: timeout) else { return nil }
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD) {
                    let method = frame.payload.method
                    if method.id == AMQP_CHANNEL_CLOSE_METHOD || method.id == AMQP_CONNECTION_CLOSE_METHOD {
                        throw Self.methodError(method, operation: "consume")
                    }
                    if method.id == AMQP_BASIC_CANCEL_METHOD {
                        throw AMQPError(.brokerClosed, "the broker cancelled the consumer (queue deleted?)",
                                        operation: "consume")
                    }
                }
                return nil
            }
        }
        if let error = Self.replyError(reply, operation: "consume") { throw error }
        return nil
    }

    static func makeTimeval(_ seconds: Double) -> timeval {
        let whole = max(0, seconds.rounded(.down))
        return timeval(tv_sec: Int(whole), tv_usec: Int((max(0, seconds) - whole) * 1_000_000))
    }
}
