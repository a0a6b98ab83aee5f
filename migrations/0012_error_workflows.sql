-- +goose Up
-- Executions started by a trigger.error workflow because another execution failed: trigger_kind 'error'. They are
-- the mark that keeps error workflows from triggering each other (a failed 'error' execution triggers nothing).
-- The check is replaced by a wider one, added NOT VALID and validated apart so that the table is not locked
-- against writes while its rows are checked.
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_trigger_kind_check;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_trigger_kind_check
    CHECK (trigger_kind IN ('webhook', 'form', 'schedule', 'file_upload', 'manual', 'retry', 'error')) NOT VALID;
ALTER TABLE workflow_executions VALIDATE CONSTRAINT workflow_executions_trigger_kind_check;

-- The idempotency key of the action.email node run that sends a message: one delivery row per node run, claimed
-- (status sending, committed) before the SMTP transaction and finished after it. A resumed run finds the row and
-- knows whether its message went (sent), surely did not (failed), or may have (sending: the process stopped
-- between the two). NULL for rows from before this column, which are never looked up.
ALTER TABLE email_deliveries ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX email_deliveries_idempotency_key_idx ON email_deliveries (organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX email_deliveries_idempotency_key_idx;
ALTER TABLE email_deliveries DROP COLUMN idempotency_key;
DELETE FROM workflow_executions WHERE trigger_kind = 'error';
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_trigger_kind_check;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_trigger_kind_check
    CHECK (trigger_kind IN ('webhook', 'form', 'schedule', 'file_upload', 'manual', 'retry'));
