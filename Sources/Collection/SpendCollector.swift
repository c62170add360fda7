import Domain
import Foundation
import Logging
import Postgres
import Runtime

/// Runs one collection: for each account, each chunk of days, fetch → convert → replace the
/// chunk's (project, source, account, day range) in `spend.facts` in one transaction, record
/// the chunk done and enqueue `spend.updated` in the same transaction.
///
/// - Re-running a range replaces it: never double counts; revised figures win.
/// - A crash mid-backfill resumes: a run for the same scope that did not succeed is continued
///   and its done chunks are skipped.
/// - A failing chunk (bad data, API refusal) is recorded with its message; the other chunks and
///   accounts still run; the run ends `failed`.
public struct SpendCollector: Sendable {
    public struct Project: Sendable {
        public var id: String
        public var reportingCurrency: String
        /// Report spend with VAT (domain.md definition 14: without, unless the project asks).
        public var spendIncludesVAT: Bool
        public var vat: VATSchedule
        public init(id: String, reportingCurrency: String, spendIncludesVAT: Bool = false, vat: VATSchedule = .russia) {
            self.id = id
            self.reportingCurrency = reportingCurrency
            self.spendIncludesVAT = spendIncludesVAT
            self.vat = vat
        }
    }

    /// The outcome of a run.
    public struct Report: Sendable {
        public var runID: UUID
        public var chunksDone: Int
        public var chunksSkipped: Int
        public var rowsWritten: Int
        /// `account first..last: message` per failed chunk.
        public var failures: [String]
        public var succeeded: Bool { failures.isEmpty }
    }

    public static let exchange = ClusterTopology.exchange
    public static let spendUpdated = ClusterTopology.spendUpdated

    public let project: Project
    public let source: any SpendSource
    public let pool: PGPool
    public let logger: Logger
    /// Called after each chunk with (done so far, total) — the progress line.
    public var progress: (@Sendable (Int, Int, String) -> Void)?

    public init(project: Project, source: any SpendSource, pool: PGPool, logger: Logger) {
        self.project = project
        self.source = source
        self.pool = pool
        self.logger = logger
    }

    /// The default range: the source's re-fetch window ending today in the account's zone.
    public func defaultRange(for account: AdAccount, now: Date = Date()) -> DayRange {
        let today = LocalDay(now, in: account.timeZone)
        return DayRange(today.advanced(by: -(source.refetchWindowDays - 1)), today)!
    }

    /// Collects `accounts` over `range` (each account's default window when nil).
    public func run(accounts: [AdAccount], range: DayRange?, now: Date = Date()) async throws -> Report {
        let sourceID = accounts.first?.sourceID ?? ""
        let scopeAccount = accounts.count == 1 ? accounts[0].account : ""
        let plans = accounts.map { ($0, range ?? defaultRange(for: $0, now: now)) }
        let first = plans.map(\.1.first).min() ?? LocalDay(now, in: .gmt)
        let last = plans.map(\.1.last).max() ?? first
        let runID = try await startOrResume(sourceID: sourceID, account: scopeAccount, first: first, last: last)
        let done = try await doneChunks(runID)
        let rates = try await ExchangeRateStore.load(target: project.reportingCurrency, from: first, to: last, pool: pool)
        var report = Report(runID: runID, chunksDone: 0, chunksSkipped: 0, rowsWritten: 0, failures: [])
        let work = plans.flatMap { account, days in days.chunks(ofAtMost: source.maxChunkDays).map { (account, $0) } }
        for (index, (account, chunk)) in work.enumerated() {
            if done.contains(ChunkKey(account: account.account, first: chunk.first)) {
                report.chunksSkipped += 1
                continue
            }
            do {
                let rows = try await source.fetch(account, days: chunk)
                report.rowsWritten += try await write(rows, account: account, chunk: chunk, runID: runID, rates: rates)
                report.chunksDone += 1
            } catch {
                let message = "\(source.kind) account \(account.account) \(chunk.first)..\(chunk.last): \(error)"
                logger.error("chunk failed", metadata: ["source.id": "\(account.sourceID)", "error": "\(message)"])
                report.failures.append(message)
                try await recordFailure(runID: runID, account: account, chunk: chunk, message: message)
            }
            progress?(index + 1, work.count, "\(account.account) \(chunk)")
        }
        try await pool.query("""
            UPDATE spend.runs SET status = $3, error = $4, finished_at = now() WHERE project_id = $1 AND run_id = $2
            """, [project.id, runID, report.succeeded ? "succeeded" : "failed",
                  report.failures.isEmpty ? nil : report.failures.joined(separator: "\n")])
        return report
    }

    struct ChunkKey: Hashable { let account: String; let first: LocalDay }

    private func startOrResume(sourceID: String, account: String, first: LocalDay, last: LocalDay) async throws -> UUID {
        try await pool.withTransaction { connection in
            let existing = try await connection.query("""
                SELECT run_id FROM spend.runs
                WHERE project_id = $1 AND source_id = $2 AND account = $3 AND first_day = $4::date AND last_day = $5::date
                  AND status <> 'succeeded'
                ORDER BY started_at DESC LIMIT 1 FOR UPDATE
                """, [project.id, sourceID, account, first.description, last.description])
            if let row = existing.first {
                let runID = try row.decode(UUID.self, 0)
                // Failed chunks are tried again; done ones stay done.
                try await connection.query("DELETE FROM spend.chunks WHERE project_id = $1 AND run_id = $2 AND status = 'failed'",
                                           [project.id, runID])
                try await connection.query("UPDATE spend.runs SET status = 'running', error = NULL WHERE project_id = $1 AND run_id = $2",
                                           [project.id, runID])
                logger.info("resuming run", metadata: ["run.id": "\(runID)"])
                return runID
            }
            let runID = UUID()
            try await connection.query("""
                INSERT INTO spend.runs (project_id, run_id, source_id, account, first_day, last_day, status)
                VALUES ($1, $2, $3, $4, $5::date, $6::date, 'running')
                """, [project.id, runID, sourceID, account, first.description, last.description])
            return runID
        }
    }

    private func doneChunks(_ runID: UUID) async throws -> Set<ChunkKey> {
        let rows = try await pool.query(
            "SELECT account, first_day::text FROM spend.chunks WHERE project_id = $1 AND run_id = $2 AND status = 'done'",
            [project.id, runID])
        return Set(try rows.map { ChunkKey(account: try $0.decode(String.self, 0), first: LocalDay(iso: try $0.decode(String.self, 1))!) })
    }

    /// Converts and writes one chunk; returns the rows written.
    private func write(_ rows: [SpendRow], account: AdAccount, chunk: DayRange, runID: UUID, rates: ExchangeRates) async throws -> Int {
        // Convert first: a missing rate or VAT step fails the chunk before anything is written.
        var converted: [(SpendRow, Decimal)] = []
        converted.reserveCapacity(rows.count)
        for row in rows {
            guard chunk.first <= row.day && row.day <= chunk.last else {
                throw SourceError("the API returned a row for \(row.day), outside the requested \(chunk)")
            }
            var amount = row.cost.decimal
            let withVAT = row.vatIncluded ?? source.costsIncludeVAT
            if withVAT && !project.spendIncludesVAT {
                amount = try project.vat.excludingVAT(amount, on: row.day)
            } else if !withVAT && project.spendIncludesVAT {
                amount *= 1 + (try project.vat.rate(on: row.day))
            }
            converted.append((row, try rates.convert(amount, from: row.currency ?? account.currency, on: row.day)))
        }
        let projectID = project.id
        let includesVAT = source.costsIncludeVAT
        let ready = converted
        let spec = PGBulkWrite(
            table: "spend.facts",
            columns: ["project_id", "source_id", "account", "day", "campaign_id", "ad_group_id", "ad_id", "keyword_id",
                      "campaign_name", "ad_group_name", "ad_name", "keyword", "utm_source", "utm_medium", "utm_campaign",
                      "utm_content", "utm_term", "impressions", "clicks", "conversions", "cost_micros", "currency",
                      "vat_included", "spend", "link_template", "link_utm_source", "link_utm_medium", "link_utm_campaign",
                      "link_utm_content", "link_utm_term"],
            mode: .replace(range: PGRange(
                "project_id = $1 AND source_id = $2 AND account = $3 AND day BETWEEN $4::date AND $5::date",
                [projectID, account.sourceID, account.account, chunk.first.description, chunk.last.description])))
        let payload = SpendUpdated(source: account.sourceID, account: account.account, from: chunk.first, to: chunk.last, run: runID)
        let event = try OutboxMessage(
            exchange: Self.exchange, routingKey: Self.spendUpdated, type: Self.spendUpdated, project: projectID,
            id: "spend.updated:\(projectID):\(account.sourceID):\(account.account):\(chunk.first):\(chunk.last):\(runID)",
            payload: payload)
        return try await pool.withTransaction { connection in
            let result = try await connection.bulkWrite(spec) { writer in
                for (row, spend) in ready {
                    writer.field(projectID)
                    writer.field(account.sourceID)
                    writer.field(account.account)
                    writer.field(row.day.description)
                    writer.field(row.campaignID)
                    writer.field(row.adGroupID ?? "")
                    writer.field(row.adID ?? "")
                    writer.field(row.keywordID ?? "")
                    writer.field(row.campaignName)
                    writer.field(row.adGroupName)
                    writer.field(row.adName)
                    writer.field(row.keyword)
                    let links = row.links
                    let byLinks = account.campaignTag == .network ? links : nil
                    writer.field(row.utmSource ?? byLinks?.source ?? account.utmSource)
                    writer.field(row.utmMedium ?? links?.medium)
                    writer.field(row.utmCampaign ?? byLinks?.campaign ?? (account.campaignTag == .id ? row.campaignID : row.campaignName))
                    writer.field(byLinks?.content ?? row.utmContent ?? row.adID)
                    writer.field(byLinks?.term ?? row.keyword)
                    writer.field(row.impressions)
                    writer.field(row.clicks)
                    writer.field(row.conversions)
                    writer.field(row.cost.value)
                    writer.field(row.currency ?? account.currency)
                    writer.field((row.vatIncluded ?? includesVAT) ? "t" : "f")
                    writer.field(spend)
                    writer.field(links?.template)
                    writer.field(links?.source)
                    writer.field(links?.medium)
                    writer.field(links?.campaign)
                    writer.field(links?.content)
                    writer.field(links?.term)
                    try writer.endRow()
                }
            }
            try await connection.query("""
                INSERT INTO spend.chunks (project_id, run_id, account, first_day, last_day, status, rows)
                VALUES ($1, $2, $3, $4::date, $5::date, 'done', $6)
                ON CONFLICT (project_id, run_id, account, first_day) DO UPDATE SET status = 'done', rows = EXCLUDED.rows,
                    error = NULL, finished_at = now()
                """, [projectID, runID, account.account, chunk.first.description, chunk.last.description, result.written])
            try await Outbox.enqueue([event], on: connection)
            return result.written
        }
    }

    private func recordFailure(runID: UUID, account: AdAccount, chunk: DayRange, message: String) async throws {
        try await pool.query("""
            INSERT INTO spend.chunks (project_id, run_id, account, first_day, last_day, status, error)
            VALUES ($1, $2, $3, $4::date, $5::date, 'failed', $6)
            ON CONFLICT (project_id, run_id, account, first_day) DO UPDATE SET status = 'failed', error = EXCLUDED.error,
                finished_at = now()
            """, [project.id, runID, account.account, chunk.first.description, chunk.last.description, String(message.prefix(4000))])
    }
}

/// The `spend.updated` payload the aggregator consumes.
public struct SpendUpdated: Codable, Sendable, Equatable {
    public var source: String
    public var account: String
    public var from: LocalDay
    public var to: LocalDay
    public var run: UUID
}
