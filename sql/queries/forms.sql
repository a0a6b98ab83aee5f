-- Forms, their submissions, and the files that arrive from outside (form file fields and workflow uploads).
-- Every query names its columns rather than SELECT *: the generated tsvector column (search) stays in the database.

-- name: FormCreate :one
INSERT INTO forms (organization_id, name, slug, description, fields, settings, published, created_by)
VALUES (@organization_id, @name, @slug, @description, @fields, @settings, @published, sqlc.narg('created_by'))
RETURNING id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at;

-- name: FormGet :one
SELECT id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at
FROM forms
WHERE id = @id AND organization_id = @organization_id;

-- name: FormGetBySlug :one
-- FormGetBySlug resolves a public address /f/{slug}. Slugs are unique across the instance, so this is the one
-- query on forms without an organization: the public page has none to give.
SELECT id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at
FROM forms
WHERE slug = @slug;

-- name: FormList :many
-- FormList pages through an organization's forms, newest first, keyset-paged on (created_at, id).
SELECT id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at
FROM forms
WHERE organization_id = @organization_id
  AND (sqlc.narg('published')::boolean IS NULL OR published = sqlc.narg('published')::boolean)
  AND (sqlc.narg('before_created_at')::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg('before_created_at')::timestamptz, sqlc.narg('before_id')::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: FormSearch :many
-- FormSearch ranks an organization's forms by how well their name (weighted above) and description match a search
-- (search_tsquery, migration 0016), best first: one page, since a ranking has no stable keyset.
SELECT id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at
FROM forms
WHERE organization_id = @organization_id
  AND search @@ search_tsquery(@words::text, sqlc.narg('prefix')::text)
  AND (sqlc.narg('published')::boolean IS NULL OR published = sqlc.narg('published')::boolean)
ORDER BY ts_rank(search, search_tsquery(@words::text, sqlc.narg('prefix')::text)) DESC, created_at DESC, id DESC
LIMIT @max_rows;

-- name: FormUpdate :one
UPDATE forms
SET name = @name, slug = @slug, description = @description, fields = @fields, settings = @settings,
    published = @published
WHERE id = @id AND organization_id = @organization_id
RETURNING id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at;

-- name: FormSetPublished :one
UPDATE forms SET published = @published
WHERE id = @id AND organization_id = @organization_id
RETURNING id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at;

-- name: FormDelete :execrows
DELETE FROM forms WHERE id = @id AND organization_id = @organization_id;

-- name: FormClaimSubmission :one
-- FormClaimSubmission takes a place for one submission, only while the form is published, before its close date
-- and under its submission limit. The row lock it takes serializes the submissions of one form until their
-- transactions end, which is what makes the limit exact; no row means the form is not accepting submissions.
UPDATE forms
SET submission_count = submission_count + 1
WHERE id = @id
  AND published
  AND (settings->>'close_at' IS NULL OR (settings->>'close_at')::timestamptz > now())
  AND (settings->>'submission_limit' IS NULL OR submission_count < (settings->>'submission_limit')::integer)
RETURNING id, organization_id, slug;

-- name: FormReleaseSubmission :exec
-- FormReleaseSubmission gives a deleted submission's place back.
UPDATE forms SET submission_count = greatest(submission_count - @released::integer, 0)
WHERE id = @id AND organization_id = @organization_id;

-- name: FormTriggeredWorkflows :many
-- FormTriggeredWorkflows lists the active workflows of the form's organization whose current version starts with
-- a trigger.form naming the form, by id or by slug, with what starting their executions needs.
SELECT w.id AS workflow_id, w.priority, v.id AS version_id, v.number AS version
FROM workflows w
JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version
WHERE w.organization_id = @organization_id AND w.active AND w.archived_at IS NULL
  AND EXISTS (
      SELECT 1 FROM jsonb_array_elements(v.definition->'nodes') AS n
      WHERE n->>'type' = 'trigger.form' AND n->'config'->>'form_id' IN (@form_id::text, @form_slug::text))
ORDER BY w.created_at, w.id;

-- name: FormSubmissionCreate :one
INSERT INTO form_submissions (id, organization_id, form_id, data, remote_ip, user_agent)
VALUES (@id, @organization_id, @form_id, @data, sqlc.narg('remote_ip'), @user_agent)
RETURNING id, organization_id, form_id, data, remote_ip, user_agent, created_at;

-- name: FormSubmissionGet :one
SELECT id, organization_id, form_id, data, remote_ip, user_agent, created_at
FROM form_submissions
WHERE id = @id AND form_id = @form_id AND organization_id = @organization_id;

-- name: FormSubmissionList :many
-- FormSubmissionList pages through a form's submissions, newest first, keyset-paged on (created_at, id), with
-- full-text search over every string submitted and a creation-time window [created_from, created_before).
SELECT id, organization_id, form_id, data, remote_ip, user_agent, created_at
FROM form_submissions
WHERE organization_id = @organization_id AND form_id = @form_id
  AND (sqlc.narg('query')::text IS NULL OR search @@ websearch_to_tsquery('simple', sqlc.narg('query')::text))
  AND (sqlc.narg('created_from')::timestamptz IS NULL OR created_at >= sqlc.narg('created_from')::timestamptz)
  AND (sqlc.narg('created_before')::timestamptz IS NULL OR created_at < sqlc.narg('created_before')::timestamptz)
  AND (sqlc.narg('before_created_at')::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg('before_created_at')::timestamptz, sqlc.narg('before_id')::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: FormSubmissionDelete :execrows
DELETE FROM form_submissions WHERE id = @id AND form_id = @form_id AND organization_id = @organization_id;

-- name: FormSubmissionExecutionsAdd :exec
-- FormSubmissionExecutionsAdd links a submission to the executions it started.
INSERT INTO form_submission_executions (submission_id, execution_id)
SELECT @submission_id::uuid, unnest(@execution_ids::uuid[]);

-- name: FormSubmissionExecutions :many
-- FormSubmissionExecutions lists the executions a submission started, with their workflows' names.
SELECT e.id, e.workflow_id, w.name AS workflow_name, e.version, e.status, e.error, e.created_at, e.finished_at
FROM form_submission_executions fse
JOIN workflow_executions e ON e.id = fse.execution_id
JOIN workflows w ON w.id = e.workflow_id
WHERE fse.submission_id = @submission_id AND e.organization_id = @organization_id
ORDER BY e.created_at, e.id;

-- name: FormSubmissionFiles :many
-- FormSubmissionFiles lists a submission's live files.
SELECT id, organization_id, source, workflow_id, execution_id, form_submission_id, storage_key, filename,
    content_type, size_bytes, sha256, created_by, expires_at, created_at
FROM uploads
WHERE organization_id = @organization_id AND form_submission_id = @form_submission_id::uuid
  AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at, id;

-- name: FormSubmissionExpireFiles :many
-- FormSubmissionExpireFiles detaches a submission's files and marks them expired before the submission is deleted
-- (which would otherwise cascade to their rows and orphan the files): they vanish from every listing at once, and
-- the file sweep deletes them from storage and then their rows, even if this process dies first.
UPDATE uploads SET form_submission_id = NULL, expires_at = now()
WHERE organization_id = @organization_id AND form_submission_id = @form_submission_id::uuid
RETURNING storage_key;

-- name: FormExpireFiles :many
-- FormExpireFiles is FormSubmissionExpireFiles for every submission of a form, before the form is deleted.
UPDATE uploads AS u SET form_submission_id = NULL, expires_at = now()
FROM form_submissions AS s
WHERE s.id = u.form_submission_id AND s.form_id = @form_id AND s.organization_id = @organization_id
  AND u.organization_id = s.organization_id
RETURNING u.storage_key;

-- name: UploadCreateReceived :one
-- UploadCreateReceived records a file received from outside (a form's file field, an upload to a workflow) with an
-- id chosen beforehand, so that the submission or trigger data written in the same transaction can name it.
INSERT INTO uploads (id, organization_id, source, workflow_id, execution_id, form_submission_id, storage_key,
    filename, content_type, size_bytes, sha256, created_by)
VALUES (@id, @organization_id, @source, sqlc.narg('workflow_id'), sqlc.narg('execution_id'),
    sqlc.narg('form_submission_id'), @storage_key, @filename, @content_type, @size_bytes, @sha256,
    sqlc.narg('created_by'))
RETURNING id, organization_id, source, workflow_id, execution_id, form_submission_id, storage_key, filename,
    content_type, size_bytes, sha256, created_by, expires_at, created_at;
