-- name: MembershipUpsert :one
-- MembershipUpsert adds a user to an organization, or changes the role they already have there.
INSERT INTO memberships (organization_id, user_id, role)
VALUES (@organization_id, @user_id, @role)
ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role
RETURNING *;

-- name: MembershipGet :one
SELECT * FROM memberships WHERE organization_id = @organization_id AND user_id = @user_id;
