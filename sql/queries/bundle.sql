-- Organization bundles (app/bundle): the reads of an export and the writes of an import that no other use case
-- needs. The import's other writes reuse the queries of each table's own file inside one transaction.

-- name: BundleWorkflows :many
-- BundleWorkflows lists every workflow of an organization, archived ones too (they keep their state on import),
-- oldest first, for an export.
SELECT id, organization_id, name, description, created_by, current_version, active, priority, concurrency_limit,
    archived_at, created_at, updated_at
FROM workflows
WHERE organization_id = @organization_id
ORDER BY created_at, id;

-- name: BundleWorkflowVersions :many
-- BundleWorkflowVersions lists every version of the given workflows with its definition, oldest first.
SELECT workflow_id, number, definition, message
FROM workflow_versions
WHERE organization_id = @organization_id AND workflow_id = ANY(@workflow_ids::uuid[])
ORDER BY workflow_id, number;

-- name: BundleForms :many
SELECT id, organization_id, name, slug, description, fields, settings, published, created_by, submission_count,
    created_at, updated_at
FROM forms
WHERE organization_id = @organization_id
ORDER BY created_at, id;

-- name: BundleRules :many
-- BundleRules lists every notification rule of an organization, its own and its workflows'.
SELECT * FROM notification_rules WHERE organization_id = @organization_id ORDER BY created_at, id;

-- name: BundleNamesTaken :many
-- BundleNamesTaken lists the names an import must not reuse: the organization's workflow, form, integration and
-- channel names, and the form addresses among @slugs, which are unique across the instance.
SELECT 'workflow'::text AS kind, w.name FROM workflows w WHERE w.organization_id = @organization_id::uuid AND w.archived_at IS NULL
UNION ALL SELECT 'form', f.name FROM forms f WHERE f.organization_id = @organization_id::uuid
UNION ALL SELECT 'integration', i.name FROM integrations i WHERE i.organization_id = @organization_id::uuid
UNION ALL SELECT 'channel', c.name FROM notification_channels c WHERE c.organization_id = @organization_id::uuid
UNION ALL SELECT 'slug', s.slug FROM forms s WHERE s.slug = ANY(@slugs::text[]);

-- name: BundleFormCreate :one
-- BundleFormCreate is FormCreate with the id chosen by the import, which has already written it into the
-- definitions of the workflows the form triggers.
INSERT INTO forms (id, organization_id, name, slug, description, fields, settings, published, created_by)
VALUES (@id, @organization_id, @name, @slug, @description, @fields, @settings, @published, sqlc.narg('created_by'))
RETURNING id;
