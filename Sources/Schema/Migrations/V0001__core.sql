-- Client projects and their data sources, mirrored from the deployment's configuration by
-- `analytics config apply`. Every table's key begins with project_id (see docs/architecture.md).
CREATE SCHEMA IF NOT EXISTS core;

CREATE TABLE core.projects (
    project_id  text PRIMARY KEY CHECK (project_id ~ '^[a-z0-9_-]{1,64}$'),
    name        text NOT NULL,
    time_zone   text NOT NULL,
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE core.projects IS 'Client projects: each has its own data, reporting time zone and currency.';

CREATE TABLE core.sources (
    project_id  text NOT NULL REFERENCES core.projects (project_id) ON DELETE CASCADE,
    source_id   text NOT NULL CHECK (source_id ~ '^[a-z0-9_-]{1,64}$'),
    kind        text NOT NULL,
    account     text,
    options     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, source_id)
);
COMMENT ON TABLE core.sources IS 'Ad accounts, CRMs and manual-cost sheets of a project (credentials stay in configuration, never here).';
