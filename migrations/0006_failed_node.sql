-- +goose Up
-- The node a failed execution stopped at, as the engine reported it: the execution page marks it, and nothing has
-- to read it back out of the error's wording. NULL when the execution did not fail at a node (or failed before
-- this column existed).
ALTER TABLE workflow_executions ADD COLUMN failed_node_id text;

-- +goose Down
ALTER TABLE workflow_executions DROP COLUMN failed_node_id;
