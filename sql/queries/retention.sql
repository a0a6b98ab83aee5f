-- name: RetentionExecutionBatch :many
-- RetentionExecutionBatch picks a batch of finished executions past an age in the given statuses, oldest first,
-- locking them so that a concurrent pruner skips them. Never an unfinished one: the statuses are final ones, and
-- a status that is final stays final. The id bound (the partition key) reads only the partitions before cutoff.
SELECT id FROM workflow_executions
WHERE id < uuid_v7_floor(@cutoff::timestamptz) AND created_at < @cutoff::timestamptz
  AND status = ANY(@statuses::text[]) AND status IN ('succeeded', 'failed', 'canceled')
ORDER BY id
LIMIT @max_rows
FOR UPDATE SKIP LOCKED;

-- name: RetentionNodeRunsDelete :execrows
-- RetentionNodeRunsDelete deletes the node runs of executions being pruned (no foreign key does it, migration 0015).
DELETE FROM node_executions WHERE execution_id = ANY(@execution_ids::uuid[]);

-- name: RetentionExecutionsDelete :execrows
-- RetentionExecutionsDelete deletes executions being pruned; the rows that reference them by foreign key (e-mail
-- deliveries, links from form submissions, uploads and notifications) follow by their ON DELETE rules.
DELETE FROM workflow_executions
WHERE id = ANY(@ids::uuid[]) AND status IN ('succeeded', 'failed', 'canceled');

-- name: RetentionUnfinishedInRange :one
-- RetentionUnfinishedInRange reports whether executions with ids in [from_id, to_id) are still queued, running or
-- waiting (workflow_executions_unfinished_idx cannot serve it; the scan of the partition is bounded by the range).
SELECT EXISTS (
    SELECT 1 FROM workflow_executions
    WHERE id >= @from_id::uuid AND id < @to_id::uuid AND status IN ('queued', 'running', 'waiting')
)::boolean AS unfinished;

-- name: RetentionClearExecutionLinks :exec
-- RetentionClearExecutionLinks removes what references executions with ids in [from_id, to_id) by foreign key, so
-- that their partition can be detached: the rows that would be deleted with them are, the links that would be
-- cleared are.
WITH mails AS (
    DELETE FROM email_deliveries WHERE execution_id >= @from_id::uuid AND execution_id < @to_id::uuid
), submissions AS (
    DELETE FROM form_submission_executions WHERE execution_id >= @from_id::uuid AND execution_id < @to_id::uuid
), files AS (
    UPDATE uploads SET execution_id = NULL WHERE execution_id >= @from_id::uuid AND execution_id < @to_id::uuid
)
UPDATE notifications SET last_execution_id = NULL
WHERE last_execution_id >= @from_id::uuid AND last_execution_id < @to_id::uuid;
