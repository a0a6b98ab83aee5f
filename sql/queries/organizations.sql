-- name: OrganizationCreate :one
-- OrganizationCreate adds an organization; its slug must be free.
INSERT INTO organizations (name, slug)
VALUES (@name, @slug)
RETURNING *;

-- name: OrganizationGet :one
SELECT * FROM organizations WHERE id = @id;

-- name: OrganizationGetBySlug :one
SELECT * FROM organizations WHERE slug = @slug;
