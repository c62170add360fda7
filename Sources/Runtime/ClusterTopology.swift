import AMQP

/// The cluster's domain events and the queues that keep them. Every process declares this before
/// publishing, so no event is published before the queue that keeps it exists (a broker drops
/// messages no queue is bound to).
public enum ClusterTopology {
    /// The topic exchange of domain events.
    public static let exchange = "analytics"
    /// A collector replaced spend: `{source, account, from, to, run}`.
    public static let spendUpdated = "spend.updated"
    /// deal-sync wrote deals: `{connection, crm, deals}`.
    public static let dealChanged = "deal.changed"
    /// The tracker accepted visits and leads: `TrackedBatch` (many records a message).
    public static let eventsTracked = "events.tracked"
    /// The identity resolver changed links: `{leads, days}` for the aggregator.
    public static let attributionDirty = "attribution.dirty"
    /// A CRM webhook to apply: `{connection, content_type, body}` (the tracker forwards them; the
    /// CLI can inject one).
    public static let crmWebhook = "crm.webhook"

    /// The aggregator's queue: spend changes and links the resolver changed.
    public static let aggregatorQueue = "aggregator"
    /// The identity resolver's queue: tracked visits and leads, deal changes.
    public static let identityQueue = "identity"
    /// deal-sync's queue: CRM webhooks.
    public static let dealSyncQueue = "deal-sync"

    /// Every exchange and queue of the domain events, with their dead-letter queues.
    public static let all = AMQPTopology(exchanges: [.init(exchange)])
        .merging(.workQueue(aggregatorQueue, exchange: exchange, routingKeys: [spendUpdated, attributionDirty]))
        .merging(.workQueue(identityQueue, exchange: exchange, routingKeys: [eventsTracked, dealChanged]))
        .merging(.workQueue(dealSyncQueue, exchange: exchange, routingKeys: [crmWebhook]))
}
