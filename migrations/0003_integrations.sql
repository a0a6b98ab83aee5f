-- +goose Up
-- Integrations at run time: shared rate-limit windows, and the sweep of expired files.

-- One row per integration and fixed window: the number of requests taken in it. Every worker increments the same
-- row with one atomic upsert that refuses to pass the integration's rate_limit, so the limit holds across
-- processes without Redis. Rows of past windows are deleted when a new window starts.
CREATE TABLE integration_rate_windows (
    integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    window_start   timestamptz NOT NULL,
    used           integer NOT NULL CHECK (used > 0),
    PRIMARY KEY (integration_id, window_start)
);

-- The retention sweep finds expired files (exports kept for a set time) without scanning every upload.
CREATE INDEX uploads_expires_idx ON uploads (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP INDEX uploads_expires_idx;
DROP TABLE integration_rate_windows;
