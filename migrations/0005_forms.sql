-- +goose Up
-- Forms at run time: a submission counter the submission limit is enforced against, and the indexes that deleting
-- submissions and executions needs.

-- The number of stored submissions of a form. A submission claims its place with one conditional UPDATE of this
-- column (published, not past its close date, under its limit), so the limit holds under concurrent submissions
-- without counting rows; deleting a submission gives its place back.
ALTER TABLE forms ADD COLUMN submission_count integer NOT NULL DEFAULT 0 CHECK (submission_count >= 0);

-- A submission's files: its detail page lists them, and deleting it expires them (the file sweep removes them).
CREATE INDEX uploads_form_submission_idx ON uploads (form_submission_id) WHERE form_submission_id IS NOT NULL;

-- Deleting an execution cascades here; without this index every such delete scans the table.
CREATE INDEX form_submission_executions_execution_idx ON form_submission_executions (execution_id);

-- +goose Down
DROP INDEX form_submission_executions_execution_idx;
DROP INDEX uploads_form_submission_idx;
ALTER TABLE forms DROP COLUMN submission_count;
