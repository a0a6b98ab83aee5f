-- name: OrganizationCreate :one
-- OrganizationCreate adds an organization; its slug must be free.
INSERT INTO organizations (name, slug)
VALUES (@name, @slug)
RETURNING *;

-- name: OrganizationGet :one
SELECT * FROM organizations WHERE id = @id;

-- name: OrganizationGetBySlug :one
SELECT * FROM organizations WHERE slug = @slug;

-- name: OrganizationCreateIfSlugFree :many
-- OrganizationCreateIfSlugFree adds an organization unless its slug is taken, in which case it returns no row and
-- leaves the transaction usable, so the caller can try another slug.
INSERT INTO organizations (name, slug)
VALUES (@name, @slug)
ON CONFLICT (slug) DO NOTHING
RETURNING *;

-- name: OrganizationLock :one
-- OrganizationLock takes the organization's row lock: membership changes serialize on it, so two owners demoting
-- each other at once cannot leave the organization without one.
SELECT id FROM organizations WHERE id = @id FOR UPDATE;
