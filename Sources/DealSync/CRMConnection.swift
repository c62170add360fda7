import AmoCRM
import Bitrix24
import Domain
import Foundation
import Logging
import Postgres
import Settings

/// One configured CRM source, ready to sync: its engine and its schedule.
public struct CRMConnection: Sendable {
    public let project: String
    public let id: String
    public let kind: CRMKind
    public let engine: DealSyncEngine
    /// Seconds between incremental polls.
    public var pollSeconds: Double
    /// Minutes between reconciliations (a full read that finds deleted and moved deals).
    public var reconcileMinutes: Double
    /// Minutes between catalog reads (pipelines, stages, users); a deal in an unlisted stage
    /// makes the engine read it at once.
    public var catalogMinutes: Double
    /// amoCRM: the `account[id]` its webhooks must carry (option `account_id`).
    public var webhookAccountID: String?
    /// Bitrix24: the `auth[application_token]` its events must carry (credential `application_token`).
    public var applicationToken: String?

    /// The CRM source kinds deal-sync serves.
    public static let kinds: Set<String> = [CRMKind.amocrm.rawValue, CRMKind.bitrix24.rawValue]

    /// Every CRM connection of the configuration.
    public static func all(in settings: Settings, pool: PGPool, logger: Logger) throws -> [CRMConnection] {
        try settings.projects.flatMap { project in
            try project.sources.filter { kinds.contains($0.kind) }.map { try make($0, project: project, pool: pool, logger: logger) }
        }
    }

    /// Builds a connection from its configured source. Options (besides the stage mapping and
    /// field options): `currency` (default: the project's), `amounts_include_vat`, `poll_seconds`
    /// (60), `overlap_seconds` (300), `reconcile_minutes` (360), `catalog_minutes` (15), `requests_per_second`,
    /// `backoff_seconds`. amoCRM credentials: `token` (long-lived), or `client_id`,
    /// `client_secret`, `redirect_uri` and `refresh_token` / `authorization_code`. Bitrix24
    /// credentials: `webhook_url` (the incoming webhook, a secret) and `application_token` (of
    /// the outgoing webhook, checked on every event); option `payments: off` skips payment items.
    public static func make(_ source: Source, project: Project, pool: PGPool, logger: Logger) throws -> CRMConnection {
        guard let kind = CRMKind(rawValue: source.kind) else { throw SettingsError("source \(source.id): \(source.kind) is not a CRM") }
        let options = source.options
        func number(_ key: String, _ fallback: Double) throws -> Double {
            guard let text = options[key] else { return fallback }
            guard let value = Double(text), value >= 0 else { throw SettingsError("source \(source.id): option \(key) '\(text)' is not a number") }
            return value
        }
        let currency = options["currency"] ?? project.currency
        let mapping: StageMapping
        do { mapping = try StageMapping(options: options) } catch let error as MappingError {
            throw SettingsError("source \(source.id): \(error)")
        }
        let store = DealStore(project: project.id, connection: source.id, crm: kind, mapping: mapping, currency: currency,
                              amountsIncludeVAT: options["amounts_include_vat"] == "true")
        let crm: any CRMSource
        var applicationToken: String?
        switch kind {
        case .amocrm:
            // `account`: the subdomain (`school`) or the whole host (`school.amocrm.ru`, `school.kommo.com`).
            guard let base = source.baseURL ?? source.account.map({ $0.contains(".") ? "https://\($0)" : "https://\($0).amocrm.ru" }) else {
                throw SettingsError("source \(source.id): base_url or account (the amoCRM subdomain) is required")
            }
            let auth: AmoCRMClient.Auth
            if let token = source.credentials["token"] {
                auth = .longLived(try token.resolve())
            } else {
                func secret(_ name: String) throws -> String {
                    guard let value = source.credentials[name] else { throw SettingsError("source \(source.id): credentials.\(name) (or token) is required") }
                    return try value.resolve()
                }
                auth = .oauth(clientID: try secret("client_id"), clientSecret: try secret("client_secret"),
                              redirectURI: options["redirect_uri"] ?? "", refreshToken: try source.credentials["refresh_token"]?.resolve(),
                              authorizationCode: try source.credentials["authorization_code"]?.resolve())
            }
            let client = AmoCRMClient(
                configuration: .init(baseURL: base, auth: auth, requestsPerSecond: try number("requests_per_second", 7),
                                     backoff: try number("backoff_seconds", 1)),
                store: PGAmoTokenStore(pool: pool, project: project.id, connection: source.id), logger: logger)
            crm = AmoCRMSource(client: client, fields: .init(options: options), currency: currency)
        case .bitrix24:
            guard let webhook = source.credentials["webhook_url"] else {
                throw SettingsError("source \(source.id): credentials.webhook_url (https://<portal>/rest/<user>/<code>) is required")
            }
            let client = Bitrix24Client(
                configuration: .init(webhookURL: try webhook.resolve(), requestsPerSecond: try number("requests_per_second", 2),
                                     backoff: try number("backoff_seconds", 1)),
                logger: logger)
            crm = Bitrix24Source(client: client, fields: .init(options: options), readsPayments: options["payments"] != "off",
                                 readsProductRows: options["product_rows"] != "off")
            applicationToken = try source.credentials["application_token"]?.resolve()
        }
        var engine = DealSyncEngine(source: crm, store: store, pool: pool, logger: logger)
        engine.overlapSeconds = try number("overlap_seconds", 300)
        return CRMConnection(project: project.id, id: source.id, kind: kind, engine: engine, pollSeconds: try number("poll_seconds", 60),
                             reconcileMinutes: try number("reconcile_minutes", 360), catalogMinutes: try number("catalog_minutes", 15),
                             webhookAccountID: options["account_id"], applicationToken: applicationToken)
    }
}
