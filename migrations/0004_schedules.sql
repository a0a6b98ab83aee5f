-- +goose Up
-- One row per active workflow whose trigger is a schedule: when it fires next. The scheduler claims due rows with
-- FOR UPDATE SKIP LOCKED and moves next_run_at forward in the same transaction as the execution it starts, so each
-- tick runs once however many instances run, and a backlog after downtime collapses into one run.
CREATE TABLE workflow_schedules (
    workflow_id     uuid PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    next_run_at     timestamptz NOT NULL,
    last_run_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_schedules_due_idx ON workflow_schedules (next_run_at);
CREATE TRIGGER workflow_schedules_touch_updated_at BEFORE UPDATE ON workflow_schedules
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- +goose Down
DROP TABLE workflow_schedules;
