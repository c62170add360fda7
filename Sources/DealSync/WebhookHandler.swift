import AMQP
import AmoCRM
import Bitrix24
import Domain
import Foundation
import Logging
import Postgres
import Runtime

/// Applies `crm.webhook` messages: the announced deals are fetched and written at once, in the
/// worker's transaction (with their `deal.changed`). A webhook that names no deal of a known
/// connection, or whose account does not match, fails with that reason (and is dead-lettered).
public struct WebhookHandler: BatchHandler {
    let connections: [String: CRMConnection]

    public init(connections: [CRMConnection]) {
        self.connections = Dictionary(connections.map { ("\($0.project)\u{0}\($0.id)", $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func handle(_ messages: [Envelope], on connection: PGConnection, logger: Logger) async throws {
        // Deals per connection, in message order, each once.
        var wanted: [(CRMConnection, [String])] = []
        for envelope in messages {
            let message = try envelope.payload(as: CRMWebhookMessage.self)
            guard let target = connections["\(envelope.project)\u{0}\(message.connection)"] else {
                throw WebhookError("no CRM connection '\(message.connection)' is configured in project \(envelope.project)")
            }
            let ids = try Self.dealIDs(message, connection: target)
            if let index = wanted.firstIndex(where: { $0.0.id == target.id && $0.0.project == target.project }) {
                wanted[index].1 += ids.filter { !wanted[index].1.contains($0) }
            } else {
                wanted.append((target, ids))
            }
        }
        for (target, ids) in wanted where !ids.isEmpty {
            var catalog = try await target.engine.store.storedCatalog(on: connection)
            if catalog.pipelines.isEmpty {
                catalog = try await target.engine.source.catalog()
                try await target.engine.store.write(catalog, on: connection)
            }
            let outcome = try await target.engine.syncDeals(ids: ids, catalog: catalog, on: connection)
            logger.info("webhook deals synced", metadata: [
                "crm.connection": "\(target.project)/\(target.id)", "deals": "\(ids.count)", "deleted": "\(outcome.deleted)",
            ])
        }
    }

    /// The deal ids a webhook body announces.
    public static func dealIDs(_ message: CRMWebhookMessage, connection: CRMConnection) throws -> [String] {
        switch connection.kind {
        case .amocrm:
            guard let hook = AmoWebhook.parse(message.body) else {
                throw WebhookError("the body is not an amoCRM webhook (no leads[...] and no account[...] keys)")
            }
            if let bad = hook.malformed.first {
                throw WebhookError("the webhook's \(bad.prefix(200)) is not a lead id")
            }
            if let expected = connection.webhookAccountID, hook.accountID != expected {
                throw WebhookError("the webhook is for amoCRM account \(hook.accountID ?? "(none)"), the connection is account \(expected)")
            }
            return hook.leads.map(\.id)
        case .bitrix24:
            guard let event = Bitrix24Event.parse(message.body) else {
                throw WebhookError("the body is not a Bitrix24 deal event (no event and data[FIELDS][ID])")
            }
            guard ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE"].contains(event.event) else {
                throw WebhookError("Bitrix24 event \(event.event) is not a deal event")
            }
            guard let expected = connection.applicationToken, event.applicationToken == expected else {
                throw WebhookError("the Bitrix24 event's auth[application_token] does not match the connection's application_token")
            }
            return [event.dealID]
        }
    }
}

public struct WebhookError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension CRMWebhookMessage {
    /// Publishes the webhook as a `crm.webhook` message (confirmed by the broker), as the tracker
    /// forwards them. Returns the message id.
    @discardableResult
    public func publish(project: String, amqpURL: String, logger: Logger) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let body = try Envelope.encode(type: ClusterTopology.crmWebhook, project: project, id: id, payload: self)
        let publisher = AMQPPublisher(configuration: try AMQPConfiguration(url: amqpURL), topology: ClusterTopology.all,
                                      name: "crm-webhook", settings: .init(giveUpAfterSeconds: 30), logger: logger)
        do {
            try await publisher.publish(AMQPMessage(exchange: ClusterTopology.exchange, routingKey: ClusterTopology.crmWebhook, body: body,
                                                    messageID: id, type: ClusterTopology.crmWebhook))
        } catch {
            await publisher.close()
            throw error
        }
        await publisher.close()
        return id
    }
}
