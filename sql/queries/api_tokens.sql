-- name: APITokenCreate :one
INSERT INTO api_tokens (organization_id, user_id, name, token_hash, token_prefix, expires_at, scopes)
VALUES (@organization_id, @user_id, @name, @token_hash, @token_prefix, sqlc.narg('expires_at'), @scopes::text[])
RETURNING id, organization_id, user_id, name, token_prefix, last_used_at, expires_at, revoked_at, created_at, scopes;

-- name: APITokenListForUser :many
-- APITokenListForUser lists a user's tokens in one organization, live ones first.
SELECT id, organization_id, user_id, name, token_prefix, last_used_at, expires_at, revoked_at, created_at, scopes
FROM api_tokens
WHERE organization_id = @organization_id AND user_id = @user_id
ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC;

-- name: APITokenRevoke :one
UPDATE api_tokens SET revoked_at = now()
WHERE id = @id AND organization_id = @organization_id AND user_id = @user_id AND revoked_at IS NULL
RETURNING id, organization_id, user_id, name, token_prefix, last_used_at, expires_at, revoked_at, created_at, scopes;

-- name: APITokenAuthenticate :one
-- APITokenAuthenticate resolves a presented token to its live owner: the token must be unrevoked and unexpired
-- and its user still a member of the token's organization.
SELECT t.id AS token_id, t.last_used_at, t.scopes, u.id AS user_id, u.email, u.name, u.instance_admin, m.role,
    o.id AS organization_id, o.name AS organization_name, o.slug AS organization_slug
FROM api_tokens t
JOIN users u ON u.id = t.user_id
JOIN memberships m ON m.user_id = t.user_id AND m.organization_id = t.organization_id
JOIN organizations o ON o.id = t.organization_id
WHERE t.token_hash = @token_hash AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now());

-- name: APITokenTouch :exec
-- APITokenTouch records a token's use at most once a minute, so a busy script costs one write a minute.
UPDATE api_tokens SET last_used_at = now()
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');
