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
SELECT p.user_id, p.permission, u.email, u.name
FROM workflow_permissions p
JOIN users u ON u.id = p.user_id
WHERE p.organization_id = @organization_id AND p.workflow_id = @workflow_id
ORDER BY lower(u.name), p.user_id;
