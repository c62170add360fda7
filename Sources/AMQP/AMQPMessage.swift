import CRabbitMQ
import Foundation

/// A message to publish.
public struct AMQPMessage: Sendable {
    /// The exchange; empty for the default exchange (routing key = queue name).
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    /// Delivery mode 2 (stored on disk); true unless a caller opts out.
    public var persistent: Bool
    public var messageID: String?
    public var type: String?
    public var contentType: String?
    public var timestamp: Date?
    /// Per-message TTL in milliseconds (used for delayed retries).
    public var expirationMilliseconds: Int?
    public var headers: [String: AMQPFieldValue]

    public init(
        exchange: String, routingKey: String, body: [UInt8], persistent: Bool = true, messageID: String? = nil,
        type: String? = nil, contentType: String? = "application/json", timestamp: Date? = nil,
        expirationMilliseconds: Int? = nil, headers: [String: AMQPFieldValue] = [:]
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.persistent = persistent
        self.messageID = messageID
        self.type = type
        self.contentType = contentType
        self.timestamp = timestamp
        self.expirationMilliseconds = expirationMilliseconds
        self.headers = headers
    }
}

/// A message received from a queue. Acknowledge it through the consumer that delivered it.
public struct AMQPDelivery: Sendable {
    public let deliveryTag: UInt64
    /// Which connection of its consumer delivered it: tags of an earlier connection are void
    /// (the broker has already put those messages back in the queue).
    public let generation: Int
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let body: [UInt8]
    public let messageID: String?
    public let type: String?
    public let contentType: String?
    public let headers: [String: AMQPFieldValue]

    init(envelope: amqp_envelope_t, generation: Int) {
        deliveryTag = envelope.delivery_tag
        self.generation = generation
        redelivered = envelope.redelivered != 0
        exchange = AMQPDecode.string(envelope.exchange)
        routingKey = AMQPDecode.string(envelope.routing_key)
        body = AMQPDecode.data(envelope.message.body)
        let properties = envelope.message.properties
        let flags = properties._flags
        func has(_ flag: Int32) -> Bool { flags & amqp_flags_t(flag) != 0 }
        messageID = has(AMQP_BASIC_MESSAGE_ID_FLAG) ? AMQPDecode.string(properties.message_id) : nil
        type = has(AMQP_BASIC_TYPE_FLAG) ? AMQPDecode.string(properties.type) : nil
        contentType = has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? AMQPDecode.string(properties.content_type) : nil
        headers = has(AMQP_BASIC_HEADERS_FLAG) ? AMQPDecode.table(properties.headers) : [:]
    }

    /// Builds a delivery by hand (for handlers' unit tests).
    public init(
        deliveryTag: UInt64, body: [UInt8], redelivered: Bool = false, exchange: String = "", routingKey: String = "",
        messageID: String? = nil, type: String? = nil, headers: [String: AMQPFieldValue] = [:]
    ) {
        self.deliveryTag = deliveryTag
        self.generation = 0
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.messageID = messageID
        self.type = type
        self.contentType = "application/json"
        self.headers = headers
    }
}
