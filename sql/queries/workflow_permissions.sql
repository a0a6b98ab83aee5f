-- name: WorkflowPermissionGet :one
-- WorkflowPermissionGet returns a user's grant on one workflow, for authorization.
SELECT permission FROM workflow_permissions
WHERE organization_id = @organization_id AND workflow_id = @workflow_id AND user_id = @user_id;

-- name: WorkflowPermissionUpsert :one
-- WorkflowPermissionUpsert grants a member access to one workflow, or changes the grant they have.
INSERT INTO workflow_permissions (organization_id, workflow_id, user_id, permission)
VALUES (@organization_id, @workflow_id, @user_id, @permission)
ON CONFLICT (workflow_id, user_id) DO UPDATE SET permission = EXCLUDED.permission
RETURNING *;

-- name: WorkflowPermissionDelete :execrows
DELETE FROM workflow_permissions
WHERE organization_id = @organization_id AND workflow_id = @workflow_id AND user_id = @user_id;

-- name: WorkflowPermissionList :many
-- WorkflowPermissionList lists the grants on one workflow held by current members (a former member's grant is
-- inert: authorization needs a role in the organization).
SELECT p.user_id, p.permission, u.email, u.name
FROM workflow_permissions p
JOIN users u ON u.id = p.user_id
JOIN memberships m ON m.organization_id = p.organization_id AND m.user_id = p.user_id
WHERE p.organization_id = @organization_id AND p.workflow_id = @workflow_id
ORDER BY lower(u.name), p.user_id;

-- name: WorkflowPermissionCounts :many
-- WorkflowPermissionCounts counts the grants on each of some workflows of an organization, for the workflow list.
SELECT workflow_id, count(*)::int AS grants
FROM workflow_permissions
WHERE organization_id = @organization_id AND workflow_id = ANY(@workflow_ids::uuid[])
GROUP BY workflow_id;
