-- name: ScheduleUpsert :exec
INSERT INTO workflow_schedules (workflow_id, organization_id, next_run_at)
VALUES (@workflow_id, @organization_id, @next_run_at)
ON CONFLICT (workflow_id) DO UPDATE SET next_run_at = EXCLUDED.next_run_at;

-- name: ScheduleDelete :exec
DELETE FROM workflow_schedules WHERE workflow_id = @workflow_id AND organization_id = @organization_id;

-- name: ScheduleGet :one
SELECT * FROM workflow_schedules WHERE workflow_id = @workflow_id AND organization_id = @organization_id;

-- name: ScheduleClaimDue :many
-- ScheduleClaimDue locks the schedules that are due, with what starting their executions needs; rows another
-- scheduler holds are skipped, so two instances never fire the same tick. Due is by the caller's clock (@now), so
-- that tests and the scheduler agree on which tick is due.
SELECT s.workflow_id, s.organization_id, s.next_run_at, w.priority, v.id AS version_id, v.number AS version,
    v.definition
FROM workflow_schedules s
JOIN workflows w ON w.id = s.workflow_id AND w.active AND w.archived_at IS NULL
JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version
WHERE s.next_run_at <= @now
ORDER BY s.next_run_at
LIMIT @max_rows
FOR UPDATE OF s SKIP LOCKED;

-- name: ScheduleAdvance :exec
UPDATE workflow_schedules SET next_run_at = @next_run_at, last_run_at = @last_run_at WHERE workflow_id = @workflow_id;
