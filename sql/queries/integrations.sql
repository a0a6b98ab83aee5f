-- name: IntegrationCreate :one
-- IntegrationCreate stores an integration; the id is chosen by the caller because the sealed secrets are bound to
-- it (associated data) before the row exists.
INSERT INTO integrations (id, organization_id, name, kind, config, secret_ciphertext, rate_limit, rate_interval,
    created_by)
VALUES (@id, @organization_id, @name, @kind, @config, sqlc.narg('secret_ciphertext'), sqlc.narg('rate_limit'),
    make_interval(0, 0, 0, 0, 0, 0, sqlc.narg('rate_interval_ms')::float8 / 1000), sqlc.narg('created_by'))
RETURNING id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role;

-- name: IntegrationGet :one
-- IntegrationGet returns an organization's integration without its secrets.
SELECT id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role
FROM integrations
WHERE id = @id AND organization_id = @organization_id;

-- name: IntegrationList :many
-- IntegrationList lists an organization's integrations by name, optionally of one kind, without their secrets.
SELECT id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role
FROM integrations
WHERE organization_id = @organization_id AND (sqlc.narg('kind')::text IS NULL OR kind = sqlc.narg('kind')::text)
ORDER BY name, id;

-- name: IntegrationSearch :many
-- IntegrationSearch ranks an organization's integrations by how well their name matches a search (search_tsquery,
-- migration 0016; the expression is integrations_search_idx's), best first, without their secrets.
SELECT id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role
FROM integrations
WHERE organization_id = @organization_id AND (sqlc.narg('kind')::text IS NULL OR kind = sqlc.narg('kind')::text)
  AND to_tsvector('simple', name) @@ search_tsquery(@words::text, sqlc.narg('prefix')::text)
ORDER BY ts_rank(to_tsvector('simple', name), search_tsquery(@words::text, sqlc.narg('prefix')::text)) DESC, name, id
LIMIT @max_rows;

-- name: IntegrationGetSealed :one
-- IntegrationGetSealed returns an integration with its sealed secrets, for the node runtime and for updates. FOR
-- SHARE would not help the runtime, so it reads without locking; updates lock with IntegrationLock first.
SELECT id, organization_id, name, kind, config, secret_ciphertext, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms,
    use_restricted, use_roles, use_user_ids, allow_privileged_role
FROM integrations
WHERE id = @id AND organization_id = @organization_id;

-- name: IntegrationLock :one
-- IntegrationLock takes the row lock an update needs before it merges secrets, so two concurrent updates cannot
-- each drop the other's change.
SELECT id FROM integrations WHERE id = @id AND organization_id = @organization_id FOR UPDATE;

-- name: IntegrationUpdate :one
UPDATE integrations
SET name = @name, config = @config, secret_ciphertext = sqlc.narg('secret_ciphertext'),
    rate_limit = sqlc.narg('rate_limit'),
    rate_interval = make_interval(0, 0, 0, 0, 0, 0, sqlc.narg('rate_interval_ms')::float8 / 1000)
WHERE id = @id AND organization_id = @organization_id
RETURNING id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role;

-- name: IntegrationDelete :one
DELETE FROM integrations WHERE id = @id AND organization_id = @organization_id
RETURNING id, name, kind;

-- name: IntegrationRateTake :one
-- IntegrationRateTake counts one request in the integration's current window and returns the window's start.
-- Windows are aligned to a fixed origin on the database's clock, so every worker agrees on them whatever its own
-- clock says. When the window is already full the upsert's WHERE refuses to pass the limit (atomically, under the
-- row lock) and no row comes back.
INSERT INTO integration_rate_windows AS w (integration_id, window_start, used)
VALUES (@integration_id,
    date_bin(make_interval(0, 0, 0, 0, 0, 0, sqlc.arg('window_ms')::float8 / 1000), now(), to_timestamp(0)), 1)
ON CONFLICT (integration_id, window_start) DO UPDATE SET used = w.used + 1
WHERE w.used < @max_requests::integer
RETURNING w.used, w.window_start;

-- name: IntegrationRateWindowAge :one
-- IntegrationRateWindowAge returns how many milliseconds of the current window of the given length have passed,
-- on the database's clock, so a caller told to wait knows for how long.
SELECT (extract(epoch FROM now() - date_bin(make_interval(0, 0, 0, 0, 0, 0, sqlc.arg('window_ms')::float8 / 1000),
    now(), to_timestamp(0))) * 1000)::bigint AS age_ms;

-- name: IntegrationRateForget :exec
-- IntegrationRateForget deletes an integration's past windows; called when a new window starts.
DELETE FROM integration_rate_windows WHERE integration_id = @integration_id AND window_start < @before;

-- name: IntegrationRateRefund :exec
-- IntegrationRateRefund takes one request back from the integration's latest window (an attempt that turned out
-- not to count): its count goes down by one, and a window left with none is deleted, as counts are positive.
WITH latest AS (
    SELECT window_start, used FROM integration_rate_windows
    WHERE integration_id = @integration_id
    ORDER BY window_start DESC
    LIMIT 1
    FOR UPDATE
), decremented AS (
    UPDATE integration_rate_windows AS w SET used = w.used - 1
    FROM latest
    WHERE w.integration_id = @integration_id AND w.window_start = latest.window_start AND latest.used > 1
)
DELETE FROM integration_rate_windows AS w
USING latest
WHERE w.integration_id = @integration_id AND w.window_start = latest.window_start AND latest.used = 1;

-- name: IntegrationSetUse :one
-- IntegrationSetUse replaces who may use an integration in workflows: everyone in the organization (restricted
-- false), or admins, owners and the given roles and users.
UPDATE integrations
SET use_restricted = @use_restricted, use_roles = @use_roles::text[], use_user_ids = @use_user_ids::uuid[]
WHERE id = @id AND organization_id = @organization_id
RETURNING id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role;

-- name: IntegrationSetPrivilegedRole :one
-- IntegrationSetPrivilegedRole is the instance administrator's switch letting a database integration connect
-- with a privileged role; it spans organizations, so it finds the integration by id alone.
UPDATE integrations SET allow_privileged_role = @allow_privileged_role
WHERE id = @id
RETURNING id, organization_id, name, kind, config, (secret_ciphertext IS NOT NULL)::boolean AS has_secrets, rate_limit,
    coalesce((extract(epoch FROM rate_interval) * 1000)::bigint, 0)::bigint AS rate_interval_ms, created_by, created_at, updated_at,
    use_restricted, use_roles, use_user_ids, allow_privileged_role;

-- name: IntegrationVersionAuthor :one
-- IntegrationVersionAuthor returns who saved a workflow version and their role in its organization now (NULL when
-- they left it or were deleted), for the run-time check that they may still use the integrations it names.
SELECT v.author_id, m.role
FROM workflow_versions v
LEFT JOIN memberships m ON m.organization_id = v.organization_id AND m.user_id = v.author_id
WHERE v.id = @id AND v.organization_id = @organization_id;

-- name: IntegrationRecordTest :exec
-- IntegrationRecordTest keeps the outcome of an integration's latest connection test ('' when it connected).
UPDATE integrations SET last_tested_at = @tested_at, last_test_problem = @problem
WHERE id = @id AND organization_id = @organization_id;

-- name: IntegrationTestResults :many
-- IntegrationTestResults lists the latest connection test of each of an organization's tested integrations.
SELECT id, last_tested_at::timestamptz AS tested_at, coalesce(last_test_problem, '')::text AS problem
FROM integrations
WHERE organization_id = @organization_id AND last_tested_at IS NOT NULL;
