/// Exchanges, queues and bindings, declared idempotently by every process that uses them.
///
/// Queues are quorum queues by default (replicated on a RabbitMQ cluster, RabbitMQ ≥ 3.10), and
/// each work queue gets a dead-letter exchange and queue (`<queue>.dead`) so that the broker's own
/// dead-lettering (delivery limit, rejection) keeps messages too.
public struct AMQPTopology: Sendable {
    public struct Exchange: Sendable {
        public var name: String
        /// `topic`, `direct`, `fanout` or `headers`.
        public var type: String
        public init(_ name: String, type: String = "topic") {
            self.name = name
            self.type = type
        }
    }

    public enum QueueType: String, Sendable { case quorum, classic }

    public struct Queue: Sendable {
        public var name: String
        public var type: QueueType
        /// When set, rejected messages go to this exchange with routing key = queue name.
        public var deadLetterExchange: String?
        /// Quorum queues: redeliveries after which the broker dead-letters a message by itself
        /// (a poison message that crashes its worker each time).
        public var deliveryLimit: Int?
        public var extraArguments: [String: AMQPFieldValue]

        public init(
            _ name: String, type: QueueType = .quorum, deadLetterExchange: String? = nil, deliveryLimit: Int? = nil,
            extraArguments: [String: AMQPFieldValue] = [:]
        ) {
            self.name = name
            self.type = type
            self.deadLetterExchange = deadLetterExchange
            self.deliveryLimit = deliveryLimit
            self.extraArguments = extraArguments
        }

        var arguments: [(String, AMQPFieldValue)] {
            var arguments: [(String, AMQPFieldValue)] = [("x-queue-type", .string(type.rawValue))]
            if let deadLetterExchange {
                arguments.append(("x-dead-letter-exchange", .string(deadLetterExchange)))
                arguments.append(("x-dead-letter-routing-key", .string(name)))
            }
            if let deliveryLimit, type == .quorum { arguments.append(("x-delivery-limit", .int(Int64(deliveryLimit)))) }
            arguments += extraArguments.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            return arguments
        }
    }

    public struct Binding: Sendable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }

    /// The dead-letter exchange every work queue of the deployment uses.
    public static let deadLetterExchange = "dead-letter"

    /// A work queue bound to `exchange` by `routingKeys`, with its dead-letter queue `<name>.dead`
    /// bound to the shared dead-letter exchange by the queue's name.
    public static func workQueue(
        _ name: String, exchange: String, routingKeys: [String], type: QueueType = .quorum, deliveryLimit: Int? = 20
    ) -> AMQPTopology {
        let deadQueue = deadLetterQueueName(for: name)
        return AMQPTopology(
            exchanges: [Exchange(exchange), Exchange(deadLetterExchange, type: "direct")],
            queues: [
                Queue(name, type: type, deadLetterExchange: deadLetterExchange, deliveryLimit: deliveryLimit),
                Queue(deadQueue, type: type),
            ],
            bindings: routingKeys.map { Binding(queue: name, exchange: exchange, routingKey: $0) }
                + [Binding(queue: deadQueue, exchange: deadLetterExchange, routingKey: name)])
    }

    /// `<queue>.dead`.
    public static func deadLetterQueueName(for queue: String) -> String { queue + ".dead" }

    /// Merges two topologies (declaring twice is harmless; duplicates are kept out anyway).
    public func merging(_ other: AMQPTopology) -> AMQPTopology {
        var merged = self
        for exchange in other.exchanges where !merged.exchanges.contains(where: { $0.name == exchange.name }) {
            merged.exchanges.append(exchange)
        }
        for queue in other.queues where !merged.queues.contains(where: { $0.name == queue.name }) {
            merged.queues.append(queue)
        }
        for binding in other.bindings where !merged.bindings.contains(where: {
            $0.queue == binding.queue && $0.exchange == binding.exchange && $0.routingKey == binding.routingKey
        }) {
            merged.bindings.append(binding)
        }
        return merged
    }

    func declare(on socket: AMQPSocket) throws {
        for exchange in exchanges {
            try socket.declareExchange(exchange.name, type: exchange.type, durable: true, arguments: [])
        }
        for queue in queues {
            try socket.declareQueue(queue.name, durable: true, arguments: queue.arguments)
        }
        for binding in bindings {
            try socket.bindQueue(binding.queue, exchange: binding.exchange, routingKey: binding.routingKey)
        }
    }
}
