-- +goose Up
-- Pinned data of the canvas editor: an author fixes a node's output while building, so the editor's test runs
-- feed it downstream instead of running the node (n8n's "pin data"). Pins belong to the draft: they are read only
-- by a test run that asks for them (POST workflows/{id}/run?pins=true), never by triggered runs of a published
-- version. One row per node; the data is bounded (256 KiB of JSON text) so a pin cannot bloat every test run.
CREATE TABLE workflow_node_pins (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    node_id         text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 200),
    data            jsonb NOT NULL CHECK (octet_length(data::text) <= 262144),
    updated_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, node_id)
);
CREATE INDEX workflow_node_pins_org_idx ON workflow_node_pins (organization_id, workflow_id);

-- +goose Down
DROP TABLE workflow_node_pins;
