-- name: UploadCreate :one
INSERT INTO uploads (organization_id, source, workflow_id, execution_id, form_submission_id, storage_key, filename,
    content_type, size_bytes, sha256, created_by, expires_at)
VALUES (@organization_id, @source, sqlc.narg('workflow_id'), sqlc.narg('execution_id'),
    sqlc.narg('form_submission_id'), @storage_key, @filename, @content_type, @size_bytes, @sha256,
    sqlc.narg('created_by'), sqlc.narg('expires_at'))
RETURNING *;

-- name: UploadGet :one
-- UploadGet returns an organization's file; expired files are gone even before the sweep deletes them.
SELECT * FROM uploads
WHERE id = @id AND organization_id = @organization_id AND (expires_at IS NULL OR expires_at > now());

-- name: UploadGetByStorageKey :one
-- UploadGetByStorageKey resolves a storage reference found in a node's output, only within the organization, so
-- a reference copied from another tenant opens nothing.
SELECT * FROM uploads
WHERE storage_key = @storage_key AND organization_id = @organization_id
  AND (expires_at IS NULL OR expires_at > now());

-- name: UploadListForExecution :many
-- UploadListForExecution lists the files an execution produced, for its page.
SELECT * FROM uploads
WHERE organization_id = @organization_id AND execution_id = @execution_id::uuid
  AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at, id;

-- name: UploadListExpired :many
-- UploadListExpired returns expired files, oldest first, for the retention sweep (every organization).
SELECT id, storage_key FROM uploads
WHERE expires_at IS NOT NULL AND expires_at <= @now::timestamptz
ORDER BY expires_at
LIMIT @max_rows;

-- name: UploadDelete :exec
DELETE FROM uploads WHERE id = @id;
