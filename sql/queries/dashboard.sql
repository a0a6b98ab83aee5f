-- name: DashboardStatusCounts :many
-- DashboardStatusCounts counts an organization's executions created since a time, by status
-- (workflow_executions_org_id_idx). The id bound reads only the partitions from the day of since on. The editor's
-- test runs are left out of it, as of every figure of the dashboard: they say nothing about production.
SELECT status, count(*)::bigint AS executions
FROM workflow_executions
WHERE organization_id = @organization_id AND created_at >= @since
  AND id >= history_id_floor(@since) AND kind <> 'test'
GROUP BY status;

-- name: DashboardSlowestWorkflows :many
-- DashboardSlowestWorkflows ranks an organization's workflows by the average duration of their executions that
-- were created since a time and have finished, slowest first.
SELECT e.workflow_id, w.name,
    count(*)::bigint AS executions,
    (avg(extract(epoch FROM e.finished_at - e.started_at)) * 1000)::float8 AS average_ms
FROM workflow_executions e
JOIN workflows w ON w.id = e.workflow_id
WHERE e.organization_id = @organization_id AND e.created_at >= @since
  AND e.id >= history_id_floor(@since) AND e.kind <> 'test'
  AND e.started_at IS NOT NULL AND e.finished_at IS NOT NULL
GROUP BY e.workflow_id, w.name
ORDER BY average_ms DESC, e.workflow_id
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
