-- +goose Up
-- Correlation: the id of the request that created an execution (a webhook call, a form post, an upload, an API or
-- manual run, a retry) and the W3C traceparent of the trace it belongs to, so that the worker continues that trace.
-- Both NULL when there was none (a schedule tick; tracing off).
ALTER TABLE workflow_executions ADD COLUMN request_id text CHECK (length(request_id) <= 128),
    ADD COLUMN trace_parent text CHECK (length(trace_parent) <= 128);

-- The statistics rollup finds the executions that finished in a minute without an index on finished_at, which every
-- finish would pay for: most executions finish within moments of their trigger, so it reads them by their id
-- (a UUIDv7, ordered by creation time) over a short window before the minute. This partial index holds only the
-- others, those that finished long after they were created (delays, long runs): the hot path writes nothing to it.
CREATE INDEX workflow_executions_late_finish_idx ON workflow_executions (finished_at)
    WHERE finished_at - created_at > interval '2 minutes';

-- Per-minute statistics of finished executions (by the minute they finished in), per workflow, and per organization
-- (workflow_id NULL: every workflow of the organization together, with its own exact percentiles). Written only by
-- the rollup (sql/store StatsRollup), which rewrites whole minutes: running it again over a minute gives the same rows.
-- Durations are trigger to finish (created_at to finished_at), in milliseconds. Rows older than STATS_RETENTION are
-- deleted.
CREATE TABLE workflow_stats_minutes (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id     uuid REFERENCES workflows (id) ON DELETE CASCADE,
    minute          timestamptz NOT NULL,
    succeeded       integer NOT NULL,
    failed          integer NOT NULL,
    canceled        integer NOT NULL,
    duration_p50_ms double precision NOT NULL,
    duration_p95_ms double precision NOT NULL,
    duration_p99_ms double precision NOT NULL,
    duration_max_ms double precision NOT NULL
);
CREATE UNIQUE INDEX workflow_stats_minutes_key ON workflow_stats_minutes (organization_id, workflow_id, minute)
    NULLS NOT DISTINCT;
CREATE INDEX workflow_stats_minutes_workflow_idx ON workflow_stats_minutes (workflow_id, minute) WHERE workflow_id IS NOT NULL;
CREATE INDEX workflow_stats_minutes_minute_idx ON workflow_stats_minutes (minute);

-- Where each rollup has got to: every minute before next_minute is aggregated.
CREATE TABLE stats_rollup_cursors (
    name        text PRIMARY KEY,
    next_minute timestamptz NOT NULL
);

-- +goose Down
DROP TABLE stats_rollup_cursors;
DROP TABLE workflow_stats_minutes;
DROP INDEX workflow_executions_late_finish_idx;
ALTER TABLE workflow_executions DROP COLUMN trace_parent, DROP COLUMN request_id;
