-- +goose Up
-- Personal API token scopes (README, "Accounts and security"): read < run < write < admin, each including the ones
-- before it. A token chooses its scopes at creation; the application checks them on every request.
--
-- Tokens made before scopes existed could do whatever their user's role allowed, and scripts rely on that, so they
-- get admin, as n8n and Windmill keys kept full access when scopes came: what admin no longer reaches (making
-- someone owner) is closed to every token by the re-entered-password rule, not by scopes.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{admin}'
    CHECK (cardinality(scopes) BETWEEN 1 AND 4 AND scopes <@ ARRAY['read', 'run', 'write', 'admin']);
-- New tokens name their scopes: no default hands out admin by omission.
ALTER TABLE api_tokens ALTER COLUMN scopes DROP DEFAULT;

-- An owner invitation could be created by any owner's personal token, then accepted by whoever held the link, and
-- nothing tells a leaked token's invitation from a real one. From now on only a session that re-entered its
-- password invites owners, so the pending owner invitations from before are withdrawn: an owner re-invites in a
-- minute, while a planted one would make a permanent owner.
UPDATE invitations SET revoked_at = now(), updated_at = now()
WHERE role = 'owner' AND accepted_at IS NULL AND revoked_at IS NULL;

-- +goose Down
-- The withdrawn owner invitations stay withdrawn: which were live cannot be told from which were revoked by hand.
ALTER TABLE api_tokens DROP COLUMN scopes;
