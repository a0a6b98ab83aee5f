-- +goose Up
-- Why a node run repeats a run that may already have happened: set when an execution resumed after its previous
-- pass stopped (its worker process died, the database could not be reached while recording, …) and the node was
-- one the stopped pass may have had under way. The execution page and the API show it, so a repeated side effect
-- (which carried the same idempotency key) is explained. NULL for every other run.
ALTER TABLE node_executions ADD COLUMN ran_again text;

-- +goose Down
ALTER TABLE node_executions DROP COLUMN ran_again;
