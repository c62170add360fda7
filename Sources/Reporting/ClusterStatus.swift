import AMQP
import AsyncHTTPClient
import Domain
import Foundation
import NIOCore
import Postgres
import Runtime
import Settings

/// What `analytics status` shows: per source the last successful run and its lag, per CRM
/// connection where its sync stands and the deals whose stage no mapping places, per queue its
/// depth and its dead letters — the questions an operator asks first.
public struct ClusterStatus: Sendable {
    public struct SourceLine: Sendable, Equatable {
        public var project: String
        public var source: String
        public var kind: String
        /// Ad sources: the end of the last succeeded run; CRM: the last change read.
        public var lastSuccess: Date?
        /// Ad sources: the last day the last succeeded run covered.
        public var coveredTo: LocalDay?
        /// The newest failure since the last success, named.
        public var lastFailure: String?
        /// CRM only: deals in stages the mapping does not place, and deals that failed to sync.
        public var unknownStageDeals: Int = 0
        public var syncErrors: Int = 0
        public var fullSyncDone: Bool = true
    }

    public struct QueueLine: Sendable, Equatable {
        public var queue: String
        /// Ready messages; nil when the queue does not exist (no worker ever declared it).
        public var ready: Int?
        /// Delivered, not yet acknowledged (from the management API, when configured).
        public var unacknowledged: Int?
        public var consumers: Int?
        public var deadLetters: Int?
    }

    /// What still waits to be done: the CRMs' first full syncs, the queues, the outbox.
    public struct Backlog: Sendable {
        /// Every CRM connection has finished its first full sync.
        public var crmSynced: Bool
        public var queues: [QueueLine]
        /// Events the workers wrote but have not published yet (runtime.outbox).
        public var outbox: Int
        /// Why unacknowledged counts are missing although a management URL was given.
        public var managementProblem: String?

        /// Nothing waits anywhere: the CRMs synced once, every queue (ready and, when known,
        /// unacknowledged) and the outbox empty.
        public var isIdle: Bool {
            crmSynced && outbox == 0 && queues.allSatisfy { ($0.ready ?? 0) == 0 && ($0.unacknowledged ?? 0) == 0 }
        }
    }

    public var sources: [SourceLine]
    public var backlog: Backlog
    /// The newest visit the identity resolver stored, per project.
    public var lastVisit: [String: Date]
    public var takenAt: Date

    public static let crmKinds: Set<String> = ["amocrm", "bitrix24"]

    /// Reads the status. `managementURL` (`http://user:password@host:15672`), when given, adds
    /// unacknowledged counts from RabbitMQ's management API.
    public static func read(settings: Settings, pool: PGPool, managementURL: String?) async throws -> ClusterStatus {
        var sources: [SourceLine] = []
        for project in settings.projects {
            for source in project.sources {
                var line = SourceLine(project: project.id, source: source.id, kind: source.kind)
                if crmKinds.contains(source.kind) {
                    if let state = try await pool.query("""
                        SELECT greatest(deals_watermark, events_watermark, reconciled_at), full_sync_done_at IS NOT NULL
                        FROM crm.sync_state WHERE project_id = $1 AND connection_id = $2
                        """, [project.id, source.id]).first {
                        line.lastSuccess = try state.decode(Date?.self, 0)
                        line.fullSyncDone = try state.decode(Bool.self, 1)
                    } else {
                        line.fullSyncDone = false
                    }
                    line.unknownStageDeals = try await pool.query("""
                        SELECT count(*) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND status = 'unknown' AND NOT is_deleted
                        """, [project.id, source.id])[0].decode(Int.self, 0)
                    line.syncErrors = try await pool.query("SELECT count(*) FROM crm.sync_errors WHERE project_id = $1 AND connection_id = $2",
                                                           [project.id, source.id])[0].decode(Int.self, 0)
                } else {
                    if let run = try await pool.query("""
                        SELECT finished_at, last_day::text FROM spend.runs
                        WHERE project_id = $1 AND source_id = $2 AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1
                        """, [project.id, source.id]).first {
                        line.lastSuccess = try run.decode(Date?.self, 0)
                        line.coveredTo = LocalDay(iso: try run.decode(String.self, 1))
                    }
                    if let failed = try await pool.query("""
                        SELECT first_day::text, last_day::text, coalesce(error, 'failed'), started_at FROM spend.runs
                        WHERE project_id = $1 AND source_id = $2 AND status = 'failed' AND started_at > coalesce($3::timestamptz, '-infinity')
                        ORDER BY started_at DESC LIMIT 1
                        """, [project.id, source.id, line.lastSuccess]).first {
                        line.lastFailure = "\(try failed.decode(String.self, 0))..\(try failed.decode(String.self, 1)): \(try failed.decode(String.self, 2))"
                    }
                }
                sources.append(line)
            }
        }
        var lastVisit: [String: Date] = [:]
        for project in settings.projects {
            if let at = try await pool.query("SELECT max(received_at) FROM journey.visits WHERE project_id = $1", [project.id])[0].decode(Date?.self, 0) {
                lastVisit[project.id] = at
            }
        }
        let backlog = try await backlog(settings: settings, pool: pool, managementURL: managementURL)
        return ClusterStatus(sources: sources, backlog: backlog, lastVisit: lastVisit, takenAt: Date())
    }

    /// The backlog alone (what the main job polls until the mart is current): one query for the
    /// CRMs' syncs, one for the outbox, the queues over AMQP and the management API.
    public static func backlog(settings: Settings, pool: PGPool, managementURL: String?) async throws -> Backlog {
        let connections = settings.projects.flatMap { project in
            project.sources.filter { crmKinds.contains($0.kind) }.map { "\(project.id)/\($0.id)" }
        }
        let synced = try await pool.query("""
            SELECT count(*) FROM crm.sync_state WHERE project_id || '/' || connection_id = ANY($1::text[]) AND full_sync_done_at IS NOT NULL
            """, [connections])[0].decode(Int.self, 0)
        let outbox = try await pool.query("SELECT count(*) FROM runtime.outbox")[0].decode(Int.self, 0)
        let configuration = try AMQPConfiguration(url: settings.amqpURL)
        var unacknowledged: [String: Int]?
        var problem: String?
        if let managementURL {
            do {
                unacknowledged = try await Management.unacknowledged(url: managementURL, virtualHost: configuration.virtualHost)
            } catch {
                problem = (error as? Management.Problem)?.description
                    ?? "the management API at \(Redaction.url(managementURL)) cannot be read: \(error)"
            }
        }
        var queues: [QueueLine] = []
        for queue in [ClusterTopology.identityQueue, ClusterTopology.aggregatorQueue, ClusterTopology.dealSyncQueue] {
            var line = QueueLine(queue: queue)
            if let status = try? await AMQPAdmin.queueStatus(queue, configuration: configuration) {
                line.ready = status.messages
                line.consumers = status.consumers
            }
            line.deadLetters = try? await AMQPAdmin.queueStatus(AMQPTopology.deadLetterQueueName(for: queue), configuration: configuration).messages
            line.unacknowledged = unacknowledged?[queue]
            queues.append(line)
        }
        return Backlog(crmSynced: synced == connections.count, queues: queues, outbox: outbox, managementProblem: problem)
    }

    /// RabbitMQ's management HTTP API (`GET /api/queues/<vhost>`).
    enum Management {
        struct Problem: Error, CustomStringConvertible { let description: String }

        static func unacknowledged(url: String, virtualHost: String) async throws -> [String: Int] {
            guard let parsed = URL(string: url), let host = parsed.host else {
                throw Problem(description: "the management URL \(Redaction.url(url)) is not a URL")
            }
            let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
            var request = HTTPClientRequest(url: "\(parsed.scheme ?? "http")://\(host):\(parsed.port ?? 15672)/api/queues/\(vhost)?columns=name,messages_unacknowledged")
            let user = parsed.user ?? "guest"
            let password = parsed.password ?? "guest"
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 16 << 20)
            guard response.status == .ok else {
                throw Problem(description: "the management API at \(Redaction.url(url)) answered \(response.status.code)")
            }
            guard case .array(let queues) = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)) else {
                throw Problem(description: "the management API at \(Redaction.url(url)) answered no list of queues")
            }
            var counts: [String: Int] = [:]
            for queue in queues {
                guard let name = queue["name"]?.text else { continue }
                counts[name] = queue["messages_unacknowledged"]?.text.flatMap { Int($0) } ?? 0
            }
            return counts
        }
    }

    // MARK: - text

    static func age(_ date: Date?, now: Date) -> String {
        guard let date else { return "never" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds) s ago"
        case ..<7200: return "\(seconds / 60) min ago"
        case ..<172_800: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86_400) days ago"
        }
    }

    /// The terminal text of `analytics status`.
    public var text: String {
        var out = "Sources\n"
        for line in sources {
            var text = "  \(line.project)/\(line.source) (\(line.kind)): "
            if Self.crmKinds.contains(line.kind) {
                text += line.fullSyncDone ? "changes read \(Self.age(line.lastSuccess, now: takenAt))" : "first full sync not finished"
                if line.unknownStageDeals > 0 { text += "; \(line.unknownStageDeals) deals in unknown stages (analytics deals status)" }
                if line.syncErrors > 0 { text += "; \(line.syncErrors) deals failed to sync" }
            } else {
                text += "last successful run \(Self.age(line.lastSuccess, now: takenAt))"
                if let day = line.coveredTo { text += ", spend through \(day)" }
            }
            if let failure = line.lastFailure { text += "\n      failed since: \(failure)" }
            out += text + "\n"
        }
        for (project, at) in lastVisit.sorted(by: { $0.key < $1.key }) {
            out += "  \(project)/tracker: last visit stored \(Self.age(at, now: takenAt))\n"
        }
        out += "Queues (ready / unacknowledged / consumers / dead letters)\n"
        for line in backlog.queues {
            let ready = line.ready.map(String.init) ?? "missing"
            out += "  \(line.queue): \(ready) / \(line.unacknowledged.map(String.init) ?? "?") / \(line.consumers.map(String.init) ?? "?") / \(line.deadLetters.map(String.init) ?? "?")"
            if (line.deadLetters ?? 0) > 0 { out += "   ← dead letters: see README, day two" }
            out += "\n"
        }
        if let problem = backlog.managementProblem { out += "  (unacknowledged counts unknown: \(problem))\n" }
        out += "Outbox: \(backlog.outbox) events waiting to be published\n"
        return out
    }
}
