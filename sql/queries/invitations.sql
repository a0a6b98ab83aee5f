-- name: InvitationCreate :one
INSERT INTO invitations (organization_id, email, role, token_hash, invited_by, expires_at)
VALUES (@organization_id, @email, @role, @token_hash, @invited_by, @expires_at)
RETURNING *;

-- name: InvitationRevokePendingForEmail :exec
-- InvitationRevokePendingForEmail retires an address's earlier invitations when a new one is sent: one live link
-- per person.
UPDATE invitations SET revoked_at = now()
WHERE organization_id = @organization_id AND lower(email) = lower(@email)
  AND accepted_at IS NULL AND revoked_at IS NULL;

-- name: InvitationGetByTokenHash :one
-- InvitationGetByTokenHash finds a usable invitation: not accepted, not revoked, not expired.
SELECT i.*, o.name AS organization_name
FROM invitations i
JOIN organizations o ON o.id = i.organization_id
WHERE i.token_hash = @token_hash AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now();

-- name: InvitationClaim :one
-- InvitationClaim marks a usable invitation accepted; no row means it was used, revoked or expired meanwhile, so a
-- link works once however many requests race for it.
UPDATE invitations SET accepted_at = now()
WHERE token_hash = @token_hash AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
RETURNING *;

-- name: InvitationListPending :many
SELECT i.id, i.email, i.role, i.expires_at, i.created_at, coalesce(u.name, '') AS invited_by_name
FROM invitations i
LEFT JOIN users u ON u.id = i.invited_by
WHERE i.organization_id = @organization_id AND i.accepted_at IS NULL AND i.revoked_at IS NULL
  AND i.expires_at > now()
ORDER BY i.created_at DESC, i.id DESC;

-- name: InvitationRevoke :one
UPDATE invitations SET revoked_at = now()
WHERE id = @id AND organization_id = @organization_id AND accepted_at IS NULL AND revoked_at IS NULL
RETURNING *;

-- name: InvitationInviterIsOwner :one
-- InvitationInviterIsOwner reports whether an invitation's inviter is an owner of its organization now: an owner
-- invitation is honoured only while the owner who sent it still is one.
SELECT EXISTS (
    SELECT 1 FROM memberships
    WHERE organization_id = @organization_id AND user_id = sqlc.narg('invited_by')::uuid AND role = 'owner'
);
