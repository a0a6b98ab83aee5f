-- +goose Up
-- The output port pinned data leaves on: a branching node (condition.if, condition.switch) takes one port per
-- run, and its children on the other ports are skipped. A pin says which, so that a test run from pinned data
-- follows the branch a real run would; "" is the default port of a node that does not branch.
ALTER TABLE workflow_node_pins ADD COLUMN port text NOT NULL DEFAULT '' CHECK (length(port) <= 200);

-- +goose Down
ALTER TABLE workflow_node_pins DROP COLUMN port;
