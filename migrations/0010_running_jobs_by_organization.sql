-- +goose Up
-- +goose NO TRANSACTION
-- The per-organization cap (ORG_MAX_RUNNING_EXECUTIONS) counts an organization's running execution jobs on every
-- pickup. Only running jobs are indexed, so the index stays as small as the number of busy workers; built
-- concurrently, so that an instance with a large river_job table keeps working while it is made.
CREATE INDEX CONCURRENTLY IF NOT EXISTS river_job_running_organization
    ON river_job ((args->>'organization_id'))
    WHERE state = 'running';

-- +goose Down
-- +goose NO TRANSACTION
DROP INDEX CONCURRENTLY IF EXISTS river_job_running_organization;
