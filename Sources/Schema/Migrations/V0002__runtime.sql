-- The worker runtime's own tables.
CREATE SCHEMA IF NOT EXISTS runtime;

-- Transactional outbox: a handler writes its events here in the same transaction as its data;
-- the outbox relay publishes them with confirms and deletes them. Nothing is lost if a process
-- dies between commit and publish; a message may be published twice, never zero times.
CREATE TABLE runtime.outbox (
    project_id   text NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    exchange     text NOT NULL,
    routing_key  text NOT NULL,
    message_id   text NOT NULL,
    type         text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project_id, id)
);
CREATE INDEX outbox_by_id ON runtime.outbox (id);

-- Message ids a consumer has already applied, written in the handler's transaction, so a
-- redelivered message (after a crash between commit and ack) is skipped. Pruned after a week.
CREATE TABLE runtime.processed_messages (
    project_id    text NOT NULL,
    consumer      text NOT NULL,
    message_id    text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, consumer, message_id)
);
CREATE INDEX processed_messages_by_time ON runtime.processed_messages (processed_at);
