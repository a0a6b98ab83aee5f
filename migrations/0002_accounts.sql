-- +goose Up
-- Accounts: what signing in, sessions and API credentials need beyond the initial schema.

-- Bumped whenever a user's credentials change (password change or reset). Sessions and JWT access tokens carry the
-- version they were issued under and stop working when it moves on, so a reset signs out every other device at once.
-- A counter rather than a timestamp: instances with skewed clocks still agree on it.
ALTER TABLE users ADD COLUMN credentials_version integer NOT NULL DEFAULT 1;

-- A reset or password change revokes the user's outstanding reset links and refresh tokens.
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
-- The members page lists pending invitations; accepting one checks the address has none pending twice.
CREATE INDEX invitations_org_email_idx ON invitations (organization_id, lower(email));
-- The audit page filters by actor.
CREATE INDEX audit_log_org_actor_idx ON audit_log (organization_id, actor_user_id, created_at DESC);

-- +goose Down
DROP INDEX audit_log_org_actor_idx, invitations_org_email_idx, refresh_tokens_user_idx, password_resets_user_idx;
ALTER TABLE users DROP COLUMN credentials_version;
