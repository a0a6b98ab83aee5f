-- name: ExecutionCreate :one
INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, trigger_kind,
    trigger_data, priority, retry_of, created_by)
VALUES (@id, @organization_id, @workflow_id, @workflow_version_id, @version, @trigger_kind, @trigger_data,
    @priority, sqlc.narg('retry_of'), sqlc.narg('created_by'))
RETURNING *;

-- name: ExecutionCreateMany :copyfrom
-- ExecutionCreateMany writes a group of accepted triggers with one COPY: the group commit of the ingest path.
INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, trigger_kind,
    trigger_data, priority)
VALUES (@id, @organization_id, @workflow_id, @workflow_version_id, @version, @trigger_kind, @trigger_data, @priority);

-- name: ExecutionStart :one
-- ExecutionStart marks an execution running for a worker and reports the status it had, so a worker knows
-- whether there are recorded node runs to resume from. No row: it finished or was canceled meanwhile.
UPDATE workflow_executions e
SET status = 'running', started_at = coalesce(e.started_at, now()), resume_at = NULL, updated_at = now()
FROM (SELECT w.id, w.status FROM workflow_executions w WHERE w.id = @id FOR UPDATE) previous
WHERE e.id = previous.id AND previous.status IN ('queued', 'running', 'waiting')
RETURNING e.id, e.organization_id, e.workflow_id, e.workflow_version_id, e.version, e.trigger_kind, e.trigger_data,
    e.cancel_requested_at, e.created_at, e.started_at, previous.status AS previous_status;

-- name: ExecutionFinish :one
-- ExecutionFinish records a final status, unless the execution already has one (a cancel won the race).
UPDATE workflow_executions
SET status = @status, error = sqlc.narg('error'), finished_at = now(), resume_at = NULL, updated_at = now()
WHERE id = @id AND status IN ('queued', 'running', 'waiting')
RETURNING id, organization_id, workflow_id, status, started_at, finished_at;

-- name: ExecutionPark :one
-- ExecutionPark puts an execution to sleep until resume_at (a durable delay); a continuation job wakes it.
UPDATE workflow_executions
SET status = 'waiting', resume_at = @resume_at, updated_at = now()
WHERE id = @id AND status = 'running'
RETURNING id, organization_id, workflow_id, status;

-- name: ExecutionRequestCancel :one
-- ExecutionRequestCancel cancels a queued or waiting execution at once; a running one is flagged, and its worker
-- stops at the next node boundary.
UPDATE workflow_executions
SET cancel_requested_at = coalesce(cancel_requested_at, now()),
    status = CASE WHEN status IN ('queued', 'waiting') THEN 'canceled' ELSE status END,
    finished_at = CASE WHEN status IN ('queued', 'waiting') THEN now() ELSE finished_at END,
    updated_at = now()
WHERE id = @id AND organization_id = @organization_id AND status IN ('queued', 'running', 'waiting')
RETURNING id, organization_id, workflow_id, status;

-- name: ExecutionGet :one
SELECT * FROM workflow_executions WHERE id = @id AND organization_id = @organization_id;

-- name: ExecutionList :many
-- ExecutionList pages through an organization's executions, newest first, keyset-paged on (created_at, id).
SELECT * FROM workflow_executions
WHERE organization_id = @organization_id
  AND (sqlc.narg('workflow_id')::uuid IS NULL OR workflow_id = sqlc.narg('workflow_id')::uuid)
  AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status')::text)
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR created_at >= sqlc.narg('created_after')::timestamptz)
  AND (sqlc.narg('before_created_at')::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg('before_created_at')::timestamptz, sqlc.narg('before_id')::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: ExecutionCountAhead :one
-- ExecutionCountAhead counts a workflow's unfinished executions created before this one: with a concurrency limit
-- of N, an execution may run only while fewer than N are ahead of it, which keeps them in order.
SELECT count(*) FROM workflow_executions
WHERE workflow_id = @workflow_id AND status IN ('queued', 'running', 'waiting')
  AND (created_at, id) < (@created_at::timestamptz, @id::uuid);

-- name: NodeRunList :many
SELECT * FROM node_executions
WHERE execution_id = @execution_id AND organization_id = @organization_id
ORDER BY started_at NULLS LAST, created_at, item_index NULLS FIRST;

-- name: NodeRunsForResume :many
-- NodeRunsForResume loads what a worker must not run again.
SELECT * FROM node_executions WHERE execution_id = @execution_id;

-- name: NodeRunUpsertMany :exec
-- NodeRunUpsertMany records many node runs in one statement; a run recorded before (a delay that was waiting, a
-- side effect recorded as it finished) is brought up to date instead of duplicated. Arrays cannot carry NULLs from
-- sqlc's Go types, so -1 stands for "no item index" and "" for "no input/output/error".
INSERT INTO node_executions (organization_id, execution_id, node_id, node_type, status, attempt, item_index, input,
    output, error, started_at, finished_at)
SELECT @organization_id::uuid, @execution_id::uuid, unnest(@node_ids::text[]), unnest(@node_types::text[]),
    unnest(@statuses::text[]), unnest(@attempts::int[]), nullif(unnest(@item_indexes::int[]), -1),
    nullif(unnest(@inputs::text[]), '')::jsonb, nullif(unnest(@outputs::text[]), '')::jsonb,
    nullif(unnest(@errors::text[]), ''), unnest(@started_ats::timestamptz[]),
    unnest(@finished_ats::timestamptz[])
ON CONFLICT (execution_id, node_id, item_index) DO UPDATE
SET status = EXCLUDED.status, attempt = EXCLUDED.attempt, input = EXCLUDED.input, output = EXCLUDED.output,
    error = EXCLUDED.error, started_at = coalesce(node_executions.started_at, EXCLUDED.started_at),
    finished_at = EXCLUDED.finished_at, updated_at = now();
