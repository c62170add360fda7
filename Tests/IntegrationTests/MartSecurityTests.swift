import Foundation
import Logging
import OperatorCLI
import Postgres
import Testing

/// Row-level security of the mart (issue 6, contracts.md §2): a BI login of one project reads
/// none of another project's rows from any mart view. Extended as views are added.
@Suite struct MartSecurityTests {
    static let views = ["mart.credits", "mart.channel_report", "mart.deals", "mart.manager_report", "mart.cohort_payments", "mart.media_plan",
                        "mart.customers", "mart.ltv_report"]

    @Test func aProjectBILoginReadsNoRowOfAnotherProjectFromAnyMartView() async throws {
        let url = try await TestStack.freshDatabase()
        let owner = try await PGConnection.connect(PGConfiguration(url: url), logger: TestStack.logger)
        let role = TestStack.unique("bi")
        try await owner.simpleQuery("""
            INSERT INTO core.projects (project_id, name, time_zone, currency) VALUES ('a', 'A', 'Europe/Moscow', 'RUB'), ('b', 'B', 'UTC', 'RUB');
            INSERT INTO report.credits VALUES
                ('a', 'r1', 1, 'v1', '2026-11-01', now(), 'paid_search', NULL, 'yandex', 'cpc', 'c', '', '', 1000000000000000, 1000000000000000,
                 1000000000000000, 1000000000000000, 1000000000000000, 1000000000000000, 1000000000000000),
                ('b', 'r2', 1, NULL, '2026-11-01', NULL, 'unknown', NULL, '(unknown)', '', '', '', '', 1000000000000000, 1000000000000000,
                 1000000000000000, 1000000000000000, 1000000000000000, 1000000000000000, 1000000000000000);
            INSERT INTO report.cells (project_id, day, channel, source, medium, campaign, ad, keyword, spend, leads, qualified_leads, deals, sales,
                                      revenue, cost_of_goods)
            SELECT p, '2026-11-01', 'paid_search', 'yandex', 'cpc', 'c', '', '', 100, z, z, z, z, z, z
            FROM unnest(ARRAY['a', 'b']) AS p, (SELECT ARRAY[1, 1, 1, 1, 1, 1, 1]::numeric[] AS z) AS ones;
            INSERT INTO report.leads (project_id, request_id, day, occurred_at, customer_id, manager, qualified, non_target, deals, sales, revenue,
                                      cost_of_goods, paid, expected, first_channel, first_source, first_campaign, last_channel)
            SELECT p, 'r-' || p, '2026-11-01', '2026-11-01 10:00+03', 'r-' || p, 'Анна', true, false, 1, 1, 100, 10, 100, 0, 'paid_search',
                   'yandex', 'c', 'paid_search'
            FROM unnest(ARRAY['a', 'b']) AS p;
            INSERT INTO report.deals (project_id, connection_id, deal_id, day, crm, pipeline, stage, status, created_at, closed_at, amount, revenue,
                                      paid, expected, cost_of_goods, manager, lead_request_id, link_rule, first_touch_channel, last_touch_channel,
                                      lead_at, customer_id)
            SELECT p, 'amo', '1', '2026-11-01', 'amocrm', 'Продажи', 'Успешно', 'won', '2026-11-01 11:00+03', '2026-11-03 11:00+03', 100, 100, 100,
                   0, 10, 'Анна', 'r-' || p, 'request_id', 'paid_search', 'paid_search', '2026-11-01 10:00+03', 'r-' || p
            FROM unnest(ARRAY['a', 'b']) AS p;
            INSERT INTO report.payment_cells (project_id, day, payment_month, channel, revenue_paid, revenue_expected)
            SELECT p, '2026-11-01', '2026-11-01', 'paid_search', ARRAY[100, 100, 100, 100, 100, 100, 100], ARRAY[0, 0, 0, 0, 0, 0, 0]
            FROM unnest(ARRAY['a', 'b']) AS p;
            INSERT INTO report.media_plans (project_id, month, channel, planned_spend, planned_leads)
            SELECT p, '2026-11-01', 'paid_search', 1000, 10 FROM unnest(ARRAY['a', 'b']) AS p;
            """)
        // The list above is every mart view, and every view and column says what it holds.
        let existing = try await owner.query("SELECT 'mart.' || table_name FROM information_schema.views WHERE table_schema = 'mart'")
        #expect(Set(try existing.map { try $0.decode(String.self, 0) }) == Set(Self.views))
        let undocumented = try await owner.query("""
            SELECT c.relname || coalesce('.' || a.attname, '') FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'mart'
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL
               OR (a.attname IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL AND n.nspname = 'mart' AND c.relkind = 'v')
            """)
        #expect(try undocumented.map { try $0.decode(String.self, 0) } == [])
        // What `analytics bi-login create` runs; bad input is refused naming it, never echoing the password.
        let password = BILogins.generatedPassword()
        for (login, project, secret, problem) in [(role, "nope", password, "project \"nope\" is not in core.projects"),
                                                  ("Bad-Name", "a", password, "login name \"Bad-Name\" must be"),
                                                  (role, "a", "short", "at least 12 characters")] {
            do {
                try await BILogins.create(login: login, project: project, password: secret, on: owner)
                Issue.record("accepted \(login) / \(project)")
            } catch {
                #expect("\(error)".contains(problem), "\(error)")
                #expect(!"\(error)".contains(password))
            }
        }
        try await BILogins.create(login: role, project: "a", password: password, on: owner)
        #expect(try await BILogins.list(on: owner).map(\.login).contains(role))
        // A second login of that name is refused, naming it, never echoing the password.
        do {
            try await BILogins.create(login: role, project: "a", password: password, on: owner)
            Issue.record("created \(role) twice")
        } catch {
            #expect("\(error)".contains("a role named \"\(role)\" exists already"), "\(error)")
            #expect(!"\(error)".contains(password))
        }
        // The owner (the aggregator's role) reads both projects.
        for view in Self.views {
            #expect(try await owner.query("SELECT count(DISTINCT project_id) FROM \(view)")[0].decode(Int.self, 0) == 2, "\(view)")
        }
        var components = URLComponents(string: url)!
        components.user = role
        components.password = password
        let login = try await PGConnection.connect(PGConfiguration(url: components.string!), logger: TestStack.logger)
        for view in Self.views {
            let rows = try await login.query("SELECT project_id, count(*) FROM \(view) GROUP BY 1")
            #expect(try rows.map { try $0.decode(String.self, 0) } == ["a"], "\(view)")
            #expect(try await login.query("SELECT count(*) FROM \(view) WHERE project_id = 'b'")[0].decode(Int.self, 0) == 0, "\(view)")
        }
        // Nor through the tables, nor by reading who else has a login.
        #expect(try await login.query("SELECT count(*) FROM report.cells WHERE project_id = 'b'")[0].decode(Int.self, 0) == 0)
        await #expect(throws: PGError.self) { try await login.query("SELECT * FROM core.bi_logins") }
        // Per model the lead's weights sum to exactly 1, and every model has its row.
        let weights = try await login.query("SELECT model, sum(weight) FROM mart.credits GROUP BY 1 ORDER BY 1")
        #expect(weights.count == 7)
        #expect(try weights.allSatisfy { try $0.decode(String.self, 1) == "1.000000000000000" })
        await login.close()
        #expect(try await BILogins.drop(login: role, on: owner))
        #expect(try await !BILogins.drop(login: role, on: owner))
        #expect(try await owner.query("SELECT count(*) FROM pg_roles WHERE rolname = $1", [role])[0].decode(Int.self, 0) == 0)
        await owner.close()
    }
}
