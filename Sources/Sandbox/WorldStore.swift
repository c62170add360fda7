import Domain
import Postgres

extension World {
    /// Stores every deal and its contact as deal-sync would (phones and e-mails normalised),
    /// on a connection inside a transaction: the CRM side of the world for tests and benchmarks
    /// that feed the identity resolver without running deal-sync.
    public func storeCRM(on connection: PGConnection) async throws {
        var contacts: [String: (connection: String, contact: Contact)] = [:]
        for deal in deals { contacts["\(deal.connection)/\(deal.contact.id)"] = (deal.connection, deal.contact) }
        let list = contacts.keys.sorted().map { contacts[$0]! }
        // Several phones or e-mails travel as one \u{1}-separated text (arrays of arrays cannot).
        func joined(_ values: [String]) -> String { values.joined(separator: "\u{1}") }
        try await connection.query("""
            INSERT INTO crm.contacts (project_id, connection_id, contact_id, name, phones, emails)
            SELECT $1, c, i, n, string_to_array(p, E'\\x01'), string_to_array(e, E'\\x01')
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(c, i, n, p, e)
            """, [spec.project, list.map(\.connection), list.map(\.contact.id), list.map(\.contact.name),
                  list.map { joined($0.contact.phones.compactMap(ContactNormalization.phone)) },
                  list.map { joined($0.contact.emails.compactMap(ContactNormalization.email)) }])
        try await connection.query("""
            INSERT INTO crm.deals (project_id, connection_id, deal_id, crm, pipeline_id, stage_id, status, created_at, updated_at, closed_at, amount,
                                   currency, products, contact_ids, visit_id, request_id)
            SELECT $1, c, d, k, p, 's', s, to_timestamp(0) + t * interval '1 microsecond',
                   to_timestamp(0) + coalesce(cl, t) * interval '1 microsecond',
                   to_timestamp(0) + cl * interval '1 microsecond',
                   a::numeric / 100, 'RUB', ARRAY[pr], ARRAY[ct], v, r
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[], $10::text[], $11::text[],
                        $12::int8[], $13::text[])
                 AS u(c, d, k, p, s, t, a, ct, v, r, cl, pr)
            """, [spec.project, deals.map(\.connection), deals.map(\.id), deals.map(\.crm.rawValue), deals.map(\.pipeline), deals.map(\.status),
                  deals.map(\.createdAt), deals.map(\.amount), deals.map(\.contact.id), PGNullableArray(deals.map(\.visitID)),
                  PGNullableArray(deals.map(\.requestID)), PGNullableArray(deals.map(\.closedAt)), deals.map(\.product)])
        // Payments as CRM payment items: received ones on their day, expected instalments without
        // a receipt.
        var payments: [(connection: String, deal: String, id: String, kind: String, amount: Int64, at: Int64)] = []
        for deal in deals {
            for (index, payment) in deal.payments.enumerated() {
                payments.append((deal.connection, deal.id, "\(deal.id)-\(index + 1)", payment.paid ? "received" : "expected", payment.amount, payment.at))
            }
        }
        try await connection.query("""
            INSERT INTO crm.payments (project_id, connection_id, payment_id, deal_id, kind, amount, currency, paid_at, origin)
            SELECT $1, c, i, d, k, a::numeric / 100, 'RUB', to_timestamp(0) + t * interval '1 microsecond', 'crm_payment'
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[]) AS u(c, d, i, k, a, t)
            """, [spec.project, payments.map(\.connection), payments.map(\.deal), payments.map(\.id), payments.map(\.kind), payments.map(\.amount),
                  payments.map(\.at)])
    }

    /// Stores the world's spend in `spend.facts` as a collector would after conversion (each
    /// row's cost taken as roubles, VAT-free: conversion is the collectors' concern), under the
    /// keys its visits carry (definition 2) and the medium its links tag.
    public func storeSpend(on connection: PGConnection) async throws {
        let rows = spend
        try await connection.query("""
            INSERT INTO spend.facts (project_id, source_id, account, day, campaign_id, ad_group_id, ad_id, keyword_id, campaign_name, utm_source,
                                     utm_medium, utm_campaign, utm_content, utm_term, impressions, clicks, cost_micros, currency, vat_included, spend)
            SELECT $1, s, 'acc', d::date, ci, g, a, k, cn, s, md, cn, ct, NULLIF(t, ''), i, c, m, 'RUB', false, m::numeric / 1000000
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                        $11::int8[], $12::int8[], $13::int8[], $14::text[]) AS u(s, d, ci, g, a, k, cn, ct, t, i, c, m, md)
            """, [spec.project, rows.map(\.ad.source), rows.map(\.day.description), rows.map(\.ad.campaignID), rows.map { $0.ad.groupID ?? "" },
                  rows.map(\.ad.adID), rows.map { $0.keywordID.map(String.init) ?? "" }, rows.map(\.ad.campaignName), rows.map(\.ad.content),
                  rows.map { $0.keyword ?? "" }, rows.map(\.impressions), rows.map(\.clicks), rows.map(\.cost.value),
                  rows.map { row in Self.paidChannels.first { $0.source == row.ad.source }!.medium }])
    }
}
