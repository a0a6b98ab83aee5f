-- +goose Up
-- Integration hygiene: who may use an integration in workflows, and whether a database integration may connect
-- with a privileged role.

-- Use policy. Unrestricted (the default, and what every existing integration keeps) lets everyone in the
-- organization use it; restricted lets only admins, owners, the roles in use_roles and the users in use_user_ids.
-- Checked when a workflow version is saved and again when it runs (against the version's author).
ALTER TABLE integrations
    ADD COLUMN use_restricted boolean NOT NULL DEFAULT false,
    ADD COLUMN use_roles text[] NOT NULL DEFAULT '{}'
        CHECK (use_roles <@ ARRAY['owner', 'admin', 'member', 'viewer']::text[]),
    ADD COLUMN use_user_ids uuid[] NOT NULL DEFAULT '{}',
    -- Set only by an instance administrator: a PostgreSQL integration may connect as a superuser or a member of
    -- pg_read_server_files, pg_write_server_files or pg_execute_server_program. Refused otherwise.
    ADD COLUMN allow_privileged_role boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE integrations
    DROP COLUMN allow_privileged_role,
    DROP COLUMN use_user_ids,
    DROP COLUMN use_roles,
    DROP COLUMN use_restricted;
