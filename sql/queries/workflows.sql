-- name: WorkflowCreate :one
-- WorkflowCreate adds a workflow whose first version the same transaction writes next.
INSERT INTO workflows (id, organization_id, name, description, created_by, current_version, priority, concurrency_limit)
VALUES (@id, @organization_id, @name, @description, @created_by, 1, @priority, sqlc.narg('concurrency_limit'))
RETURNING id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at;

-- name: WorkflowGet :one
SELECT id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at
FROM workflows
WHERE id = @id AND organization_id = @organization_id;

-- name: WorkflowList :many
-- WorkflowList pages through an organization's workflows, newest first, keyset-paged on (created_at, id).
SELECT id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at
FROM workflows
WHERE organization_id = @organization_id
  AND (sqlc.narg('active')::boolean IS NULL OR active = sqlc.narg('active')::boolean)
  AND (archived_at IS NOT NULL) = @archived::boolean
  AND (sqlc.narg('before_created_at')::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg('before_created_at')::timestamptz, sqlc.narg('before_id')::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: WorkflowSearch :many
-- WorkflowSearch ranks an organization's workflows by how well their name (weighted above) and description match a
-- search (search_tsquery, migration 0016), best first: one page, since a ranking has no stable keyset.
SELECT id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at
FROM workflows
WHERE organization_id = @organization_id
  AND search @@ search_tsquery(@words::text, sqlc.narg('prefix')::text)
  AND (sqlc.narg('active')::boolean IS NULL OR active = sqlc.narg('active')::boolean)
  AND (archived_at IS NOT NULL) = @archived::boolean
ORDER BY ts_rank(search, search_tsquery(@words::text, sqlc.narg('prefix')::text)) DESC, created_at DESC, id DESC
LIMIT @max_rows;

-- name: WorkflowUpdateHead :one
-- WorkflowUpdateHead moves a workflow to its next version, but only from the version the editor started from:
-- no row means someone saved in between.
UPDATE workflows
SET current_version = current_version + 1,
    name = coalesce(sqlc.narg('name'), name),
    description = coalesce(sqlc.narg('description'), description),
    priority = coalesce(sqlc.narg('priority'), priority),
    concurrency_limit = CASE WHEN @set_concurrency_limit::boolean THEN sqlc.narg('concurrency_limit') ELSE concurrency_limit END
WHERE id = @id AND organization_id = @organization_id AND current_version = @expected_version AND archived_at IS NULL
RETURNING id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at;

-- name: WorkflowSetActive :one
UPDATE workflows SET active = @active
WHERE id = @id AND organization_id = @organization_id AND archived_at IS NULL
RETURNING id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at;

-- name: WorkflowArchive :one
-- WorkflowArchive hides a workflow and stops its triggers; its executions stay readable.
UPDATE workflows SET archived_at = now(), active = false
WHERE id = @id AND organization_id = @organization_id AND archived_at IS NULL
RETURNING id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at;

-- name: WorkflowDelete :execrows
-- WorkflowDelete deletes a workflow with its history. Node runs are tied to their executions by no foreign key
-- (migration 0015: it would make dropping a partition scan them all), so they go first, here.
WITH runs AS (
    DELETE FROM node_executions n USING workflow_executions e
    WHERE n.execution_id = e.id AND e.workflow_id = @id AND e.organization_id = @organization_id
)
DELETE FROM workflows w WHERE w.id = @id AND w.organization_id = @organization_id;

-- name: WorkflowVersionCreate :one
INSERT INTO workflow_versions (organization_id, workflow_id, number, definition, author_id, message)
VALUES (@organization_id, @workflow_id, @number, @definition, @author_id, @message)
RETURNING *;

-- name: WorkflowVersionGet :one
SELECT * FROM workflow_versions
WHERE workflow_id = @workflow_id AND number = @number AND organization_id = @organization_id;

-- name: WorkflowVersionGetByID :one
-- WorkflowVersionGetByID loads a pinned version for a worker; versions are immutable, so callers cache it.
SELECT * FROM workflow_versions WHERE id = @id;

-- name: WorkflowVersionLatestAuthor :one
-- WorkflowVersionLatestAuthor names who saved a workflow's newest version, for a save conflict's message.
SELECT v.number, v.created_at, coalesce(u.name, '') AS author_name, coalesce(u.email, '') AS author_email
FROM workflow_versions v
LEFT JOIN users u ON u.id = v.author_id
WHERE v.workflow_id = @workflow_id AND v.organization_id = @organization_id
ORDER BY v.number DESC
LIMIT 1;

-- name: WorkflowVersionList :many
SELECT v.id, v.number, v.author_id, coalesce(u.name, '') AS author_name, v.message, v.created_at
FROM workflow_versions v
LEFT JOIN users u ON u.id = v.author_id
WHERE v.workflow_id = @workflow_id AND v.organization_id = @organization_id
ORDER BY v.number DESC
LIMIT @max_rows;

-- name: WorkflowHeadForTrigger :one
-- WorkflowHeadForTrigger returns what starting an execution needs: the active workflow's current version.
SELECT w.id AS workflow_id, w.organization_id, w.active, w.priority, v.id AS version_id, v.number
FROM workflows w
JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version
WHERE w.id = @id AND w.organization_id = @organization_id AND w.archived_at IS NULL;


-- name: WorkflowListSummaries :many
-- The trigger type of each listed workflow's head version and its latest execution, for the workflow list: one
-- query for the page, the latest execution found through workflow_executions_workflow_idx. A workflow never run
-- has last_status '' (and last_run_at the epoch, which means nothing then).
SELECT w.id AS workflow_id,
    COALESCE((SELECT n->>'type' FROM jsonb_array_elements(v.definition->'nodes') AS n
              WHERE n->>'type' LIKE 'trigger.%' LIMIT 1), '')::text AS trigger_type,
    COALESCE(le.status, '')::text AS last_status, COALESCE(le.created_at, 'epoch'::timestamptz)::timestamptz AS last_run_at
FROM workflows w
JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version AND v.organization_id = w.organization_id
LEFT JOIN LATERAL (
    SELECT e.status, e.created_at FROM workflow_executions e
    WHERE e.workflow_id = w.id AND e.organization_id = w.organization_id
    ORDER BY e.created_at DESC LIMIT 1
) le ON true
WHERE w.organization_id = @organization_id AND w.id = ANY(@ids::uuid[]);
