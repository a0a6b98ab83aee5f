-- name: DashboardSeries :many
-- DashboardSeries sums an organization's hourly statistics (its every-workflow rows, workflow_id NULL) from an
-- hour on into buckets of step_seconds (whole hours) aligned on since, oldest first: the dashboard's counts, rates
-- and chart, read from at most one row an hour (720 for 30 days) however many executions ran. timed counts the
-- executions whose durations duration_sum_ms holds (hours rolled up before migration 0024 have none).
SELECT date_bin(make_interval(secs => @step_seconds::float8), hour, @since::timestamptz)::timestamptz AS bucket,
    sum(succeeded)::bigint AS succeeded, sum(failed)::bigint AS failed, sum(canceled)::bigint AS canceled,
    sum(test_succeeded)::bigint AS test_succeeded, sum(test_failed)::bigint AS test_failed,
    coalesce(sum(duration_sum_ms), 0)::float8 AS duration_sum_ms, sum(timed)::bigint AS timed
FROM workflow_stats_hours
WHERE organization_id = @organization_id AND workflow_id IS NULL AND hour >= @since::timestamptz
GROUP BY 1
ORDER BY 1;

-- name: DashboardInFlight :many
-- DashboardInFlight counts an organization's executions created since a time that have not finished, by status:
-- the rollup holds finished executions only. Few rows match (workflow_executions_org_status_id_idx), and the id
-- bound reads only the partitions from the day of since on.
SELECT status, count(*)::bigint AS executions
FROM workflow_executions
WHERE organization_id = @organization_id AND status IN ('queued', 'running', 'waiting')
  AND created_at >= @since AND id >= history_id_floor(@since)
GROUP BY status;

-- name: DashboardSlowestWorkflows :many
-- DashboardSlowestWorkflows ranks an organization's workflows by the average trigger-to-finish duration of their
-- executions that finished since an hour, slowest first, from the hourly statistics' per-workflow rows.
WITH per_workflow AS (
    SELECT s.workflow_id, sum(s.succeeded + s.failed + s.canceled)::bigint AS executions,
        sum(s.duration_sum_ms) / nullif(sum(s.timed), 0) AS average_ms
    FROM workflow_stats_hours s
    WHERE s.organization_id = @organization_id AND s.workflow_id IS NOT NULL AND s.hour >= @since
    GROUP BY s.workflow_id
)
SELECT w.id AS workflow_id, w.name, p.executions, p.average_ms::float8 AS average_ms
FROM per_workflow p
JOIN workflows w ON w.id = p.workflow_id AND w.organization_id = @organization_id
WHERE p.average_ms IS NOT NULL
ORDER BY p.average_ms DESC, w.id
LIMIT @max_rows;

-- name: DashboardRecentFailures :many
-- DashboardRecentFailures lists an organization's latest failed executions created since a time, newest first
-- (workflow_executions_org_status_id_idx): the id bound reads only the partitions of the dashboard's window, and
-- the order by id reads them newest first and stops at the limit.
SELECT e.id, e.workflow_id, w.name AS workflow_name, coalesce(e.error, '')::text AS error, e.created_at
FROM workflow_executions e
JOIN workflows w ON w.id = e.workflow_id
WHERE e.organization_id = @organization_id AND e.status = 'failed' AND e.kind <> 'test'
  AND e.created_at >= @since AND e.id >= history_id_floor(@since)
ORDER BY e.id DESC
LIMIT @max_rows;
