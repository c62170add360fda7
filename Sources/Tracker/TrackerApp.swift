import AMQP
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Runtime
import ServiceLifecycle
import Settings

/// The tracker: the HTTP API of contracts.md §1. Visits, leads and bulk events are validated,
/// normalised and answered only after the broker confirmed the message that holds them; CRM
/// webhooks become `crm.webhook` messages for deal-sync.
public enum TrackerApp {
    /// One project as the tracker knows it: its keys, its reader, its CRM webhook secrets.
    struct ProjectKeys: Sendable {
        let ingestKey: String?
        let siteKey: String?
        let reader: EventReader
        /// webhook secret → (connection id, CRM kind, Bitrix24 application token).
        let webhooks: [String: (connection: String, crm: String, applicationToken: String?)]
    }

    /// The API's routes over `projects`, publishing with `batcher` and `publisher`.
    static func router(projects: [String: ProjectKeys], batcher: any EventSink, publisher: AMQPPublisher, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        // Browser beacons post from the project's site, another origin: preflights are answered
        // here and the record calls' answers carry `Access-Control-Allow-Origin: *` (`handle`).
        // The keys are not cookies, so any origin may send what a key allows, and no origin can
        // read more than an answer. (Hummingbird's CORSMiddleware does the same, but as a layer
        // around every request it cost 1.5 µs a visit on the hot path.)
        for call in ["visits", "leads", "events"] {
            router.on(RouterPath("/v1/projects/:project/\(call)"), method: .options) { _, _ in
                Response(status: .noContent, headers: [
                    .accessControlAllowOrigin: "*", .accessControlAllowMethods: "POST, OPTIONS",
                    .accessControlAllowHeaders: "Content-Type, Authorization", .accessControlMaxAge: "86400",
                ])
            }
        }
        router.post("/v1/projects/:project/visits") { request, context in
            await handle(request, context, projects: projects, allowSiteKey: true) { project, keys, body in
                let visit = try keys.reader.visit(try parse(body), receivedAt: Date(), newID: { UUID().uuidString.lowercased() })
                try await batcher.submit(project: project, visits: [visit], leads: [])
                return json(.created, "visit_id", visit.visitID)
            }
        }
        router.post("/v1/projects/:project/leads") { request, context in
            await handle(request, context, projects: projects, allowSiteKey: true) { project, keys, body in
                let lead = try keys.reader.lead(try parse(body), receivedAt: Date())
                try await batcher.submit(project: project, visits: [], leads: [lead])
                return json(.accepted, "request_id", lead.requestID)
            }
        }
        router.post("/v1/projects/:project/events") { request, context in
            await handle(request, context, projects: projects, allowSiteKey: false) { project, keys, body in
                let received = Date()
                var visits: [TrackedVisit] = []
                var leads: [TrackedLead] = []
                var rejected: [JSONOut] = []
                var rejectedCount = 0
                for (index, line) in body.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                    let text = line.last == 0x0D ? line.dropLast() : line[...]
                    if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                    do {
                        let value = try parse(Array(text))
                        switch value["type"] {
                        case .string("visit")?: visits.append(try keys.reader.visit(value, receivedAt: received, newID: { UUID().uuidString.lowercased() }))
                        case .string("lead")?: leads.append(try keys.reader.lead(value, receivedAt: received))
                        default: throw InputError("must be visit or lead", field: "type")
                        }
                    } catch let error as InputError {
                        rejectedCount += 1
                        if rejected.count < maxListedRejections {
                            rejected.append(.object(["line": .number(index + 1), "error": .string(error.description)]))
                        }
                    }
                }
                try await batcher.submit(project: project, visits: visits, leads: leads)
                return json(.accepted, ["accepted": .number(visits.count + leads.count), "rejected": .array(rejected),
                                        "rejected_count": .number(rejectedCount)])
            }
        }
        router.post("/v1/projects/:project/webhooks/:crm/:secret") { request, context -> Response in
            let project = context.parameters.get("project") ?? ""
            guard let keys = projects[project] else { return json(.notFound, ["error": .string("unknown project")]) }
            let crm = context.parameters.get("crm") ?? ""
            guard let hook = keys.webhooks[context.parameters.get("secret") ?? ""], hook.crm == crm else {
                return json(.notFound, ["error": .string("no \(crm) webhook with this secret in project \(project)")])
            }
            let bytes: [UInt8]
            do { bytes = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView) } catch {
                return json(.contentTooLarge, ["error": .string("the body is larger than 1 MiB")])
            }
            let body = String(decoding: bytes, as: UTF8.self)
            if crm == "bitrix24", let expected = hook.applicationToken {
                let token = FormURLEncoded.parse(body).first { $0.key == "auth[application_token]" }?.value
                guard let token, sameKey(token.utf8, expected.utf8) else { return json(.unauthorized, ["error": .string("auth[application_token] does not match")]) }
            }
            let message = CRMWebhookMessage(connection: hook.connection,
                                            contentType: request.headers[.contentType] ?? "application/x-www-form-urlencoded", body: body)
            do {
                let id = UUID().uuidString.lowercased()
                try await IngestBatcher.publishDurably(AMQPMessage(
                    exchange: ClusterTopology.exchange, routingKey: ClusterTopology.crmWebhook,
                    body: try Envelope.encode(type: ClusterTopology.crmWebhook, project: project, id: id, payload: message),
                    messageID: id, type: ClusterTopology.crmWebhook), on: publisher, what: "a CRM webhook", logger: logger)
            } catch {
                logger.error("a CRM webhook could not be queued", metadata: ["error": "\(error)"])
                return json(.serviceUnavailable, ["error": .string("the webhook could not be stored; the CRM will retry")])
            }
            return json(.ok, ["ok": .bool(true)])
        }
        return router
    }

    /// Project, key and body checks shared by the record calls; maps errors to answers.
    static func handle(
        _ request: Request, _ context: BasicRequestContext, projects: [String: ProjectKeys], allowSiteKey: Bool,
        _ body: (String, ProjectKeys, [UInt8]) async throws -> Response
    ) async -> Response {
        var response = await answer(request, context, projects: projects, allowSiteKey: allowSiteKey, body)
        if request.headers[.origin] != nil { response.headers[.accessControlAllowOrigin] = "*" }
        return response
    }

    static func answer(
        _ request: Request, _ context: BasicRequestContext, projects: [String: ProjectKeys], allowSiteKey: Bool,
        _ body: (String, ProjectKeys, [UInt8]) async throws -> Response
    ) async -> Response {
        let project = context.parameters.get("project") ?? ""
        guard let keys = projects[project] else { return json(.notFound, ["error": .string("unknown project")]) }
        // The bearer compared where it stands in the header (the scheme in any case, RFC 9110
        // §11.1), and the query parsed only when the bearer did not match (a site's browsers
        // send `?key=`, servers the bearer).
        let bearerMatches = if let key = keys.ingestKey, let header = request.headers[.authorization], isBearer(header.utf8) {
            sameKey(header.utf8.dropFirst(7), key.utf8)
        } else {
            false
        }
        let authorised = bearerMatches || (allowSiteKey && keys.siteKey.map { site in
            request.uri.queryParameters.get("key").map { sameKey($0.utf8, site.utf8) } ?? false
        } ?? false)
        guard authorised else {
            return json(.unauthorized, ["error": .string(allowSiteKey ? "a valid ingest key (Bearer) or site key (?key=) is required"
                                                                        : "a valid ingest key (Authorization: Bearer) is required")])
        }
        let bytes: [UInt8]
        do { bytes = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView) } catch {
            return json(.contentTooLarge, ["error": .string("the body is larger than 1 MiB")])
        }
        do {
            return try await body(project, keys, bytes)
        } catch let error as InputError {
            var answer: [String: JSONOut] = ["error": .string(error.error)]
            if let field = error.field { answer["field"] = .string(field) }
            return json(.badRequest, answer)
        } catch {
            context.logger.error("events could not be stored", metadata: ["error": "\(error)"])
            return json(.serviceUnavailable, ["error": .string("the events could not be stored; retry")])
        }
    }

    /// Rejected lines of a bulk body listed in its answer; `rejected_count` counts them all.
    static let maxListedRejections = 1000

    /// Whether the header starts with the `Bearer` scheme and a space, in any case.
    static func isBearer(_ header: String.UTF8View) -> Bool {
        header.count > 7 && zip(header.prefix(7), "bearer ".utf8).allSatisfy { $0 | 0x20 == $1 }
    }

    /// Compares a presented key with the configured one in time that depends only on their
    /// lengths, not on where they first differ.
    static func sameKey<A: Collection<UInt8>, B: Collection<UInt8>>(_ presented: A, _ expected: B) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        var index = presented.startIndex
        for byte in expected {
            if index != presented.endIndex {
                difference |= byte ^ presented[index]
                presented.formIndex(after: &index)
            }
        }
        return difference == 0
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONValue.parse(bytes) } catch let error as JSONParseError {
            throw InputError("the body is not JSON (\(error))", field: nil)
        }
    }

    /// A small JSON writer for the answers.
    indirect enum JSONOut: Sendable {
        case string(String), number(Int), bool(Bool), array([JSONOut]), object([String: JSONOut])

        var text: String {
            switch self {
            case .string(let value): return JSONText.quote(value)
            case .number(let value): return String(value)
            case .bool(let value): return value ? "true" : "false"
            case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
            case .object(let fields): return "{" + fields.sorted { $0.key < $1.key }.map { JSONOut.string($0.key).text + ":" + $0.value.text }.joined(separator: ",") + "}"
            }
        }
    }

    /// `{"<key>":"<value>"}`: the answer to every accepted record, written straight into the
    /// buffer (the general writer sorts a dictionary for it).
    static func json(_ status: HTTPResponse.Status, _ key: StaticString, _ value: String) -> Response {
        var writer = JSONWriter(capacity: 64)
        writer.raw("{")
        writer.field(key, value, first: true)
        writer.raw("}\n")
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }

    static func json(_ status: HTTPResponse.Status, _ fields: [String: JSONOut]) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: JSONOut.object(fields).text + "\n")))
    }

    /// The projects' keys and webhook secrets, resolved once at start.
    static func keys(_ settings: Settings) throws -> [String: ProjectKeys] {
        var projects: [String: ProjectKeys] = [:]
        for project in settings.projects {
            var webhooks: [String: (connection: String, crm: String, applicationToken: String?)] = [:]
            for source in project.sources where ["amocrm", "bitrix24"].contains(source.kind) {
                guard let secret = try source.credentials["webhook_secret"]?.resolve() else { continue }
                webhooks[secret] = (source.id, source.kind, try source.credentials["application_token"]?.resolve())
            }
            projects[project.id] = ProjectKeys(ingestKey: try project.ingestKey?.resolve(), siteKey: try project.siteKey?.resolve(),
                                               reader: EventReader(siteDomains: project.siteDomains), webhooks: webhooks)
        }
        return projects
    }

    /// The tracker process: the API on `port`, health and metrics on `HTTP_PORT`, the publisher
    /// closed last on SIGTERM.
    /// - Parameter publishes: false answers without publishing anything — only for the
    ///   benchmark's baseline.
    public static func build(settings: Settings, host: String = "0.0.0.0", port: Int, logger: Logger, publishes: Bool = true,
                             onServerRunning: (@Sendable (Int) async -> Void)? = nil) throws -> ServiceGroup {
        let projects = try keys(settings)
        let amqp = try AMQPConfiguration(url: settings.amqpURL)
        let publisher = AMQPPublisher(configuration: amqp, topology: ClusterTopology.all, name: "tracker",
                                      settings: .init(giveUpAfterSeconds: 10), logger: logger)
        let batcher: any EventSink = publishes ? IngestBatcher(publisher: publisher, logger: logger) : DiscardingSink()
        let readiness = Readiness()
        readiness.set("http", ready: true)
        let api = Application(
            router: router(projects: projects, batcher: batcher, publisher: publisher, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "skvoznaya-tracker"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? port) },
            logger: logger)
        let health = HealthServer.make(port: settings.httpPort, readiness: readiness, registry: Observability.registry, logger: logger)
        logger.info("starting", metadata: ["amqp.url": "\(amqp.redactedURL)", "projects": "\(projects.count)", "port": "\(port)"])
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: PublisherCloser(publisher: publisher)), .init(service: health),
                       .init(service: api, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(15)
        return ServiceGroup(configuration: configuration)
    }
}

/// Closes the publisher when the group shuts down, after the API stopped taking requests.
struct PublisherCloser: Service {
    let publisher: AMQPPublisher
    func run() async throws {
        try? await gracefulShutdown()
        await publisher.close()
    }
}
