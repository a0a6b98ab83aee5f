-- +goose Up
-- The dashboard reads its counts, rates and chart from the statistics rollup instead of scanning executions
-- (issue 15: a dashboard over millions of executions within 50 ms). What it needs beyond the minutes' counts:
--   * duration_sum_ms: the sum of the minute's trigger-to-finish durations, so that averages over any period are
--     exact (percentiles of minutes do not add up). NULL on the rows rolled up before this migration: the averages
--     leave those minutes out rather than guess.
--   * test_succeeded, test_failed: how many of the minute's succeeded and failed executions were test runs, kept
--     apart so that success rates count production runs only. A subset of succeeded and failed (which still count
--     every run, as the statistics pages and API have always shown them). Today's signal for a test run is
--     trigger_kind 'manual' (run from the editor or the API); 0 on the rows rolled up before this migration.
-- Adding a nullable column, or one with a constant default, rewrites nothing: the migration is instant on a large
-- table.
ALTER TABLE workflow_stats_minutes
    ADD COLUMN duration_sum_ms double precision,
    ADD COLUMN test_succeeded integer NOT NULL DEFAULT 0,
    ADD COLUMN test_failed integer NOT NULL DEFAULT 0;

-- The same figures by the hour, rewritten by the rollup from the minutes it has just written: the dashboard's
-- periods (a day by the hour, a week by six hours, a month by the day) read at most 720 rows a month per workflow
-- and per organization, where the minutes took 43,200 (~150 ms for a month). Not partitioned: 24 rows a day per
-- workflow are pruned by a delete, with the minutes' retention. timed counts the executions duration_sum_ms holds.
CREATE TABLE workflow_stats_hours (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id     uuid REFERENCES workflows (id) ON DELETE CASCADE,
    hour            timestamptz NOT NULL,
    succeeded       integer NOT NULL,
    failed          integer NOT NULL,
    canceled        integer NOT NULL,
    test_succeeded  integer NOT NULL,
    test_failed     integer NOT NULL,
    duration_sum_ms double precision,
    timed           integer NOT NULL
);
CREATE UNIQUE INDEX workflow_stats_hours_key ON workflow_stats_hours (organization_id, workflow_id, hour)
    NULLS NOT DISTINCT;
CREATE INDEX workflow_stats_hours_hour_idx ON workflow_stats_hours (hour);

-- The hours of the minutes already rolled up (without durations: those minutes have none).
INSERT INTO workflow_stats_hours (organization_id, workflow_id, hour, succeeded, failed, canceled, test_succeeded,
    test_failed, duration_sum_ms, timed)
SELECT organization_id, workflow_id, date_trunc('hour', minute), sum(succeeded), sum(failed), sum(canceled), 0, 0,
    NULL, 0
FROM workflow_stats_minutes
GROUP BY organization_id, workflow_id, date_trunc('hour', minute);

-- +goose Down
DROP TABLE workflow_stats_hours;
ALTER TABLE workflow_stats_minutes
    DROP COLUMN test_failed,
    DROP COLUMN test_succeeded,
    DROP COLUMN duration_sum_ms;
