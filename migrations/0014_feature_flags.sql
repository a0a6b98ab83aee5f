-- +goose Up
-- Feature flags are defined in code (app/flags); these tables hold only what an instance administrator changed.
-- A flag without a row takes its code default for the running mode (APP_ENV).
--
-- value is the instance-wide value (NULL: the default); rollout assigns a share of subjects, by a stable hash of
-- the organization's or user's id, to values: [{"value": …, "percent": 0-100}, …], the percents summing to at
-- most 100, those outside every bucket falling through to value or the default.
CREATE TABLE feature_flags (
    name        text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
    value       jsonb,
    rollout     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rollout) = 'array'),
    rollout_by  text NOT NULL DEFAULT 'organization' CHECK (rollout_by IN ('organization', 'user')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 500)
);

-- An organization's own value of a flag beats the instance value and the rollout.
CREATE TABLE feature_flag_overrides (
    flag            text NOT NULL CHECK (length(flag) BETWEEN 1 AND 100),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    value           jsonb NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    PRIMARY KEY (flag, organization_id)
);
CREATE INDEX feature_flag_overrides_org_idx ON feature_flag_overrides (organization_id);

-- Which subject (an organization or a user) saw which variant of a variant flag, first seen: one row per subject
-- and variant, so an A/B result can be compared by variant. No foreign key: a subject's deletion keeps the count.
CREATE TABLE feature_flag_exposures (
    flag          text NOT NULL,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('organization', 'user')),
    subject_id    uuid NOT NULL,
    variant       text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flag, subject_kind, subject_id, variant)
);

-- +goose Down
DROP TABLE feature_flag_exposures;
DROP TABLE feature_flag_overrides;
DROP TABLE feature_flags;
