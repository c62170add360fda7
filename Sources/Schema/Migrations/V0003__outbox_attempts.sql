-- The outbox relay parks a row the broker keeps refusing (a nack, a missing exchange) after a
-- few attempts instead of letting it block every row behind it; operators see it here.
ALTER TABLE runtime.outbox
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text;
