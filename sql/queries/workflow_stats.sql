-- name: StatsRollupLock :one
-- StatsRollupLock elects the process that rolls up this round: a transaction-level advisory lock, released at the
-- commit. The rollup's writes are idempotent, so the lock only saves a second process the same work.
SELECT pg_try_advisory_xact_lock(7238412990201)::boolean AS elected;

-- name: StatsRollupCursorGet :one
-- StatsRollupCursorGet reads where a rollup has got to, locking it for the transaction that moves it.
SELECT next_minute FROM stats_rollup_cursors WHERE name = @name FOR UPDATE;

-- name: StatsRollupCursorSet :exec
INSERT INTO stats_rollup_cursors (name, next_minute) VALUES (@name, @next_minute)
ON CONFLICT (name) DO UPDATE SET next_minute = EXCLUDED.next_minute;

-- name: StatsMinutesClear :exec
-- StatsMinutesClear deletes the rows of the minutes a rollup is about to write again.
DELETE FROM workflow_stats_minutes WHERE minute >= @from_minute AND minute < @to_minute;

-- name: StatsMinutesRollup :execrows
-- StatsMinutesRollup aggregates the executions that finished in [from_minute, to_minute), per workflow and per
-- organization, minute by minute. It reads the executions that finished soon after their trigger through the
-- primary key (UUIDv7: low_id and high_id bound their creation time, with a margin for clock skew between the
-- processes and the database) and the others through workflow_executions_late_finish_idx; the two halves are
-- disjoint, split on the index's predicate. The editor's test runs (kind 'test') say nothing about production: they
-- are counted only in test_succeeded and test_failed (migration 0024), never in the counts and durations.
WITH finished AS (
    SELECT e.organization_id, e.workflow_id, e.status, e.kind = 'test' AS test, date_trunc('minute', e.finished_at) AS minute,
        extract(epoch FROM e.finished_at - e.created_at) * 1000 AS ms
    FROM workflow_executions e
    WHERE e.id >= @low_id AND e.id < @high_id
      AND e.finished_at >= @from_minute::timestamptz AND e.finished_at < @to_minute::timestamptz
      AND e.finished_at - e.created_at <= interval '2 minutes'
      AND e.status IN ('succeeded', 'failed', 'canceled')
    UNION ALL
    SELECT e.organization_id, e.workflow_id, e.status, e.kind = 'test' AS test, date_trunc('minute', e.finished_at) AS minute,
        extract(epoch FROM e.finished_at - e.created_at) * 1000 AS ms
    FROM workflow_executions e
    WHERE e.finished_at >= @from_minute::timestamptz AND e.finished_at < @to_minute::timestamptz
      AND e.finished_at - e.created_at > interval '2 minutes'
      AND e.status IN ('succeeded', 'failed', 'canceled')
)
INSERT INTO workflow_stats_minutes (organization_id, workflow_id, minute, succeeded, failed, canceled,
    duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_max_ms, duration_sum_ms, test_succeeded, test_failed)
SELECT organization_id, workflow_id, minute,
    count(*) FILTER (WHERE status = 'succeeded' AND NOT test), count(*) FILTER (WHERE status = 'failed' AND NOT test),
    count(*) FILTER (WHERE status = 'canceled' AND NOT test),
    coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE NOT test), 0),
    coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FILTER (WHERE NOT test), 0),
    coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FILTER (WHERE NOT test), 0),
    coalesce(max(ms) FILTER (WHERE NOT test), 0), coalesce(sum(ms) FILTER (WHERE NOT test), 0),
    count(*) FILTER (WHERE status = 'succeeded' AND test), count(*) FILTER (WHERE status = 'failed' AND test)
FROM finished
GROUP BY GROUPING SETS ((organization_id, workflow_id, minute), (organization_id, minute));

-- name: StatsHoursClear :exec
-- StatsHoursClear deletes the rows of the hours that the minutes [from_minute, to_minute) belong to, which
-- StatsHoursRollup writes again.
DELETE FROM workflow_stats_hours WHERE hour >= date_trunc('hour', @from_minute::timestamptz) AND hour < @to_minute::timestamptz;

-- name: StatsHoursRollup :execrows
-- StatsHoursRollup sums the minutes of the hours that [from_minute, to_minute) touches into workflow_stats_hours
-- (migration 0024), from the hour's first minute: an hour is whole once its last minute is rolled up.
INSERT INTO workflow_stats_hours (organization_id, workflow_id, hour, succeeded, failed, canceled, test_succeeded,
    test_failed, duration_sum_ms, timed)
SELECT organization_id, workflow_id, date_trunc('hour', minute), sum(succeeded), sum(failed), sum(canceled),
    sum(test_succeeded), sum(test_failed), sum(duration_sum_ms),
    coalesce(sum(succeeded + failed + canceled) FILTER (WHERE duration_sum_ms IS NOT NULL), 0)
FROM workflow_stats_minutes
WHERE minute >= date_trunc('hour', @from_minute::timestamptz) AND minute < @to_minute::timestamptz
GROUP BY organization_id, workflow_id, date_trunc('hour', minute);

-- name: StatsHoursPrune :execrows
-- StatsHoursPrune deletes the hourly statistics older than the retention (workflow_stats_hours_hour_idx).
DELETE FROM workflow_stats_hours WHERE hour < @before;

-- name: StatsMinutesPrune :execrows
-- StatsMinutesPrune deletes the statistics older than the retention (workflow_stats_minutes_minute_idx).
DELETE FROM workflow_stats_minutes WHERE minute < @before;

-- name: StatsWorkflowMinutes :many
-- StatsWorkflowMinutes reads one workflow's minutes in [from_minute, to_minute), oldest first.
SELECT minute, succeeded, failed, canceled, duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_max_ms
FROM workflow_stats_minutes
WHERE organization_id = @organization_id AND workflow_id = @workflow_id
  AND minute >= @from_minute AND minute < @to_minute
ORDER BY minute;

-- name: StatsOrganizationMinutes :many
-- StatsOrganizationMinutes reads an organization's minutes (every workflow together) in [from_minute, to_minute).
SELECT minute, succeeded, failed, canceled, duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_max_ms
FROM workflow_stats_minutes
WHERE organization_id = @organization_id AND workflow_id IS NULL
  AND minute >= @from_minute AND minute < @to_minute
ORDER BY minute;
