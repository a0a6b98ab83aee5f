-- name: AuditCreate :exec
-- AuditCreate records one state change; callers run it in the transaction of the change itself.
INSERT INTO audit_log (organization_id, actor_user_id, actor_token_id, action, target_type, target_id, remote_ip,
    request_id, before, after)
VALUES (sqlc.narg('organization_id'), sqlc.narg('actor_user_id'), sqlc.narg('actor_token_id'), @action,
    @target_type, @target_id, sqlc.narg('remote_ip'), @request_id, sqlc.narg('before'), sqlc.narg('after'));

-- name: AuditList :many
-- AuditList pages through an organization's audit log, newest first, keyset-paged on (created_at, id). action
-- matches as a prefix ("member." finds every membership change).
SELECT a.id, a.organization_id, a.actor_user_id, a.actor_token_id, a.action, a.target_type, a.target_id,
    a.remote_ip, a.request_id, a.before, a.after, a.created_at,
    coalesce(u.email, '') AS actor_email, coalesce(u.name, '') AS actor_name
FROM audit_log a
LEFT JOIN users u ON u.id = a.actor_user_id
WHERE a.organization_id = @organization_id
  AND (sqlc.narg('action')::text IS NULL OR starts_with(a.action, sqlc.narg('action')::text))
  AND (sqlc.narg('actor_user_id')::uuid IS NULL OR a.actor_user_id = sqlc.narg('actor_user_id')::uuid)
  AND (sqlc.narg('created_from')::timestamptz IS NULL OR a.created_at >= sqlc.narg('created_from')::timestamptz)
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR a.created_at < sqlc.narg('created_before')::timestamptz)
  AND (sqlc.narg('cursor_created_at')::timestamptz IS NULL
       OR (a.created_at, a.id) < (sqlc.narg('cursor_created_at')::timestamptz, sqlc.narg('cursor_id')::uuid))
ORDER BY a.created_at DESC, a.id DESC
LIMIT @max_rows;
