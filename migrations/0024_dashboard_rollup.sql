-- +goose Up
-- The dashboard reads its counts, rates and chart from the statistics rollup instead of scanning executions
-- (issue 15: a dashboard over millions of executions within 50 ms). What it needs beyond the rollup's counts:
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

-- +goose Down
ALTER TABLE workflow_stats_minutes
    DROP COLUMN test_failed,
    DROP COLUMN test_succeeded,
    DROP COLUMN duration_sum_ms;
