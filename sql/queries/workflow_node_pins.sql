-- name: WorkflowNodePinList :many
-- WorkflowNodePinList returns every pinned node output of a workflow's draft, for the editor and for a test run
-- that uses pins.
SELECT node_id, port, data, updated_by, updated_at FROM workflow_node_pins
WHERE organization_id = @organization_id AND workflow_id = @workflow_id
ORDER BY node_id;

-- name: WorkflowNodePinSet :one
-- WorkflowNodePinSet pins a node's output and the port it leaves on, or replaces what was pinned before.
INSERT INTO workflow_node_pins (organization_id, workflow_id, node_id, port, data, updated_by, updated_at)
VALUES (@organization_id, @workflow_id, @node_id, @port, @data, @updated_by, now())
ON CONFLICT (workflow_id, node_id) DO UPDATE
SET port = EXCLUDED.port, data = EXCLUDED.data, updated_by = EXCLUDED.updated_by, updated_at = now()
WHERE workflow_node_pins.organization_id = EXCLUDED.organization_id
RETURNING node_id, port, data, updated_by, updated_at;

-- name: WorkflowNodePinDelete :execrows
-- WorkflowNodePinDelete unpins a node.
DELETE FROM workflow_node_pins
WHERE organization_id = @organization_id AND workflow_id = @workflow_id AND node_id = @node_id;

-- name: WorkflowLastTestRunID :one
-- WorkflowLastTestRunID returns the newest manual (editor test) run of a workflow, for the node view to show its
-- per-node data again after a reload. The id orders executions (UUIDv7) and the workflow index ends in it.
SELECT id FROM workflow_executions
WHERE organization_id = @organization_id AND workflow_id = @workflow_id AND trigger_kind = 'manual'
ORDER BY id DESC
LIMIT 1;
