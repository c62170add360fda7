/// The same report computed in plain SQL, the way a competent analyst would on the same
/// PostgreSQL: intermediate UNLOGGED tables with indexes and statistics, window functions for the
/// seven models, the channel rules evaluated once per distinct key set, CRM money aggregated per
/// deal before it meets the touches. It writes `plain.credits` (a row per touch with the seven
/// weights) and `plain.cells` (a row per model and cell), as the aggregator writes
/// `report.credits` and `report.cells`. `bench.project` and `bench.tz` are session settings.
///
/// What it leaves out only makes it faster: currency conversion and VAT removal (the benchmark's
/// CRM amounts are roubles without VAT), payment cells, deal and lead rows for the mart, exact
/// integer weights (numeric division instead), and the medium column of a cell.
enum PlainSQL {
    static let script = #"""
    SET work_mem = '128MB';
    SET jit = off;
    DROP SCHEMA IF EXISTS plain CASCADE;
    CREATE SCHEMA plain;

    CREATE FUNCTION plain.is_social(source text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
        SELECT source = ANY ('{vk,vkontakte,vk_ads,vkads,mytarget,my.target,target.my.com,facebook,fb,instagram,ig,meta,ok,odnoklassniki,telegram,tg,tiktok,youtube,dzen,twitter,x,linkedin,pinterest,rutube}')
            OR source ~ '(^|\.)(vk\.com|vk\.ru|ok\.ru|facebook\.com|fb\.com|instagram\.com|t\.me|telegram\.org|twitter\.com|x\.com|youtube\.com|linkedin\.com|dzen\.ru|zen\.yandex\.ru|pinterest\.com|tiktok\.com|whatsapp\.com|rutube\.ru|vc\.ru)$'
    $$;

    CREATE FUNCTION plain.channel(source text, medium text, traffic text, click text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE
            WHEN traffic = 'unknown' THEN 'unknown'
            WHEN medium = ANY ('{email,e-mail,e_mail,mail,newsletter,рассылка}') THEN 'email'
            WHEN medium = ANY ('{offline,print,qr,tv,radio,outdoor,sms}') THEN 'offline'
            WHEN traffic = 'paid' THEN CASE
                WHEN medium = ANY ('{display,banner,cpm,cpv,media,video}') THEN 'display'
                WHEN medium = ANY ('{paid_social,paidsocial,social_paid,paid-social}') OR plain.is_social(source) THEN 'paid_social'
                WHEN medium = '' AND click IN ('fbclid', 'rb_clickid') THEN 'paid_social'
                ELSE 'paid_search' END
            WHEN traffic = 'organic' THEN 'organic_search'
            WHEN traffic IN ('social', 'referral', 'direct') THEN traffic
            WHEN medium = ANY ('{organic,seo}') THEN 'organic_search'
            WHEN medium = ANY ('{social,smm,post,stories,social_network}') OR plain.is_social(source) THEN 'social'
            ELSE 'referral' END
    $$;

    -- Report keys of every visit shape (definition 1), grouped first: the channel rules run once
    -- per distinct shape.
    CREATE UNLOGGED TABLE plain.shapes AS
    SELECT DISTINCT v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term, v.referrer_host, v.referrer_kind, v.traffic, v.click_id_kind
    FROM journey.visits v WHERE v.project_id = current_setting('bench.project');
    ALTER TABLE plain.shapes ADD COLUMN id serial, ADD COLUMN source text, ADD COLUMN medium text, ADD COLUMN campaign text, ADD COLUMN ad text,
        ADD COLUMN keyword text, ADD COLUMN channel text, ADD COLUMN contractor text;
    UPDATE plain.shapes SET
        source = CASE WHEN coalesce(utm_source, utm_medium, utm_campaign, utm_content, utm_term) IS NULL THEN
                          CASE WHEN referrer_kind IN ('search', 'social', 'referral') AND coalesce(referrer_host, '') <> '' THEN referrer_host
                               WHEN traffic = 'direct' THEN '(direct)' ELSE '(not set)' END
                      ELSE coalesce(utm_source, CASE WHEN referrer_kind IN ('search', 'social', 'referral') THEN nullif(referrer_host, '') END, '(not set)') END,
        medium = coalesce(utm_medium, ''), campaign = coalesce(utm_campaign, ''), ad = coalesce(utm_content, ''), keyword = coalesce(utm_term, '');
    UPDATE plain.shapes SET channel = plain.channel(lower(source), lower(medium), traffic, click_id_kind),
                            contractor = CASE WHEN lower(source) = 'yandex' THEN 'Агентство Альфа' END;
    CREATE UNIQUE INDEX ON plain.shapes (utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer_host, referrer_kind, traffic, click_id_kind)
        NULLS NOT DISTINCT;
    ANALYZE plain.shapes;

    -- Every touch with its keys and channel; a lead without touches gets its (unknown) touch.
    CREATE UNLOGGED TABLE plain.paths AS
    SELECT l.request_id, (l.occurred_at AT TIME ZONE current_setting('bench.tz'))::date AS day, l.occurred_at, l.duplicate_of,
           coalesce(t.position, 1) AS position, t.visit_id, t.started_at, coalesce(s.traffic, 'unknown') AS traffic,
           coalesce(s.source, '(unknown)') AS source, coalesce(s.campaign, '') AS campaign, coalesce(s.ad, '') AS ad,
           coalesce(s.keyword, '') AS keyword, coalesce(s.channel, 'unknown') AS channel, s.contractor
    FROM journey.leads l
    LEFT JOIN journey.touches t ON t.project_id = l.project_id AND t.request_id = l.request_id
    LEFT JOIN journey.visits v ON v.project_id = t.project_id AND v.visit_id = t.visit_id
    LEFT JOIN plain.shapes s ON (s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, s.referrer_host, s.referrer_kind, s.traffic,
                                 s.click_id_kind) IS NOT DISTINCT FROM
                                (v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term, v.referrer_host, v.referrer_kind, v.traffic,
                                 v.click_id_kind)
    WHERE l.project_id = current_setting('bench.project');
    CREATE INDEX ON plain.paths (request_id, position);
    ANALYZE plain.paths;

    -- The seven models with window functions.
    CREATE UNLOGGED TABLE plain.credits AS
    WITH w AS (
        SELECT p.*, count(*) OVER lead AS n,
               max(position) FILTER (WHERE traffic <> 'direct') OVER lead AS last_non_direct,
               max(position) FILTER (WHERE traffic = 'paid') OVER lead AS last_paid,
               CASE WHEN started_at IS NULL THEN 1
                    ELSE power(2::float8, -greatest(extract(epoch FROM occurred_at - started_at), 0) / 86400 / 7.0) END AS decay
        FROM plain.paths p
        WINDOW lead AS (PARTITION BY request_id)
    )
    SELECT request_id, day, duplicate_of, position, visit_id, channel, contractor, source, campaign, ad, keyword,
           (position = 1)::int::numeric AS w_first_click,
           (position = n)::int::numeric AS w_last_click,
           (position = coalesce(last_non_direct, n))::int::numeric AS w_last_non_direct,
           (position = coalesce(last_paid, last_non_direct, n))::int::numeric AS w_last_paid,
           1.0 / n AS w_linear,
           CASE WHEN n = 1 THEN 1.0 WHEN n = 2 THEN 0.5 WHEN position = 1 OR position = n THEN 0.4 ELSE 0.2 / (n - 2) END AS w_position_based,
           (decay / sum(decay) OVER (PARTITION BY request_id))::numeric AS w_time_decay
    FROM w;
    CREATE INDEX ON plain.credits (request_id);
    ANALYZE plain.credits;

    -- Money per deal, then per lead (definitions 10, 11, 17).
    CREATE UNLOGGED TABLE plain.deals AS
    SELECT d.connection_id, d.deal_id, l.request_id, d.status, d.created_at, coalesce(d.cost_of_goods, 0) AS cost_of_goods,
           coalesce(p.received, 0) AS received
    FROM journey.deal_links l
    JOIN crm.deals d ON d.project_id = l.project_id AND d.connection_id = l.connection_id AND d.deal_id = l.deal_id
    LEFT JOIN (SELECT connection_id, deal_id, sum(amount) FILTER (WHERE kind = 'received') AS received
               FROM crm.deal_payments WHERE project_id = current_setting('bench.project') GROUP BY 1, 2) p
           ON p.connection_id = d.connection_id AND p.deal_id = d.deal_id
    WHERE l.project_id = current_setting('bench.project') AND NOT d.is_deleted;
    CREATE UNLOGGED TABLE plain.lead_facts AS
    SELECT request_id, count(*) FILTER (WHERE status <> 'excluded') AS deals, count(*) FILTER (WHERE status = 'won') AS sales,
           coalesce(sum(received) FILTER (WHERE status = 'won'), 0) AS revenue,
           coalesce(sum(cost_of_goods) FILTER (WHERE status = 'won'), 0) AS cost_of_goods
    FROM plain.deals WHERE request_id IS NOT NULL GROUP BY request_id;
    CREATE UNIQUE INDEX ON plain.lead_facts (request_id);
    ANALYZE plain.lead_facts;

    -- Cells: credited CRM figures on the lead's day, orphan revenue, spend and visits on their day.
    CREATE UNLOGGED TABLE plain.cells AS
    WITH credited AS (
        SELECT c.day, c.channel, c.contractor, c.source, c.campaign, c.ad, c.keyword, m.model,
               (ARRAY[c.w_first_click, c.w_last_click, c.w_last_non_direct, c.w_last_paid, c.w_linear, c.w_position_based, c.w_time_decay])[m.i] AS w,
               (c.duplicate_of IS NULL)::int AS lead, (c.duplicate_of IS NULL AND coalesce(f.sales, 0) > 0)::int AS qualified,
               coalesce(f.deals, 0) AS deals, coalesce(f.sales, 0) AS sales, coalesce(f.revenue, 0) AS revenue, coalesce(f.cost_of_goods, 0) AS cogs
        FROM plain.credits c
        LEFT JOIN plain.lead_facts f ON f.request_id = c.request_id
        CROSS JOIN unnest(ARRAY['first_click', 'last_click', 'last_non_direct', 'last_paid', 'linear', 'position_based', 'time_decay'])
             WITH ORDINALITY AS m(model, i)
    ), crm AS (
        SELECT day, channel, contractor, source, campaign, ad, keyword, model, sum(w * lead) AS leads, sum(w * qualified) AS qualified_leads,
               sum(w * deals) AS deals, sum(w * sales) AS sales, sum(w * revenue) AS revenue, sum(w * cogs) AS cost_of_goods
        FROM credited GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ), orphans AS (
        SELECT (d.created_at AT TIME ZONE current_setting('bench.tz'))::date AS day, 'unknown'::text AS channel, NULL::text AS contractor,
               '(unknown)'::text AS source, ''::text AS campaign, ''::text AS ad, ''::text AS keyword, m.model,
               0::numeric AS leads, 0::numeric AS qualified_leads, count(*)::numeric AS deals, count(*)::numeric AS sales,
               sum(d.received) AS revenue, sum(d.cost_of_goods) AS cost_of_goods
        FROM plain.deals d
        CROSS JOIN unnest(ARRAY['first_click', 'last_click', 'last_non_direct', 'last_paid', 'linear', 'position_based', 'time_decay']) AS m(model)
        WHERE d.request_id IS NULL AND d.status = 'won' GROUP BY 1, 8
    ), spend AS (
        SELECT day, plain.channel(lower(utm_source), lower(coalesce(utm_medium, '')),
                                  CASE WHEN coalesce(lower(utm_medium), '') IN ('', 'cpc', 'ppc', 'cpm', 'cpv', 'cpa', 'paid', 'paid_social', 'paidsocial', 'display',
                                                                                'banner', 'retargeting') THEN 'paid' ELSE 'tagged' END, NULL) AS channel,
               CASE WHEN lower(utm_source) = 'yandex' THEN 'Агентство Альфа' END AS contractor, utm_source AS source,
               coalesce(utm_campaign, '') AS campaign, coalesce(utm_content, '') AS ad, coalesce(utm_term, '') AS keyword,
               sum(impressions) AS impressions, sum(clicks) AS clicks, sum(spend) AS spend
        FROM spend.facts WHERE project_id = current_setting('bench.project') GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), visits AS (
        SELECT g.day, s.channel, s.contractor, s.source, s.campaign, s.ad, s.keyword, sum(g.visits) AS visits
        FROM (SELECT (occurred_at AT TIME ZONE current_setting('bench.tz'))::date AS day, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
                     referrer_host, referrer_kind, traffic, click_id_kind, count(*) AS visits
              FROM journey.visits WHERE project_id = current_setting('bench.project') GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) g
        JOIN plain.shapes s ON (s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, s.referrer_host, s.referrer_kind, s.traffic,
                                s.click_id_kind) IS NOT DISTINCT FROM
                               (g.utm_source, g.utm_medium, g.utm_campaign, g.utm_content, g.utm_term, g.referrer_host, g.referrer_kind, g.traffic,
                                g.click_id_kind)
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), free AS (
        SELECT day, channel, contractor, source, campaign, ad, keyword, sum(impressions) AS impressions, sum(clicks) AS clicks, sum(spend) AS spend,
               sum(visits) AS visits
        FROM (SELECT day, channel, contractor, source, campaign, ad, keyword, impressions, clicks, spend, 0 AS visits FROM spend
              UNION ALL SELECT day, channel, contractor, source, campaign, ad, keyword, 0, 0, 0, visits FROM visits) u
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ), credited_cells AS (
        SELECT day, channel, contractor, source, campaign, ad, keyword, model, sum(leads) AS leads, sum(qualified_leads) AS qualified_leads,
               sum(deals) AS deals, sum(sales) AS sales, sum(revenue) AS revenue, sum(cost_of_goods) AS cost_of_goods
        FROM (SELECT * FROM crm UNION ALL SELECT * FROM orphans) u GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    )
    SELECT coalesce(c.day, f.day) AS day, coalesce(c.channel, f.channel) AS channel, coalesce(c.contractor, f.contractor) AS contractor,
           coalesce(c.source, f.source) AS source, coalesce(c.campaign, f.campaign) AS campaign, coalesce(c.ad, f.ad) AS ad,
           coalesce(c.keyword, f.keyword) AS keyword, coalesce(c.model, m.model) AS model,
           coalesce(f.impressions, 0) AS impressions, coalesce(f.clicks, 0) AS clicks, coalesce(f.spend, 0) AS spend, coalesce(f.visits, 0) AS visits,
           coalesce(c.leads, 0) AS leads, coalesce(c.qualified_leads, 0) AS qualified_leads, coalesce(c.deals, 0) AS deals,
           coalesce(c.sales, 0) AS sales, coalesce(c.revenue, 0) AS revenue, coalesce(c.cost_of_goods, 0) AS cost_of_goods
    FROM (free f CROSS JOIN unnest(ARRAY['first_click', 'last_click', 'last_non_direct', 'last_paid', 'linear', 'position_based', 'time_decay']) AS m(model))
    FULL JOIN credited_cells c ON (c.day, c.channel, c.source, c.campaign, c.ad, c.keyword, c.model) = (f.day, f.channel, f.source, f.campaign, f.ad, f.keyword, m.model)
                              AND c.contractor IS NOT DISTINCT FROM f.contractor;
    CREATE INDEX ON plain.cells (day);
    ANALYZE plain.cells;
    """#
}
