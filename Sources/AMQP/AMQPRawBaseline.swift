import CRabbitMQ
import Foundation

/// The benchmark baseline: the minimal loops that call rabbitmq-c directly, with none of this
/// module's machinery (no queue hops, no reconnection, no bookkeeping per message). The
/// benchmark compares `AMQPPublisher`/`AMQPConsumer` against these in the same run. Not for
/// production use. Lives here because this is the only module that may import `CRabbitMQ`.
public enum AMQPRawBaseline {
    /// Publishes `count` persistent messages of `body` to `queue` (default exchange) with
    /// confirms awaited every `batch` messages; returns seconds taken.
    public static func publish(_ configuration: AMQPConfiguration, queue: String, count: Int, body: [UInt8], batch: Int = 1000) throws -> Double {
        let socket = try AMQPSocket(configuration, connectionName: "baseline")
        defer { socket.close() }
        let state = try socket.live()
        amqp_confirm_select(state, 1)
        try socket.checkReply("confirm.select")
        var properties = amqp_basic_properties_t()
        properties._flags = amqp_flags_t(AMQP_BASIC_DELIVERY_MODE_FLAG)
        properties.delivery_mode = UInt8(AMQP_DELIVERY_PERSISTENT.rawValue)
        let started = Date()
        var published: UInt64 = 0
        var confirmed: UInt64 = 0
        try queue.withCString { queueName in
            var payload = body
            try payload.withUnsafeMutableBytes { raw in
                let bytes = amqp_bytes_t(len: raw.count, bytes: raw.baseAddress)
                while published < UInt64(count) {
                    let end = min(UInt64(count), published + UInt64(batch))
                    while published < end {
                        let status = amqp_basic_publish(state, 1, amqp_empty_bytes, amqp_cstring_bytes(queueName), 0, 0, &properties, bytes)
                        try socket.checkStatus(status, "baseline publish")
                        published += 1
                    }
                    while confirmed < published {
                        var frame = amqp_frame_t()
                        let status = amqp_simple_wait_frame(state, &frame)
                        try socket.checkStatus(status, "baseline confirm")
                        if frame.frame_type == UInt8(AMQP_FRAME_METHOD), frame.payload.method.id == AMQP_BASIC_ACK_METHOD {
                            let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                            confirmed = max(confirmed, ack.delivery_tag)
                        }
                    }
                }
            }
        }
        return Date().timeIntervalSince(started)
    }

    /// Consumes `count` messages from `queue` with manual acks (one `multiple` ack every
    /// prefetch/4 messages); returns seconds taken.
    public static func consume(_ configuration: AMQPConfiguration, queue: String, count: Int, prefetch: Int = 1000) throws -> Double {
        let socket = try AMQPSocket(configuration, connectionName: "baseline")
        defer { socket.close() }
        let state = try socket.live()
        try socket.qos(prefetch: prefetch)
        try socket.consume(queue: queue, consumerTag: "")
        let started = Date()
        var received = 0
        var lastTag: UInt64 = 0
        while received < count {
            amqp_maybe_release_buffers(state)
            var envelope = amqp_envelope_t()
            let reply = amqp_consume_message(state, &envelope, nil, 0)
            guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
                throw AMQPError(.connectionLost, "baseline consume failed", operation: "baseline consume")
            }
            lastTag = envelope.delivery_tag
            amqp_destroy_envelope(&envelope)
            received += 1
            if received % max(1, prefetch / 4) == 0 { try socket.ack(lastTag, multiple: true) }
        }
        try socket.ack(lastTag, multiple: true)
        return Date().timeIntervalSince(started)
    }
}
