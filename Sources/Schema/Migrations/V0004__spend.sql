-- Ad spend: one fact table for every network, the exchange rates it is converted with, and the
-- bookkeeping that makes collector runs resumable. See docs/collectors.md.
CREATE SCHEMA IF NOT EXISTS spend;

-- Dated exchange rates: one unit of `currency` costs `rate` units of `target` on `day`.
-- Reference data shared by all projects (a Citus reference table when distributed).
CREATE TABLE core.exchange_rates (
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    target     text NOT NULL CHECK (target ~ '^[A-Z]{3}$'),
    day        date NOT NULL,
    rate       numeric(24, 10) NOT NULL CHECK (rate > 0),
    origin     text NOT NULL DEFAULT 'manual',
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, target, day),
    CHECK (currency <> target)
);
COMMENT ON TABLE core.exchange_rates IS 'Dated exchange rates loaded by `analytics rates load`; the rate for a day is the latest on or before it (at most 7 days old).';

-- One row per project × source × account × day × utm_source × campaign × ad group × ad ×
-- keyword, at the finest grain the network gives. Missing levels are '' (part of the key,
-- never NULL). utm_source is constant per ad account; a manual-cost sheet has several.
CREATE TABLE spend.facts (
    project_id      text NOT NULL,
    source_id       text NOT NULL,
    account         text NOT NULL,
    day             date NOT NULL,
    campaign_id     text NOT NULL,
    ad_group_id     text NOT NULL DEFAULT '',
    ad_id           text NOT NULL DEFAULT '',
    keyword_id      text NOT NULL DEFAULT '',
    campaign_name   text NOT NULL DEFAULT '',
    ad_group_name   text,
    ad_name         text,
    keyword         text,
    utm_source      text NOT NULL,
    utm_medium      text,
    utm_campaign    text,
    utm_content     text,
    utm_term        text,
    impressions     bigint NOT NULL DEFAULT 0 CHECK (impressions >= 0),
    clicks          bigint NOT NULL DEFAULT 0 CHECK (clicks >= 0),
    conversions     bigint,
    cost_micros     bigint NOT NULL,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    vat_included    boolean NOT NULL,
    spend           numeric(28, 10) NOT NULL,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, source_id, account, day, utm_source, campaign_id, ad_group_id, ad_id, keyword_id)
);
COMMENT ON TABLE spend.facts IS 'Ad spend per day (in the ad account''s time zone) at the finest grain of each network.';
COMMENT ON COLUMN spend.facts.day IS 'Statistics day in the ad account''s own time zone.';
COMMENT ON COLUMN spend.facts.utm_source IS 'The utm_source configured for the ad account: the spend side of the report key `source`.';
COMMENT ON COLUMN spend.facts.utm_campaign IS 'What visits carry in utm_campaign for this campaign (its name by default).';
COMMENT ON COLUMN spend.facts.utm_content IS 'The ad id as visits carry it in utm_content (Direct ad, VK banner, Google ad group).';
COMMENT ON COLUMN spend.facts.utm_term IS 'The keyword text as visits carry it in utm_term.';
COMMENT ON COLUMN spend.facts.cost_micros IS 'Cost exactly as the network reported it, in millionths of `currency`.';
COMMENT ON COLUMN spend.facts.vat_included IS 'Whether cost_micros includes VAT (as requested from or stated by the network).';
COMMENT ON COLUMN spend.facts.spend IS 'Cost in the project''s reporting currency without VAT (unless the project reports with VAT), full precision; round per report cell.';

-- Collector runs and their chunks: a backfill interrupted by a crash resumes with the chunks
-- not yet done.
CREATE TABLE spend.runs (
    project_id   text NOT NULL,
    run_id       uuid NOT NULL,
    source_id    text NOT NULL,
    account      text NOT NULL DEFAULT '',
    first_day    date NOT NULL,
    last_day     date NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (project_id, run_id),
    CHECK (first_day <= last_day)
);
CREATE INDEX runs_by_scope ON spend.runs (project_id, source_id, account, first_day, last_day);

CREATE TABLE spend.chunks (
    project_id   text NOT NULL,
    run_id       uuid NOT NULL,
    account      text NOT NULL,
    first_day    date NOT NULL,
    last_day     date NOT NULL,
    status       text NOT NULL CHECK (status IN ('done', 'failed')),
    rows         bigint NOT NULL DEFAULT 0,
    error        text,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, run_id, account, first_day),
    FOREIGN KEY (project_id, run_id) REFERENCES spend.runs (project_id, run_id) ON DELETE CASCADE
);

-- OAuth tokens a network limits in number (VK Ads, myTarget): created once, then reused and
-- refreshed across runs instead of minting a new one per run. Secrets: never logged.
CREATE TABLE spend.api_tokens (
    project_id     text NOT NULL,
    source_id      text NOT NULL,
    access_token   text NOT NULL,
    refresh_token  text,
    expires_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, source_id)
);
