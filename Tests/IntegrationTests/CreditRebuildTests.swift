import Aggregation
import Attribution
import Domain
import Foundation
import Postgres
import Settings
import Testing

/// `report.credits` from stored journeys: every touch's weights, keys and channel (issue 6).
@Suite struct CreditRebuildTests {
    static let project = Project(id: "school", name: "School", timeZone: "Europe/Moscow",
                                 channels: Channels(rules: [ChannelRule(source: ["yandex"], contractor: "Агентство Альфа")]))

    @Test func creditsCarryEachModelsWeightsKeysAndChannelsAndALeadWithoutVisitsIsUnknown() async throws {
        let url = try await TestStack.freshDatabase()
        let connection = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        // Lead r1 (2026-11-02 01:30 in Moscow, still the 1st in UTC) with three touches: paid
        // Direct 14 days before, organic search 7 days before, direct at the lead; r2 without any
        // visit (2026-11-03 01:00 in Moscow).
        try await connection.simpleQuery("""
            INSERT INTO journey.visits (project_id, visit_id, client_id, occurred_at, landing_url, referrer_host, referrer_kind, utm_source, utm_medium,
                                        utm_campaign, utm_content, utm_term, traffic, received_at) VALUES
              ('school', 'v1', 'c', '2026-10-18 22:30:00+00', 'https://school.ru/?utm_source=yandex', 'yandex.ru', 'search', 'yandex', 'cpc',
               'Вебинар', '111', 'курсы', 'paid', now()),
              ('school', 'v2', 'c', '2026-10-25 22:30:00+00', 'https://school.ru/', 'google.com', 'search', NULL, NULL, NULL, NULL, NULL,
               'organic', now()),
              ('school', 'v3', 'c', '2026-11-01 22:30:00+00', 'https://school.ru/', NULL, 'none', NULL, NULL, NULL, NULL, NULL, 'direct', now());
            INSERT INTO journey.leads (project_id, request_id, client_id, occurred_at, kind, received_at, client_key) VALUES
              ('school', 'r1', 'c', '2026-11-01 22:30:00+00', 'form', now(), 'c'),
              ('school', 'r2', NULL, '2026-11-02 22:00:00+00', 'call', now(), NULL);
            INSERT INTO journey.touches (project_id, request_id, position, visit_id, started_at, rule) VALUES
              ('school', 'r1', 1, 'v1', '2026-10-18 22:30:00+00', 'client_lookback'),
              ('school', 'r1', 2, 'v2', '2026-10-25 22:30:00+00', 'client_lookback'),
              ('school', 'r1', 3, 'v3', '2026-11-01 22:30:00+00', 'client_lookback');
            """)
        try await connection.simpleQuery("BEGIN")
        try await ReportBuilder(project: Self.project).rebuild(days: nil, on: connection)
        try await connection.simpleQuery("COMMIT")

        let rows = try await connection.query("""
            SELECT request_id, position, coalesce(visit_id, '-'), day::text, channel, coalesce(contractor, '-'), source, medium, campaign, ad, keyword,
                   w_first_click, w_last_click, w_last_non_direct, w_last_paid, w_linear, w_position_based, w_time_decay
            FROM report.credits ORDER BY request_id, position
            """)
        func text(_ index: Int) throws -> [String] { try rows.map { try $0.decode(String.self, index) } }
        func weights(_ index: Int) throws -> [Int64] { try rows.map { try $0.decode(Int64.self, index) } }
        #expect(try text(0) == ["r1", "r1", "r1", "r2"])
        #expect(try text(2) == ["v1", "v2", "v3", "-"])
        // The lead's day in Moscow, for every touch.
        #expect(try text(3) == ["2026-11-02", "2026-11-02", "2026-11-02", "2026-11-03"])
        #expect(try text(4) == ["paid_search", "organic_search", "direct", "unknown"])
        #expect(try text(5) == ["Агентство Альфа", "-", "-", "-"])
        #expect(try text(6) == ["yandex", "google.com", "(direct)", "(unknown)"])
        #expect(try text(8) == ["Вебинар", "", "", ""])
        #expect(try text(9) == ["111", "", "", ""])
        #expect(try text(10) == ["курсы", "", "", ""])
        let u = Credit.unit
        #expect(try weights(11) == [u, 0, 0, u])
        #expect(try weights(12) == [0, 0, u, u])
        #expect(try weights(13) == [0, u, 0, u])
        #expect(try weights(14) == [u, 0, 0, u])
        #expect(try weights(15) == [333_333_333_333_333, 333_333_333_333_333, 333_333_333_333_334, u])
        #expect(try weights(16) == [400_000_000_000_000, 200_000_000_000_000, 400_000_000_000_000, u])
        #expect(try weights(17) == [142_857_142_857_143, 285_714_285_714_286, 571_428_571_428_571, u])
        // Through the mart: each model by name picks its own weight of the last (direct) touch.
        let last = try await connection.query("SELECT model, weight::text FROM mart.credits WHERE lead_request_id = 'r1' AND position = 3")
        let byModel = Dictionary(uniqueKeysWithValues: try last.map { (try $0.decode(String.self, 0), try $0.decode(String.self, 1)) })
        #expect(byModel == ["first_click": "0.000000000000000", "last_click": "1.000000000000000", "last_non_direct": "0.000000000000000",
                            "last_paid": "0.000000000000000", "linear": "0.333333333333334", "position_based": "0.400000000000000",
                            "time_decay": "0.571428571428571"])
        // Every lead's weights sum to exactly 1 in every model.
        let sums = try await connection.query("SELECT DISTINCT sum(weight)::text FROM mart.credits GROUP BY lead_request_id, model")
        #expect(try sums.map { try $0.decode(String.self, 0) } == ["1.000000000000000"])

        // Recomputing the lead's day replaces only that day's rows.
        try await connection.simpleQuery("BEGIN")
        try await connection.simpleQuery("DELETE FROM journey.touches WHERE request_id = 'r1' AND position = 3")
        let again = try await ReportBuilder(project: Self.project).rebuild(days: [LocalDay(iso: "2026-11-02")!], on: connection)
        try await connection.simpleQuery("COMMIT")
        #expect(again.credits == 2)
        #expect(try await connection.query("SELECT count(*) FROM report.credits")[0].decode(Int.self, 0) == 3)
        #expect(try await connection.query("SELECT w_last_click FROM report.credits WHERE request_id = 'r1' AND position = 2")[0]
            .decode(Int64.self, 0) == u)
        await connection.close()
    }
}
