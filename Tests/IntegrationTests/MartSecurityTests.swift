import Foundation
import Logging
import OperatorCLI
import Postgres
import Testing

/// Row-level security of the mart (issue 6, contracts.md §2): a BI login of one project reads
/// none of another project's rows from any mart view. Extended as views are added.
@Suite struct MartSecurityTests {
    static let views = ["mart.credits", "mart.channel_report"]

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
            """)
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
