-- +goose Up
-- Executions get a short readable identity and a kind.
--
--   * run_number: "#123", unique and gap-free per workflow. workflow_run_counters holds each workflow's last
--     number; whoever creates executions bumps it in the transaction that writes them (the ingest path once per
--     workflow per group commit, with one statement for the whole group), so the row lock serializes the writers of
--     one workflow until their commit, and a rolled-back write gives its numbers back. No unique index on
--     (workflow_id, run_number): on a table partitioned by id it would have to include the id, proving nothing, and
--     every insert would pay for it; the counter is the guarantee.
--   * kind: production (a trigger fired, or a run through the API), test (the editor's Test run) or retry (run
--     again). Test runs are left out of the dashboard's counts and the statistics rollup. No index: the list filters
--     it while reading newest first through the existing indexes.
--
-- Both columns are added without rewriting a partition (a NULL and a constant default cost no write); the numbers
-- of the executions already stored are backfilled once, in the order they were created.
CREATE TABLE workflow_run_counters (
    workflow_id     uuid PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    last_number     bigint NOT NULL CHECK (last_number >= 0)
);

ALTER TABLE workflow_executions ADD COLUMN run_number bigint;
ALTER TABLE workflow_executions ADD COLUMN kind text NOT NULL DEFAULT 'production'
    CHECK (kind IN ('production', 'test', 'retry'));

UPDATE workflow_executions e SET run_number = n.number, kind = CASE WHEN e.trigger_kind = 'retry' THEN 'retry' ELSE 'production' END
FROM (SELECT id, row_number() OVER (PARTITION BY workflow_id ORDER BY id) AS number FROM workflow_executions) n
WHERE e.id = n.id;

INSERT INTO workflow_run_counters (workflow_id, organization_id, last_number)
SELECT w.id, w.organization_id, coalesce(max(e.run_number), 0)
FROM workflows w JOIN workflow_executions e ON e.workflow_id = w.id
GROUP BY w.id, w.organization_id;

-- +goose Down
ALTER TABLE workflow_executions DROP COLUMN kind;
ALTER TABLE workflow_executions DROP COLUMN run_number;
DROP TABLE workflow_run_counters;
