-- +goose Up
-- The last "test connection" of each integration, which the integrations list shows next to its kind and host:
-- when it ran, and the problem it found ('' when it connected). NULL until it is first tested.
ALTER TABLE integrations ADD COLUMN last_tested_at timestamptz,
    ADD COLUMN last_test_problem text CHECK (length(last_test_problem) <= 2000);

-- +goose Down
ALTER TABLE integrations DROP COLUMN last_test_problem, DROP COLUMN last_tested_at;
