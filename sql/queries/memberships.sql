-- name: MembershipUpsert :one
-- MembershipUpsert adds a user to an organization, or changes the role they already have there.
INSERT INTO memberships (organization_id, user_id, role)
VALUES (@organization_id, @user_id, @role)
ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role
RETURNING *;

-- name: MembershipGet :one
SELECT * FROM memberships WHERE organization_id = @organization_id AND user_id = @user_id;

-- name: MembershipCreate :one
-- MembershipCreate adds a user to an organization; a user already there is a conflict.
INSERT INTO memberships (organization_id, user_id, role)
VALUES (@organization_id, @user_id, @role)
RETURNING *;

-- name: MembershipListByOrganization :many
-- MembershipListByOrganization lists an organization's members, most powerful first.
SELECT m.user_id, m.role, m.created_at, u.email, u.name, u.last_login_at
FROM memberships m
JOIN users u ON u.id = m.user_id
WHERE m.organization_id = @organization_id
ORDER BY array_position(ARRAY['owner', 'admin', 'member', 'viewer'], m.role), lower(u.name), u.id;

-- name: MembershipListByUser :many
-- MembershipListByUser lists the organizations a user belongs to, for the organization switcher, oldest first.
SELECT o.id, o.name, o.slug, m.role
FROM memberships m
JOIN organizations o ON o.id = m.organization_id
WHERE m.user_id = @user_id
ORDER BY m.created_at, o.id;

-- name: MembershipUpdateRole :one
UPDATE memberships SET role = @role
WHERE organization_id = @organization_id AND user_id = @user_id
RETURNING *;

-- name: MembershipDelete :execrows
DELETE FROM memberships WHERE organization_id = @organization_id AND user_id = @user_id;

-- name: MembershipCountOwners :one
SELECT count(*) FROM memberships WHERE organization_id = @organization_id AND role = 'owner';

-- name: PrincipalGet :one
-- PrincipalGet is read on every authenticated request: who the user is and the role they hold in the organization
-- right now, so a removed member or a changed role takes effect at once.
SELECT u.id AS user_id, u.email, u.name, u.instance_admin, u.credentials_version, m.role,
    o.id AS organization_id, o.name AS organization_name, o.slug AS organization_slug
FROM users u
JOIN memberships m ON m.user_id = u.id
JOIN organizations o ON o.id = m.organization_id
WHERE u.id = @user_id AND m.organization_id = @organization_id;
