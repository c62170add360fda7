import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Postgres
import Reporting
import Runtime
import ServiceLifecycle
import Settings

/// The dashboard: one server-rendered page per project from the `mart` views — daily spend and
/// revenue, leads, the totals and the channel (manager, product) table, under any model and
/// period. Read-only: it never writes anything.
public enum DashboardApp {
    /// Who may look: with a password, every request needs HTTP Basic credentials; without one the
    /// page is open to whoever reaches the port (a private network, or a proxy in front).
    public struct Access: Sendable {
        public var user: String
        public var password: String?

        public init(user: String = "analytics", password: String? = nil) {
            self.user = user
            self.password = password
        }

        /// Compares every byte whatever the first difference, so the answer's timing does not
        /// tell how much of a guess was right.
        static func same(_ a: String, _ b: String) -> Bool {
            let x = Array(a.utf8), y = Array(b.utf8)
            var difference = x.count ^ y.count
            for index in 0..<max(x.count, y.count) {
                difference |= Int((index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0))
            }
            return difference == 0
        }

        func allows(_ header: String?) -> Bool {
            guard let password else { return true }
            guard let header, header.lowercased().hasPrefix("basic "),
                  let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)) else { return false }
            let pair = String(decoding: data, as: UTF8.self)
            guard let colon = pair.firstIndex(of: ":") else { return false }
            return Self.same(String(pair[..<colon]), user) && Self.same(String(pair[pair.index(after: colon)...]), password)
        }
    }

    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        // Nothing but the page itself: no script, no other origin, no framing.
        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        .cacheControl: "no-store",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The view a query asks for, or nil when the project's report is still empty.
    public static func view(project: Project, projects: [Project], query: DashboardQuery, on connection: PGConnection) async throws -> DashboardView? {
        guard let range = try await ReportQuery.dataRange(project: project.id, on: connection) else { return nil }
        // Unless asked: the last 30 days with data (as web analytics tools open), or fewer if
        // there are fewer.
        let to = query.to ?? range.to
        let from = query.from ?? max(range.from, to.advanced(by: -29))
        guard from <= to else { throw DashboardQuery.Problem(description: "the period \(from) – \(to) ends before it starts") }
        let model = query.model ?? project.attribution.defaultModel
        let request = Report.Request(project: project.id, model: model, from: from, to: to, grouping: query.grouping, depth: query.depth,
                                     sort: query.sort)
        let report = try await ReportQuery.load(request, on: connection)
        let totals = query.grouping == .channel ? report.total
            : try await ReportQuery.load(Report.Request(project: project.id, model: model, from: from, to: to, depth: 1), on: connection).total
        let daily = try await ReportQuery.daily(project: project.id, model: model, from: from, to: to, on: connection)
        return DashboardView(project: project, projects: projects, query: query, dataRange: range.from...range.to, report: report, totals: totals,
                             daily: daily)
    }

    /// The routes: `/` (the project, or a list of them), `/projects/<id>` (the page),
    /// `/projects/<id>/report.csv` (the table as CSV) and `/health`.
    public static func router(projects: [Project], pool: PGPool, access: Access = Access(), logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        let guarded = { (handler: @escaping @Sendable (Request, BasicRequestContext) async -> Response) in
            { @Sendable (request: Request, context: BasicRequestContext) async -> Response in
                guard access.allows(request.headers[.authorization]) else {
                    var fields = headers
                    fields[.wwwAuthenticate] = "Basic realm=\"skvoznaya\", charset=\"UTF-8\""
                    return Response(status: .unauthorized, headers: fields,
                                    body: .init(byteBuffer: ByteBuffer(string: DashboardPage.message(
                                        title: "Sign in", text: "The dashboard needs its user name and password.", projects: []))))
                }
                return await handler(request, context)
            }
        }
        router.get("/", use: guarded { _, _ in
            if projects.count == 1 {
                return Response(status: .seeOther, headers: [.location: DashboardPage.path(projects[0])])
            }
            return html(.ok, DashboardPage.message(
                title: projects.isEmpty ? "No projects" : "Projects",
                text: projects.isEmpty ? "The configuration names no project." : "Choose a project above.", projects: projects))
        })
        router.get("/projects/:project", use: guarded { request, context in
            await respond(request, context, projects: projects, pool: pool, logger: logger) { view in
                html(.ok, DashboardPage.html(view))
            }
        })
        router.get("/projects/:project/report.csv", use: guarded { request, context in
            await respond(request, context, projects: projects, pool: pool, logger: logger) { view in
                let request = view.report.request
                let name = "\(request.project)-\(request.grouping.rawValue)-\(request.model)-\(request.from)-\(request.to).csv"
                    .filter { $0.isLetter || $0.isNumber || "-_.".contains($0) }
                return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                       .contentDisposition: "attachment; filename=\"\(name)\"", .cacheControl: "no-store"],
                                body: .init(byteBuffer: ByteBuffer(string: ReportFormat.csv.render(view.report))))
            }
        })
        return router
    }

    static func respond(_ request: Request, _ context: BasicRequestContext, projects: [Project], pool: PGPool, logger: Logger,
                        _ answer: (DashboardView) -> Response) async -> Response {
        let id = context.parameters.get("project") ?? ""
        guard let project = projects.first(where: { $0.id == id }) else {
            return html(.notFound, DashboardPage.message(title: "Unknown project", text: "No project '\(id)' is configured.", projects: projects))
        }
        let query: DashboardQuery
        do {
            query = try DashboardQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            return html(.badRequest, DashboardPage.message(title: "Bad request", text: error.description, projects: projects))
        }
        do {
            guard let view = try await pool.withConnection({ try await view(project: project, projects: projects, query: query, on: $0) }) else {
                return html(.ok, DashboardPage.message(
                    title: project.name,
                    text: "Nothing aggregated yet: the page fills in once the collectors, deal-sync and the tracker have delivered data and the aggregator has run.",
                    projects: projects))
            }
            return answer(view)
        } catch let problem as DashboardQuery.Problem {
            return html(.badRequest, DashboardPage.message(title: "Bad request", text: problem.description, projects: projects))
        } catch let problem as ReportQuery.Problem {
            return html(.badRequest, DashboardPage.message(title: "Bad request", text: problem.description, projects: projects))
        } catch {
            logger.error("the mart could not be read", metadata: ["project": "\(id)", "error": "\(error)"])
            return html(.serviceUnavailable, DashboardPage.message(
                title: "The figures cannot be read right now", text: "The database did not answer; try again in a moment.", projects: projects))
        }
    }

    /// The dashboard process: the page on `port`, health and metrics on `HTTP_PORT`, the pool
    /// closed on SIGTERM.
    public static func build(settings: Settings, host: String = "0.0.0.0", port: Int, access: Access, logger: Logger,
                             onServerRunning: (@Sendable (Int) async -> Void)? = nil) -> ServiceGroup {
        let pool = PGPool(PGConfiguration(url: settings.databaseURL, applicationName: "dashboard"), logger: logger)
        let readiness = Readiness()
        readiness.set("http", ready: true)
        let app = Application(
            router: router(projects: settings.projects, pool: pool, access: access, logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "skvoznaya-dashboard"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? port) },
            logger: logger)
        let health = HealthServer.make(port: settings.httpPort, readiness: readiness, registry: Observability.registry, logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: PoolCloser(pool: pool)), .init(service: health),
                       .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        return ServiceGroup(configuration: configuration)
    }
}

/// Closes the pool when the group shuts down.
struct PoolCloser: Service {
    let pool: PGPool
    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
    }
}
