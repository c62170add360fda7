import ArgumentParser
import DealSync
import Domain
import Foundation
import Postgres
import Runtime
import Settings

/// `analytics deals …`: the operator's view of deal-sync.
public struct DealsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "deals",
        abstract: "Inspect and steer CRM deal sync.",
        subcommands: [Status.self, Remap.self, Webhook.self, Payments.self])

    public init() {}

    struct Scope: ParsableArguments {
        @Option(help: "The project (default: the only one with a CRM connection).") var project: String?
        @Option(help: "The CRM connection (source id; default: every one of the project).") var connection: String?
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func resolve() throws -> (Settings, Project, [Source]) {
            let settings = try Settings.load(path: config)
            let candidates = settings.projects.filter { project in
                (self.project == nil || project.id == self.project) && project.sources.contains { CRMConnection.kinds.contains($0.kind) }
            }
            guard let project = candidates.first, candidates.count == 1 else {
                throw ValidationError(candidates.isEmpty ? "no project\(self.project.map { " '\($0)'" } ?? "") has a CRM connection"
                                                         : "several projects have CRM connections: choose one with --project")
            }
            let sources = project.sources.filter { CRMConnection.kinds.contains($0.kind) && (connection == nil || $0.id == connection) }
            guard !sources.isEmpty else { throw ValidationError("project \(project.id) has no CRM connection '\(connection ?? "")'") }
            return (settings, project, sources)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deals per status, stages the mapping cannot place, deals that failed to sync, and where each sync stands.")
        @OptionGroup var scope: Scope

        func run() async throws {
            let (settings, project, sources) = try scope.resolve()
            try await CLI.withPool(settings, "deals") { try await report(sources, project: project, pool: $0) }
        }

        func report(_ sources: [Source], project: Project, pool: PGPool) async throws {
            for source in sources {
                print("\(project.id)/\(source.id) (\(source.kind))")
                let counts = try await pool.query("""
                    SELECT status, count(*), sum(amount) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND NOT is_deleted
                    GROUP BY status ORDER BY status
                    """, [project.id, source.id])
                for row in counts {
                    print("  \(try row.decode(String.self, 0)): \(try row.decode(Int.self, 1)) deals, amount \(try row.decode(Decimal.self, 2).text(places: 2))")
                }
                let deleted = try await pool.query("SELECT count(*) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND is_deleted",
                                                   [project.id, source.id])[0].decode(Int.self, 0)
                if deleted > 0 { print("  deleted in the CRM: \(deleted)") }
                for row in try await pool.query("""
                    SELECT pipeline_id, stage_id, count(*) FROM crm.deals WHERE project_id = $1 AND connection_id = $2 AND status = 'unknown'
                      AND NOT is_deleted GROUP BY 1, 2 ORDER BY 3 DESC
                    """, [project.id, source.id]) {
                    print("  unknown stage \(try row.decode(String.self, 0))/\(try row.decode(String.self, 1)): \(try row.decode(Int.self, 2)) deals — map it with status.<pipeline>.<stage>")
                }
                for row in try await pool.query("""
                    SELECT message FROM crm.sync_errors WHERE project_id = $1 AND connection_id = $2 ORDER BY at DESC LIMIT 20
                    """, [project.id, source.id]) {
                    print("  not synced: \(try row.decode(String.self, 0))")
                }
                if let state = try await pool.query("""
                    SELECT deals_watermark, full_sync_done_at, reconciled_at FROM crm.sync_state WHERE project_id = $1 AND connection_id = $2
                    """, [project.id, source.id]).first {
                    let format = { (date: Date?) in date.map { ISO8601DateFormatter().string(from: $0) } ?? "never" }
                    print("  changes read up to \(format(try state.decode(Date?.self, 0))); full sync \(format(try state.decode(Date?.self, 1))); reconciled \(format(try state.decode(Date?.self, 2)))")
                } else {
                    print("  not synced yet")
                }
            }
        }
    }

    struct Remap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute statuses and cost of goods from the stored stages with the configured mapping (no CRM call).")
        @OptionGroup var scope: Scope

        func run() async throws {
            let (settings, project, sources) = try scope.resolve()
            try await CLI.withPool(settings, "deals") { pool in
                for source in sources {
                    let connection = try CRMConnection.make(source, project: project, pool: pool, logger: CLI.logger("deals"))
                    let outcome = try await DealRemap.run(connection.engine.store, pool: pool)
                    let changes = outcome.changed.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) now \($0.key.rawValue)" }
                    print("\(project.id)/\(source.id): \(changes.isEmpty ? "no status changed" : changes.joined(separator: ", ")); cost of goods changed for \(outcome.costsChanged)")
                }
            }
        }
    }

    struct Webhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inject a CRM webhook as if the tracker had forwarded it: the deals sync at once.",
            discussion: "Give the webhook body as received (--body-file, form-urlencoded), or deal ids (--deal) for an amoCRM 'update' webhook.")
        @OptionGroup var scope: Scope
        @Option(help: "A file with the webhook body as the CRM sent it.") var bodyFile: String?
        @Option(help: "A deal id (repeatable).") var deal: [String] = []

        func run() async throws {
            let (settings, project, sources) = try scope.resolve()
            guard sources.count == 1, let source = sources.first else { throw ValidationError("choose the connection with --connection") }
            let body: String
            if let bodyFile {
                guard let data = FileManager.default.contents(atPath: bodyFile) else { throw ValidationError("cannot read \(bodyFile)") }
                body = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                guard !deal.isEmpty, deal.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
                    throw ValidationError("give --body-file or numeric --deal ids")
                }
                guard source.kind == "amocrm" else { throw ValidationError("--deal builds amoCRM webhooks; give --body-file for \(source.kind)") }
                var pairs = deal.enumerated().map { ("leads[update][\($0.offset)][id]", $0.element) }
                if let account = source.options["account_id"] { pairs.append(("account[id]", account)) }
                body = pairs.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)=\($0.1)" }.joined(separator: "&")
            }
            let id = try await CRMWebhookMessage(connection: source.id, body: body)
                .publish(project: project.id, amqpURL: settings.amqpURL, logger: CLI.logger("deals"))
            print("webhook queued for \(project.id)/\(source.id) as message \(id)")
        }
    }

    struct Payments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load payments kept outside the CRM from a CSV (deal, date, amount[, currency, kind]).",
            discussion: "The file is the truth for the deals it names: their earlier CSV payments are replaced. All or nothing; errors name the line.")
        @OptionGroup var scope: Scope
        @Argument(help: "The CSV file.") var file: String

        func run() async throws {
            let (settings, project, sources) = try scope.resolve()
            guard sources.count == 1, let source = sources.first else { throw ValidationError("choose the connection with --connection") }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let sheet: PaymentSheet
            do {
                sheet = try PaymentSheet(String(decoding: data, as: UTF8.self), currency: source.options["currency"] ?? project.currency,
                                         timeZone: TimeZone(identifier: project.timeZone) ?? .gmt)
            } catch let error as CSVError {
                throw ValidationError("\(file): \(error)")
            }
            try await CLI.withPool(settings, "deals") { pool in
                let connection = try CRMConnection.make(source, project: project, pool: pool, logger: CLI.logger("deals"))
                let stored = try await sheet.store(connection.engine.store, pool: pool)
                print("loaded \(stored.payments) payments of \(stored.deals) deals into \(project.id)/\(source.id)"
                      + (stored.unknownDeals > 0 ? "; \(stored.unknownDeals) deals are not synced yet (kept, they join when they arrive)" : ""))
            }
        }
    }
}
