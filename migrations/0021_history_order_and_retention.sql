-- +goose Up
-- The execution lists and the dashboard order by id, the partition key (a UUIDv7 sorts as its creation time
-- does), instead of created_at: with an index that ends in id, PostgreSQL reads the partitions newest first as an
-- ordered Append and stops once the page is full, where an order by created_at merged every partition's index.
-- Each created_at index is replaced by its id twin (the queries that bounded created_at bound id too, by
-- history_id_floor), so ingest maintains as many indexes as before.
DROP INDEX workflow_executions_org_created_idx;
DROP INDEX workflow_executions_org_status_idx;
DROP INDEX workflow_executions_workflow_idx;
CREATE INDEX workflow_executions_org_id_idx ON workflow_executions (organization_id, id DESC);
CREATE INDEX workflow_executions_org_status_id_idx ON workflow_executions (organization_id, status, id DESC);
CREATE INDEX workflow_executions_workflow_id_idx ON workflow_executions (workflow_id, id DESC);

-- An organization's own execution retention, in days, for succeeded and for failed (and canceled) executions;
-- NULL keeps the instance default (EXECUTION_RETENTION_SUCCEEDED, EXECUTION_RETENTION_FAILED). Longer or shorter
-- than the default: the pruner drops a whole day only once it is past every organization's retention, and deletes
-- by organization in batches otherwise. Ten years at most, so that a typo cannot keep history forever by accident.
CREATE TABLE organization_retention (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    succeeded_days  integer CHECK (succeeded_days BETWEEN 1 AND 3650),
    failed_days     integer CHECK (failed_days BETWEEN 1 AND 3650),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE organization_retention;
DROP INDEX workflow_executions_workflow_id_idx;
DROP INDEX workflow_executions_org_status_id_idx;
DROP INDEX workflow_executions_org_id_idx;
CREATE INDEX workflow_executions_org_status_idx ON workflow_executions (organization_id, status, created_at DESC);
CREATE INDEX workflow_executions_org_created_idx ON workflow_executions (organization_id, created_at DESC);
CREATE INDEX workflow_executions_workflow_idx ON workflow_executions (workflow_id, created_at DESC);
