import Aggregation
import Foundation
import Postgres
import Runtime
import Settings
import Testing

/// Lead and deal facts (issue 6, definitions 6, 9, 10, 14, 17): money converted into the
/// reporting currency on the payment's day with VAT removed where the connection says so,
/// refunds, expected amounts, qualification by stage history, non-target losses, managers.
@Suite struct ReportFactsTests {
    static let project = Project(
        id: "school", name: "School", timeZone: "Europe/Moscow",
        sources: [Source(id: "amo", kind: "amocrm", options: ["qualifying_stage.p1": "s3", "non_target_loss_reasons": "Дубль, Нецелевой"])])

    /// The manager report credits each deal to its own manager and each lead to the manager of
    /// its earliest deal that is not excluded; `lead_to_sale` is the share of the manager's leads
    /// that bought, without sales of deals of no lead. And CAC is 0, not NULL, for paying
    /// customers of a channel that spent nothing.
    @Test func managersGetTheirOwnDealsAndLeadToSaleCountsOnlyTheirLeads() async throws {
        let bench = try await LinkBench.make()
        defer { Task { await bench.pool.close() } }
        try await bench.send(leads: [LinkBench.lead("r1", at: 0, phone: "+79990000001"), LinkBench.lead("r2", at: 600, phone: "+79990000002")])
        try await bench.send(deals: [
            LinkBench.Deal(id: "spam", createdAt: 60, status: "excluded", requestID: "r1"),  // cleaned out by Вера
            LinkBench.Deal(id: "first", createdAt: 120, status: "lost", requestID: "r1"),    // Анна worked the lead
            LinkBench.Deal(id: "repeat", createdAt: 3600, status: "won", requestID: "r1"),   // Борис closed a repeat purchase
            LinkBench.Deal(id: "r2-won", createdAt: 700, status: "won", requestID: "r2"),    // Анна
            LinkBench.Deal(id: "orphan", createdAt: 800, status: "won"),                     // Анна, a deal of no lead
        ])
        try await bench.pool.withConnection { connection in
            try await connection.simpleQuery("""
                INSERT INTO crm.users (project_id, connection_id, user_id, name) VALUES
                  ('school', 'amo', 'u1', 'Анна'), ('school', 'amo', 'u2', 'Борис'), ('school', 'amo', 'u3', 'Вера');
                UPDATE crm.deals SET manager_id = CASE deal_id WHEN 'spam' THEN 'u3' WHEN 'repeat' THEN 'u2' ELSE 'u1' END;
                UPDATE crm.deals SET closed_at = created_at + interval '1 hour' WHERE status = 'won';
                """)
        }
        try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }
        #expect(try await bench.pool.query("SELECT manager FROM report.leads WHERE request_id = 'r1'")[0].decode(String.self, 0) == "Анна")
        let rows = try await bench.pool.query("""
            SELECT manager, sum(leads)::text, sum(deals)::text, sum(sales)::text, sum(lead_sales)::text,
                   coalesce((sum(lead_sales)::numeric / NULLIF(sum(leads), 0))::text, '-'), coalesce(max(lead_to_sale)::text, '-'), sum(revenue)::text
            FROM mart.manager_report GROUP BY manager ORDER BY manager
            """)
        let table = try rows.map { row in try (0...6).map { try row.decode(String.self, $0) } }
        #expect(table == [
            ["Анна", "2", "3", "2", "2", "1.00000000000000000000", "1.00000000000000000000"],  // r1 and r2; first, r2-won, orphan
            ["Борис", "0", "1", "1", "0", "-", "-"],
            ["Вера", "0", "0", "0", "0", "-", "-"],
        ])
        // Revenue follows the deals: each manager's is the sum of their won deals'.
        let revenue = try await bench.pool.query("""
            SELECT m.manager, m.revenue = coalesce(d.revenue, 0)
            FROM (SELECT manager, sum(revenue) AS revenue FROM mart.manager_report GROUP BY 1) m
            LEFT JOIN (SELECT manager, sum(revenue) AS revenue FROM report.deals WHERE status = 'won' GROUP BY 1) d ON d.manager = m.manager
            """)
        #expect(try revenue.allSatisfy { try $0.decode(Bool.self, 1) })
        #expect(try await bench.pool.query("SELECT sum(revenue) > 0 FROM mart.manager_report WHERE manager = 'Борис'")[0].decode(Bool.self, 0))
        // No spend anywhere: every row with paying customers has CAC 0.
        let cac = try await bench.pool.query("""
            SELECT count(*), count(*) FILTER (WHERE cac = 0) FROM mart.ltv_report WHERE paying_customers > 0
            """)[0]
        #expect(try cac.decode(Int.self, 0) > 0 && cac.decode(Int.self, 0) == cac.decode(Int.self, 1))
    }

    @Test func moneyStagesLossReasonsAndManagersMakeTheLeadAndDealFacts() async throws {
        let bench = try await LinkBench.make()
        defer { Task { await bench.pool.close() } }
        // r1 on a Direct visit; r2 its duplicate (same phone an hour later); r3 and r4 without visits.
        try await bench.send(visits: [TrackedVisit(visitID: "v1", clientID: "c1", occurredAt: LinkBench.at(0), landingURL: "https://school.example/",
                                                   referrerKind: "none", utmSource: "yandex", utmMedium: "cpc", utmCampaign: "Весна", traffic: "paid",
                                                   receivedAt: LinkBench.at(0))],
                             leads: [LinkBench.lead("r1", at: 60, visit: "v1", client: "c1", phone: "+79990000001"),
                                     LinkBench.lead("r2", at: 3600, phone: "+79990000001"),
                                     LinkBench.lead("r3", at: 2 * 86_400, phone: "+79990000003"),
                                     LinkBench.lead("r4", at: 3 * 86_400, phone: "+79990000004")])
        try await bench.send(deals: [LinkBench.Deal(id: "d1", createdAt: 120, status: "won", requestID: "r1"),
                                     LinkBench.Deal(id: "d2", createdAt: 2 * 86_400 + 60, status: "lost", requestID: "r3"),
                                     LinkBench.Deal(id: "d3", createdAt: 3 * 86_400 + 60, status: "open", requestID: "r4")])
        try await bench.pool.withConnection { connection in
            try await connection.simpleQuery("""
                INSERT INTO crm.stages (project_id, connection_id, pipeline_id, stage_id, name, sort, crm_kind) VALUES
                  ('school', 'amo', 'p1', 's1', 'Новая', 10, 'regular'), ('school', 'amo', 'p1', 's2', 'Звонок', 20, 'regular'),
                  ('school', 'amo', 'p1', 's3', 'Счёт', 30, 'regular'), ('school', 'amo', 'p1', '142', 'Успешно', 10000, 'won'),
                  ('school', 'amo', 'p1', '143', 'Отказ', 11000, 'lost');
                INSERT INTO crm.users (project_id, connection_id, user_id, name) VALUES ('school', 'amo', 'u1', 'Анна');
                INSERT INTO core.exchange_rates (currency, target, day, rate) VALUES ('USD', 'RUB', '2026-03-03', 90), ('USD', 'RUB', '2026-03-05', 100),
                  ('USD', 'RUB', '2026-04-05', 100);
                -- d1: 120 USD with VAT, paid 60 + 60, 12 refunded; cost of goods 24 USD.
                UPDATE crm.deals SET currency = 'USD', amounts_include_vat = true, amount = 120, cost_of_goods = 24, stage_id = '142',
                                     closed_at = '2026-03-05 10:00+03', manager_id = 'u1'
                WHERE deal_id = 'd1';
                INSERT INTO crm.payments (project_id, connection_id, payment_id, deal_id, kind, amount, currency, paid_at, origin) VALUES
                  ('school', 'amo', 'e1', 'd1', 'received', 60, 'USD', '2026-03-03 12:00+03', 'field_event'),
                  ('school', 'amo', 'e2', 'd1', 'received', 60, 'USD', '2026-03-05 12:00+03', 'field_event'),
                  ('school', 'amo', 'e3', 'd1', 'received', -12, 'USD', '2026-03-05 18:00+03', 'field_event'),
                  -- An instalment still due, from a payment sheet: the expected amount, not amount − paid.
                  ('school', 'amo', 'x1', 'd1', 'expected', 12, 'USD', '2026-04-05 12:00+03', 'csv');
                -- d2 lost as non-target, lost from s3 (the qualifying stage); d3 open at s2, having been at s3.
                UPDATE crm.deals SET stage_id = '143', loss_reason = 'нецелевой ', closed_at = '2026-03-05 10:00+03' WHERE deal_id = 'd2';
                UPDATE crm.deals SET stage_id = 's2' WHERE deal_id = 'd3';
                INSERT INTO crm.stage_changes (project_id, connection_id, change_id, deal_id, changed_at, pipeline_id, stage_id) VALUES
                  ('school', 'amo', 'h1', 'd3', '2026-03-05 11:00+03', 'p1', 's3'), ('school', 'amo', 'h2', 'd2', '2026-03-04 11:00+03', 'p1', 's2');
                INSERT INTO crm.stage_changes (project_id, connection_id, change_id, deal_id, changed_at, pipeline_id, stage_id, from_pipeline_id, from_stage_id)
                VALUES ('school', 'amo', 'h3', 'd2', '2026-03-05 09:00+03', 'p1', '143', 'p1', 's3');
                """)
        }
        try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) }

        // Each payment converted on its day and VAT (22 % in 2026) removed, to 10 decimals.
        let deal = try await bench.pool.query("""
            SELECT amount::text, revenue::text, paid::text, expected::text, cost_of_goods::text, manager, stage, link_rule FROM report.deals WHERE deal_id = 'd1'
            """)[0]
        #expect(try (0...7).map { try deal.decode(String.self, $0) } == [
            "9836.0655737705", "8360.6557377049", "8360.6557377049", "983.606557377", "1967.2131147541", "Анна", "Успешно", "request_id"])
        let leads = try await bench.pool.query("""
            SELECT request_id, coalesce(duplicate_of, '-'), coalesce(manager, '-'), qualified, non_target, deals, sales, revenue::text
            FROM report.leads ORDER BY request_id
            """)
        #expect(try leads.map { row in try (0...7).map { column in
            column == 3 || column == 4 ? String(try row.decode(Bool.self, column)) : try row.decode(String.self, column)
        } } == [
            ["r1", "-", "Анна", "true", "false", "1", "1", "8360.6557377049"],
            ["r2", "r1", "-", "false", "false", "0", "0", "0"],
            ["r3", "-", "-", "true", "true", "1", "0", "0"],
            ["r4", "-", "-", "true", "false", "1", "0", "0"],
        ])
        let managers = try await bench.pool.query("""
            SELECT manager, leads, duplicate_leads, non_target_leads, sales, lead_to_sale::text FROM mart.manager_report ORDER BY manager, day
            """)
        let managerTable = try managers.map { row in try (0...5).map { try row.decode(String.self, $0) } }
        #expect(managerTable == [
            ["(none)", "1", "0", "1", "0", "0.00000000000000000000"], ["(none)", "1", "0", "0", "0", "0.00000000000000000000"], ["Анна", "1", "1", "0", "1", "1.00000000000000000000"]])
        let totals = try await bench.pool.query("""
            SELECT DISTINCT sum(revenue)::text, sum(qualified_leads)::text, sum(leads)::text, sum(cost_of_goods)::text FROM mart.channel_report GROUP BY model
            """)
        #expect(totals.count == 1)
        #expect(try (0...3).map { try totals[0].decode(String.self, $0) }.map { "\(Decimal(string: $0)!)" } == ["8360.6557377049", "3", "3", "1967.2131147541"])
        // Cohorts: the received money by payment month, the instalment due in its month.
        let cohorts = try await bench.pool.query("""
            SELECT coalesce(payment_month::text, '-'), revenue_paid::text, revenue_expected::text FROM mart.cohort_payments
            WHERE model = 'first_click' ORDER BY 1
            """)
        let cohortTable = try cohorts.map { row in
            [try row.decode(String.self, 0)] + (try (1...2).map { "\(Decimal(string: try row.decode(String.self, $0))!)" })
        }
        #expect(cohortTable == [["2026-03-01", "8360.6557377049", "0"], ["2026-04-01", "0", "983.606557377"]])

        // A rate that is missing fails the rebuild naming the deal and the day, and writes nothing.
        try await bench.pool.query("UPDATE crm.deals SET currency = 'EUR' WHERE deal_id = 'd3'")
        await #expect { try await bench.pool.withTransaction { try await ReportBuilder(project: Self.project).rebuild(days: nil, on: $0) } }
            throws: { "\($0)".contains("deal amo/d3") && "\($0)".contains("no EUR→RUB exchange rate") }
        #expect(try await bench.pool.query("SELECT count(*) FROM report.deals")[0].decode(Int.self, 0) == 3)
    }
}
