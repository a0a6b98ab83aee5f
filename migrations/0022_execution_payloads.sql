-- +goose Up
-- Payloads (trigger data, node inputs and outputs) larger than PAYLOAD_INLINE_LIMIT live in the file storage
-- backend; the row holds a reference {"$payload": {...}} (sql/store/payloads.go). This table says which execution
-- of which organization each stored object belongs to: it scopes every read to the organization, and it is how
-- the pruner's sweep finds the objects whose execution is gone. It has no foreign key to workflow_executions on
-- purpose: a claim is written (committed) before the execution row that refers to the object, so that an object
-- whose row never commits is still found and swept; and dropped partitions leave no rows to join anyway. A retry
-- that carries a reference over adds its own claim, and an object is deleted only once no claim's execution exists.
CREATE TABLE execution_payloads (
    execution_id    uuid NOT NULL,
    storage_key     text NOT NULL,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, storage_key)
);
CREATE INDEX execution_payloads_key_idx ON execution_payloads (storage_key);
CREATE INDEX execution_payloads_created_idx ON execution_payloads (created_at);

-- +goose Down
DROP TABLE execution_payloads;
