-- name: RefreshTokenCreate :one
INSERT INTO refresh_tokens (family_id, user_id, organization_id, token_hash, expires_at)
VALUES (@family_id, @user_id, @organization_id, @token_hash, @expires_at)
RETURNING id;

-- name: RefreshTokenGetForUpdate :one
-- RefreshTokenGetForUpdate locks a presented refresh token, so two refreshes racing with the same token cannot
-- both rotate it.
SELECT * FROM refresh_tokens WHERE token_hash = @token_hash FOR UPDATE;

-- name: RefreshTokenMarkReplaced :exec
UPDATE refresh_tokens SET replaced_by = @replaced_by WHERE id = @id;

-- name: RefreshTokenRevokeFamily :execrows
-- RefreshTokenRevokeFamily ends a whole login: every token rotated from the same first one.
UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())
WHERE family_id = @family_id AND revoked_at IS NULL;

-- name: RefreshTokenRevokeForUser :exec
UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = @user_id AND revoked_at IS NULL;
