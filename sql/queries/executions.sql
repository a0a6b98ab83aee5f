-- name: ExecutionCreate :one
INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, trigger_kind,
    trigger_data, priority, retry_of, created_by, request_id, trace_parent, run_number, kind)
VALUES (@id, @organization_id, @workflow_id, @workflow_version_id, @version, @trigger_kind, @trigger_data,
    @priority, sqlc.narg('retry_of'), sqlc.narg('created_by'), sqlc.narg('request_id'), sqlc.narg('trace_parent'),
    @run_number, @kind)
RETURNING *;

-- name: RunNumbersReserve :many
-- RunNumbersReserve takes the next counts[i] run numbers of workflow workflow_ids[i] (migration 0023) and returns
-- each workflow's new last number: its numbers are last_number - count + 1 … last_number. One statement for a
-- whole group commit. The counter rows stay locked until the transaction ends, so the writers of one workflow
-- take their numbers in commit order and a rollback gives them back: numbers are unique and without gaps. Callers
-- pass each workflow once, in id order, so that two transactions never lock counters in opposite orders.
INSERT INTO workflow_run_counters (workflow_id, organization_id, last_number)
SELECT unnest(@workflow_ids::uuid[]), unnest(@organization_ids::uuid[]), unnest(@counts::bigint[])
ON CONFLICT (workflow_id) DO UPDATE SET last_number = workflow_run_counters.last_number + EXCLUDED.last_number
RETURNING workflow_id, last_number;

-- name: ExecutionCreateMany :copyfrom
-- ExecutionCreateMany writes a group of accepted triggers with one COPY: the group commit of the ingest path. Most
-- are queued; one run ahead of the queue (the express path) is written finished, with its status and times.
-- created_at is when the trigger was accepted, on the clock its start and end were read from, so that an
-- execution run ahead of the queue never starts before it was created.
INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, trigger_kind,
    trigger_data, priority, request_id, trace_parent, status, started_at, finished_at, run_number, created_at)
VALUES (@id, @organization_id, @workflow_id, @workflow_version_id, @version, @trigger_kind, @trigger_data, @priority,
    @request_id, @trace_parent, @status, @started_at, @finished_at, @run_number, @created_at);

-- name: ExecutionStart :one
-- ExecutionStart marks an execution running for a worker. It reports the status the execution had, so the worker
-- knows whether there are recorded node runs to resume from, and whether it started: it does not when the
-- execution finished or was canceled meanwhile, nor when the workflow's concurrency limit is reached by older
-- unfinished executions (counting only older ones keeps executions in order).
-- started_at is the clock when the row is updated (clock_timestamp), not the statement's start (now()), which
-- comes before the snapshot the start is decided on (planning and lock waits come in between): an execution held
-- back by the limit could otherwise record a start before the older execution it waited for had finished.
WITH target AS (
    SELECT e.id, e.status, w.concurrency_limit,
        CASE WHEN w.concurrency_limit IS NULL THEN 0 ELSE (
            SELECT count(*) FROM workflow_executions a
            WHERE a.workflow_id = e.workflow_id AND a.status IN ('queued', 'running', 'waiting')
              AND (a.created_at, a.id) < (e.created_at, e.id)
        ) END AS ahead
    FROM workflow_executions e
    JOIN workflows w ON w.id = e.workflow_id
    WHERE e.id = @id
    FOR UPDATE OF e
), started AS (
    UPDATE workflow_executions e
    SET status = 'running', started_at = coalesce(e.started_at, clock_timestamp()), resume_at = NULL, updated_at = now()
    FROM target t
    WHERE e.id = @id AND e.id = t.id AND t.status IN ('queued', 'running', 'waiting')
      AND (t.concurrency_limit IS NULL OR t.ahead < t.concurrency_limit)
    RETURNING e.id, e.organization_id, e.workflow_id, e.workflow_version_id, e.version, e.trigger_kind,
        e.trigger_data, e.cancel_requested_at, e.created_at, e.request_id, e.trace_parent
)
SELECT t.status AS previous_status, (s.id IS NOT NULL)::boolean AS started,
    (t.concurrency_limit IS NOT NULL AND t.ahead >= t.concurrency_limit)::boolean AS over_limit,
    s.organization_id, s.workflow_id, s.workflow_version_id, s.version, s.trigger_kind, s.trigger_data,
    s.cancel_requested_at, s.created_at, s.request_id, s.trace_parent
FROM target t
LEFT JOIN started s ON s.id = t.id;

-- name: ExecutionFinish :one
-- ExecutionFinish records a final status, unless the execution already has one (a cancel won the race).
UPDATE workflow_executions
SET status = @status, error = sqlc.narg('error'), failed_node_id = sqlc.narg('failed_node_id'),
    started_at = coalesce(started_at, sqlc.narg('started_at')), finished_at = now(), resume_at = NULL,
    updated_at = now()
WHERE id = @id AND status IN ('queued', 'running', 'waiting')
RETURNING id, organization_id, workflow_id, status, started_at, finished_at;

-- name: ExecutionPark :one
-- ExecutionPark puts an execution to sleep until resume_at (a durable delay); a continuation job wakes it.
UPDATE workflow_executions
SET status = 'waiting', resume_at = @resume_at, started_at = coalesce(started_at, now()), updated_at = now()
WHERE id = @id AND status IN ('queued', 'running')
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
-- ExecutionList pages through an organization's executions, newest first, keyset-paged on id. The order is the
-- partition key's (a UUIDv7 sorts as its creation time), so that PostgreSQL reads the partitions newest first
-- through workflow_executions_org_id_idx (or the status or workflow twin) and stops once the page is full; the
-- cursor and a created_after bound (by history_id_floor) also leave out the partitions they exclude, and min_id
-- (store.ExecutionList's first probe of the newest days) all those before it.
SELECT * FROM workflow_executions
WHERE organization_id = @organization_id
  AND (sqlc.narg('workflow_id')::uuid IS NULL OR workflow_id = sqlc.narg('workflow_id')::uuid)
  AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status')::text)
  AND (sqlc.narg('kind')::text IS NULL OR kind = sqlc.narg('kind')::text)
  AND (sqlc.narg('created_after')::timestamptz IS NULL OR (created_at >= sqlc.narg('created_after')::timestamptz
       AND id >= history_id_floor(sqlc.narg('created_after')::timestamptz)))
  AND (sqlc.narg('before_id')::uuid IS NULL OR id < sqlc.narg('before_id')::uuid)
  AND (sqlc.narg('min_id')::uuid IS NULL OR id >= sqlc.narg('min_id')::uuid)
ORDER BY id DESC
LIMIT @max_rows;

-- name: ExecutionSearch :many
-- ExecutionSearch ranks an organization's failed executions by how well their error matches a search
-- (search_tsquery, migration 0016), best first, then newest, among the newest max_candidates matches only: a
-- common word matches a tenth of all history, and ranking every match cost ~80 ms at half a million executions.
-- The candidates are read a UTC day at a time, newest day first (one day partition per lateral scan, through its
-- workflow_executions_error_search_idx: the error expression and the error IS NOT NULL are the index's), and the
-- days stop once max_candidates are found. Planned over the whole range instead, PostgreSQL read every day's
-- matches and sorted them all whenever it underestimated how many match (a GIN estimate 30 times low is common):
-- 14,000 pages for a week at five million executions, against one day's ~2,000. The days run from tomorrow (ids
-- made by a clock ahead) down to created_after's, or to the organization's oldest execution's (the first entry of
-- workflow_executions_org_id_idx); created_after also bounds the id (history_id_floor), an hour earlier than its time.
SELECT c.* FROM (
    SELECT m.* FROM generate_series(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day',
            coalesce(date_trunc('day', (sqlc.narg('created_after')::timestamptz - interval '1 hour') AT TIME ZONE 'UTC'),
                (SELECT date_trunc('day', uuid_v7_time(o.id) AT TIME ZONE 'UTC') FROM workflow_executions o
                 WHERE o.organization_id = @organization_id ORDER BY o.id LIMIT 1)),
            interval '-1 day') AS d(day)
    CROSS JOIN LATERAL (
        SELECT * FROM workflow_executions e
        WHERE e.organization_id = @organization_id AND e.error IS NOT NULL
          AND to_tsvector('simple', coalesce(e.error, '')) @@ search_tsquery(@words::text, sqlc.narg('prefix')::text)
          AND e.id >= uuid_v7_floor(d.day AT TIME ZONE 'UTC') AND e.id < uuid_v7_floor((d.day + interval '1 day') AT TIME ZONE 'UTC')
          AND (sqlc.narg('workflow_id')::uuid IS NULL OR e.workflow_id = sqlc.narg('workflow_id')::uuid)
          AND (sqlc.narg('status')::text IS NULL OR e.status = sqlc.narg('status')::text)
          AND (sqlc.narg('kind')::text IS NULL OR e.kind = sqlc.narg('kind')::text)
          AND (sqlc.narg('created_after')::timestamptz IS NULL OR (e.created_at >= sqlc.narg('created_after')::timestamptz
               AND e.id >= history_id_floor(sqlc.narg('created_after')::timestamptz)))
        ORDER BY e.id DESC
        LIMIT @max_candidates
    ) m
    LIMIT @max_candidates
) c
ORDER BY ts_rank(to_tsvector('simple', coalesce(c.error, '')), search_tsquery(@words::text, sqlc.narg('prefix')::text)) DESC,
    c.id DESC
LIMIT @max_rows;

-- name: ExecutionTriggerSearch :many
-- ExecutionTriggerSearch finds, among an organization's newest scan_rows executions that the other filters select
-- (before the cursor), those whose trigger data contains the document contains (or contains_alt, the same value
-- typed otherwise: 100 and "100"), newest first. Trigger data has no index (a GIN index would cost every ingested
-- row far more than the row itself), so a search reads a bounded window through the list's own indexes instead;
-- the next page continues the window from its cursor.
SELECT * FROM (
    SELECT * FROM workflow_executions r
    WHERE r.organization_id = @organization_id
      AND (sqlc.narg('workflow_id')::uuid IS NULL OR r.workflow_id = sqlc.narg('workflow_id')::uuid)
      AND (sqlc.narg('status')::text IS NULL OR r.status = sqlc.narg('status')::text)
      AND (sqlc.narg('kind')::text IS NULL OR r.kind = sqlc.narg('kind')::text)
      AND (sqlc.narg('created_after')::timestamptz IS NULL OR (r.created_at >= sqlc.narg('created_after')::timestamptz
           AND r.id >= history_id_floor(sqlc.narg('created_after')::timestamptz)))
      AND (sqlc.narg('before_id')::uuid IS NULL OR r.id < sqlc.narg('before_id')::uuid)
    ORDER BY r.id DESC
    LIMIT @scan_rows
) recent
WHERE recent.trigger_data @> @contains::jsonb
   OR (sqlc.narg('contains_alt')::jsonb IS NOT NULL AND recent.trigger_data @> sqlc.narg('contains_alt')::jsonb)
ORDER BY recent.id DESC
LIMIT @max_rows;

-- name: ExecutionsForBulk :many
-- ExecutionsForBulk reads the executions of an organization among ids, for a bulk action that authorizes each.
SELECT * FROM workflow_executions WHERE organization_id = @organization_id AND id = ANY(@ids::uuid[]);

-- name: ExecutionNodeRunsDelete :execrows
-- ExecutionNodeRunsDelete deletes the node runs of finished executions about to be deleted (no foreign key does it,
-- migration 0015).
DELETE FROM node_executions n USING workflow_executions e
WHERE n.execution_id = e.id AND e.id = ANY(@ids::uuid[]) AND n.execution_id = ANY(@ids::uuid[])
  AND e.organization_id = @organization_id AND e.status IN ('succeeded', 'failed', 'canceled');

-- name: ExecutionDeleteMany :many
-- ExecutionDeleteMany deletes finished executions of an organization; the rows that reference them by foreign key
-- follow their ON DELETE rules, as with retention. An unfinished one is never deleted (its worker would write to
-- nothing): it is left out and its caller says so.
DELETE FROM workflow_executions
WHERE organization_id = @organization_id AND id = ANY(@ids::uuid[]) AND status IN ('succeeded', 'failed', 'canceled')
RETURNING id, workflow_id, run_number;

-- name: NodeRunList :many
SELECT * FROM node_executions
WHERE execution_id = @execution_id AND organization_id = @organization_id
ORDER BY started_at NULLS LAST, created_at, item_index NULLS FIRST;

-- name: ExecutionLoad :one
-- ExecutionLoad reads what a worker needs to run an execution, without writing: the common start of an execution
-- costs no commit (ExecutionMarkRunning records it later, in groups).
SELECT e.id, e.organization_id, e.workflow_id, e.workflow_version_id, e.version, e.status, e.trigger_kind,
    e.trigger_data, e.cancel_requested_at, e.created_at, e.request_id, e.trace_parent, w.concurrency_limit,
    EXISTS (SELECT 1 FROM node_executions n WHERE n.execution_id = e.id) AS has_runs
FROM workflow_executions e
JOIN workflows w ON w.id = e.workflow_id
WHERE e.id = @id;

-- name: ExecutionMarkRunning :many
-- ExecutionMarkRunning records that queued executions have started. Only queued ones: an execution that finished
-- or parked meanwhile keeps its newer status.
UPDATE workflow_executions
SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
WHERE id = ANY(@ids::uuid[]) AND status = 'queued'
RETURNING id, organization_id, workflow_id;

-- name: ExecutionFinishMany :many
-- ExecutionFinishMany records the final status of many executions in one statement, the group commit of workers.
-- An execution that already has a final status (a cancel won the race) keeps it. The id = ANY bound lets the
-- partitioned table be pruned to the partitions of these ids (a join with the list alone reads every partition).
UPDATE workflow_executions e
SET status = f.status, error = nullif(f.error, ''), failed_node_id = nullif(f.failed_node_id, ''),
    started_at = coalesce(e.started_at, f.started_at), finished_at = now(), resume_at = NULL, updated_at = now()
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@statuses::text[]) AS status, unnest(@errors::text[]) AS error,
        unnest(@failed_node_ids::text[]) AS failed_node_id, unnest(@started_ats::timestamptz[]) AS started_at) f
WHERE e.id = ANY(@ids::uuid[]) AND e.id = f.id AND e.status IN ('queued', 'running', 'waiting')
RETURNING e.id;

-- name: NodeRunInsertMany :exec
-- NodeRunInsertMany records the runs of one or many executions in one statement; a run recorded before (a delay
-- that was waiting, a side effect recorded as it finished) is brought up to date instead of duplicated. Arrays
-- cannot carry NULLs from sqlc's Go types, so -1 stands for "no item index" and "" for "no input/output/error/
-- ran_again". A run brought up to date takes the newer run's ran_again: the record describes its latest run.
INSERT INTO node_executions (organization_id, execution_id, node_id, node_type, status, attempt, item_index, port,
    input, output, error, started_at, finished_at, ran_again)
SELECT unnest(@organization_ids::uuid[]), unnest(@execution_ids::uuid[]), unnest(@node_ids::text[]),
    unnest(@node_types::text[]), unnest(@statuses::text[]), unnest(@attempts::int[]),
    nullif(unnest(@item_indexes::int[]), -1), unnest(@ports::text[]),
    nullif(unnest(@inputs::text[]), '')::jsonb, nullif(unnest(@outputs::text[]), '')::jsonb,
    nullif(unnest(@errors::text[]), ''), unnest(@started_ats::timestamptz[]),
    unnest(@finished_ats::timestamptz[]), nullif(unnest(@ran_agains::text[]), '')
ON CONFLICT (execution_id, node_id, item_index) DO UPDATE
SET status = EXCLUDED.status, attempt = EXCLUDED.attempt, port = EXCLUDED.port, input = EXCLUDED.input,
    output = EXCLUDED.output, error = EXCLUDED.error, ran_again = EXCLUDED.ran_again,
    started_at = coalesce(node_executions.started_at, EXCLUDED.started_at),
    finished_at = EXCLUDED.finished_at, updated_at = now();
