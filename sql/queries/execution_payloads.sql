-- name: PayloadClaim :exec
-- PayloadClaim records that an execution refers to a stored payload object. It is committed on its own before the
-- execution's row (a new object), or in the transaction of an execution that carries a reference over (a retry).
INSERT INTO execution_payloads (execution_id, storage_key, organization_id, size_bytes)
VALUES (@execution_id, @storage_key, @organization_id, @size_bytes)
ON CONFLICT (execution_id, storage_key) DO NOTHING;

-- name: PayloadClaimed :one
-- PayloadClaimed reports whether an object is claimed by an execution of the organization: a reference is only
-- ever followed within its own organization, and, with execution_id, within that execution.
SELECT EXISTS (
    SELECT 1 FROM execution_payloads
    WHERE storage_key = @storage_key AND organization_id = @organization_id
      AND (sqlc.narg('execution_id')::uuid IS NULL OR execution_id = sqlc.narg('execution_id')::uuid)
);

-- name: PayloadSweepList :many
-- PayloadSweepList returns stored objects older than before none of whose claiming executions exists any more
-- (pruned by batch, by partition drop, or never committed).
WITH dead AS (
    SELECT p.storage_key FROM execution_payloads p
    WHERE p.created_at < @before::timestamptz
      AND NOT EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = p.execution_id)
    LIMIT @max_rows
)
SELECT DISTINCT d.storage_key FROM dead d
WHERE NOT EXISTS (
    SELECT 1 FROM execution_payloads o
    WHERE o.storage_key = d.storage_key
      AND EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = o.execution_id));

-- name: PayloadSweepDelete :execrows
-- PayloadSweepDelete removes the claims of deleted objects, and the claims of executions that are gone whose object
-- another execution still refers to.
DELETE FROM execution_payloads p
WHERE p.storage_key = ANY(@storage_keys::text[])
   OR (p.created_at < @before::timestamptz
       AND NOT EXISTS (SELECT 1 FROM workflow_executions e WHERE e.id = p.execution_id));
