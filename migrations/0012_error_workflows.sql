-- +goose Up
-- Executions started by a trigger.error workflow because another execution failed: trigger_kind 'error'. They are
-- the mark that keeps error workflows from triggering each other (a failed 'error' execution triggers nothing).
-- The check is replaced by a wider one, added NOT VALID and validated apart so that the table is not locked
-- against writes while its rows are checked.
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_trigger_kind_check;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_trigger_kind_check
    CHECK (trigger_kind IN ('webhook', 'form', 'schedule', 'file_upload', 'manual', 'retry', 'error')) NOT VALID;
ALTER TABLE workflow_executions VALIDATE CONSTRAINT workflow_executions_trigger_kind_check;

-- The idempotency key of the action.email node run that sends a message. Each attempt of the run writes a row
-- (status sending, committed) before its SMTP transaction and finishes it after; the next attempt, or a resumed
-- pass after a crash, reads the run's latest row and knows whether its message went (sent), surely did not
-- (failed), or may have (sending: the process stopped between the two). NULL for rows from before this column,
-- which are never looked up.
ALTER TABLE email_deliveries ADD COLUMN idempotency_key text;
CREATE INDEX email_deliveries_idempotency_key_idx ON email_deliveries (organization_id, idempotency_key, created_at)
    WHERE idempotency_key IS NOT NULL;
-- unknown: a resumed node run found its message left sending, so the SMTP server may or may not have it, and did
-- not send it again (the node failed asking for a person's decision).
ALTER TABLE email_deliveries DROP CONSTRAINT email_deliveries_status_check;
ALTER TABLE email_deliveries ADD CONSTRAINT email_deliveries_status_check
    CHECK (status IN ('sending', 'sent', 'failed', 'unknown')) NOT VALID;
ALTER TABLE email_deliveries VALIDATE CONSTRAINT email_deliveries_status_check;

-- +goose Down
UPDATE email_deliveries SET status = 'sending' WHERE status = 'unknown';
ALTER TABLE email_deliveries DROP CONSTRAINT email_deliveries_status_check;
ALTER TABLE email_deliveries ADD CONSTRAINT email_deliveries_status_check
    CHECK (status IN ('sending', 'sent', 'failed'));
DROP INDEX email_deliveries_idempotency_key_idx;
ALTER TABLE email_deliveries DROP COLUMN idempotency_key;
DELETE FROM workflow_executions WHERE trigger_kind = 'error';
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_trigger_kind_check;
ALTER TABLE workflow_executions ADD CONSTRAINT workflow_executions_trigger_kind_check
    CHECK (trigger_kind IN ('webhook', 'form', 'schedule', 'file_upload', 'manual', 'retry'));
