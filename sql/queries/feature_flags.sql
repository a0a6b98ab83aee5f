-- name: FeatureFlagList :many
-- FeatureFlagList reads every flag an administrator has set: the provider's whole snapshot, a handful of rows.
SELECT * FROM feature_flags ORDER BY name;

-- name: FeatureFlagGet :one
SELECT * FROM feature_flags WHERE name = @name;

-- name: FeatureFlagUpsert :one
-- FeatureFlagUpsert sets a flag's instance value and rollout.
INSERT INTO feature_flags (name, value, rollout, rollout_by, updated_at, updated_by, reason)
VALUES (@name, sqlc.narg('value'), @rollout, @rollout_by, now(), sqlc.narg('updated_by'), @reason)
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, rollout = EXCLUDED.rollout,
    rollout_by = EXCLUDED.rollout_by, updated_at = now(), updated_by = EXCLUDED.updated_by, reason = EXCLUDED.reason
RETURNING *;

-- name: FeatureFlagOverrideList :many
-- FeatureFlagOverrideList reads every organization's override, with the organization's name for the admin page.
SELECT o.flag, o.organization_id, o.value, o.updated_at, o.updated_by, o.reason, g.name AS organization_name
FROM feature_flag_overrides o
JOIN organizations g ON g.id = o.organization_id
ORDER BY o.flag, g.name, o.organization_id;

-- name: FeatureFlagOverrideGet :one
SELECT * FROM feature_flag_overrides WHERE flag = @flag AND organization_id = @organization_id;

-- name: FeatureFlagOverrideUpsert :exec
INSERT INTO feature_flag_overrides (flag, organization_id, value, updated_at, updated_by, reason)
VALUES (@flag, @organization_id, @value, now(), sqlc.narg('updated_by'), @reason)
ON CONFLICT (flag, organization_id) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),
    updated_by = EXCLUDED.updated_by, reason = EXCLUDED.reason;

-- name: FeatureFlagOverrideDelete :execrows
DELETE FROM feature_flag_overrides WHERE flag = @flag AND organization_id = @organization_id;

-- name: FeatureFlagExposureRecord :execrows
-- FeatureFlagExposureRecord notes that a subject saw a variant; only its first sighting is kept.
INSERT INTO feature_flag_exposures (flag, subject_kind, subject_id, variant)
VALUES (@flag, @subject_kind, @subject_id, @variant)
ON CONFLICT DO NOTHING;

-- name: FeatureFlagExposureCounts :many
-- FeatureFlagExposureCounts counts the subjects that saw each variant of each flag.
SELECT flag, variant, count(*)::bigint AS subjects, min(first_seen_at)::timestamptz AS first_seen_at
FROM feature_flag_exposures
GROUP BY flag, variant
ORDER BY flag, variant;

-- name: FeatureFlagsNotify :exec
-- FeatureFlagsNotify tells every process's provider, when the transaction commits, to reload its snapshot.
SELECT pg_notify('concertmaster_feature_flags', @flag::text);
