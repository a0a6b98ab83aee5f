-- +goose Up
-- The whole platform schema. Conventions:
--   * every primary key is a time-ordered UUIDv7 (uuid_generate_v7 below, or generated in Go on hot paths), so
--     ids sort by creation and index inserts stay on the right-hand edge of the B-tree;
--   * mutable rows carry created_at/updated_at; append-only rows (versions, submissions, deliveries, audit) only
--     created_at, since they are never updated;
--   * every tenant-owned row carries organization_id, and every query filters by it.

-- +goose StatementBegin
CREATE FUNCTION uuid_generate_v7() RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- 48-bit Unix milliseconds, then random bits, with the version (0111) and variant bits set (RFC 9562).
    RETURN encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash  text NOT NULL,
    instance_admin boolean NOT NULL DEFAULT false,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE invitations (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash      bytea NOT NULL UNIQUE,
    invited_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_org_idx ON invitations (organization_id, created_at DESC);

-- Single-use, expiring password reset links; only the hash of the token is kept.
CREATE TABLE password_resets (
    id         uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The table scs's pgxstore expects (its names and types are fixed by that library).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash      bytea NOT NULL UNIQUE,
    token_prefix    text NOT NULL,
    last_used_at    timestamptz,
    expires_at      timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_org_user_idx ON api_tokens (organization_id, user_id);

-- Rotating refresh tokens: each use replaces the token; presenting a replaced one revokes its whole family.
CREATE TABLE refresh_tokens (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    family_id       uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE,
    expires_at      timestamptz NOT NULL,
    replaced_by     uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE workflows (
    id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    -- The number of the newest version; 0 only inside the transaction that creates the first one.
    current_version   integer NOT NULL DEFAULT 0,
    active            boolean NOT NULL DEFAULT false,
    -- River priority, 1 (first) to 4 (last).
    priority          smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    -- Executions allowed to run at once; NULL is unlimited, excess ones stay queued in order.
    concurrency_limit integer CHECK (concurrency_limit > 0),
    archived_at       timestamptz,
    search            tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B')
    ) STORED,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_org_idx ON workflows (organization_id, active, created_at DESC);
CREATE INDEX workflows_search_idx ON workflows USING gin (search);

-- Immutable: every save is a new row, and executions pin the row they started on.
CREATE TABLE workflow_versions (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    number          integer NOT NULL CHECK (number > 0),
    definition      jsonb NOT NULL,
    author_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    message         text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, number)
);

-- Per-workflow grants that widen a member's or viewer's access to one workflow.
CREATE TABLE workflow_permissions (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id     uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission      text NOT NULL CHECK (permission IN ('view', 'run', 'edit')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, user_id)
);
CREATE INDEX workflow_permissions_user_idx ON workflow_permissions (user_id);

CREATE TABLE workflow_executions (
    id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id         uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    workflow_version_id uuid NOT NULL REFERENCES workflow_versions (id) ON DELETE CASCADE,
    version             integer NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled')),
    trigger_kind        text NOT NULL
        CHECK (trigger_kind IN ('webhook', 'form', 'schedule', 'file_upload', 'manual', 'retry')),
    trigger_data        jsonb NOT NULL DEFAULT '{}',
    priority            smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    -- The execution this one retries, when it is a retry.
    retry_of            uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    created_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    error               text,
    cancel_requested_at timestamptz,
    -- When a waiting execution resumes (a durable delay).
    resume_at           timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_executions_org_status_idx ON workflow_executions (organization_id, status, created_at DESC);
CREATE INDEX workflow_executions_org_created_idx ON workflow_executions (organization_id, created_at DESC);
CREATE INDEX workflow_executions_workflow_idx ON workflow_executions (workflow_id, created_at DESC);
-- Feeds the per-workflow concurrency limit: the unfinished executions of one workflow, oldest first.
CREATE INDEX workflow_executions_unfinished_idx ON workflow_executions (workflow_id, created_at)
    WHERE status IN ('queued', 'running', 'waiting');

CREATE TABLE node_executions (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    execution_id    uuid NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    node_id         text NOT NULL,
    node_type       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    attempt         integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
    -- The item's position when the node ran inside a loop body; NULL outside loops.
    item_index      integer,
    -- The output port the node took: resuming after the node depends on it.
    port            text NOT NULL DEFAULT '',
    input           jsonb,
    output          jsonb,
    error           text,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One recorded run per node (and loop item) of an execution: recording twice is a conflict, never a duplicate.
CREATE UNIQUE INDEX node_executions_run_key ON node_executions (execution_id, node_id, item_index) NULLS NOT DISTINCT;

CREATE TABLE forms (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Public address /f/{slug}, unique across the instance.
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    fields          jsonb NOT NULL DEFAULT '[]',
    settings        jsonb NOT NULL DEFAULT '{}',
    published       boolean NOT NULL DEFAULT false,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    search          tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B')
    ) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX forms_org_idx ON forms (organization_id, created_at DESC);
CREATE INDEX forms_search_idx ON forms USING gin (search);

CREATE TABLE form_submissions (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    form_id         uuid NOT NULL REFERENCES forms (id) ON DELETE CASCADE,
    data            jsonb NOT NULL,
    remote_ip       inet,
    user_agent      text NOT NULL DEFAULT '',
    search          tsvector GENERATED ALWAYS AS (jsonb_to_tsvector('simple', data, '["string"]')) STORED,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_submissions_form_idx ON form_submissions (organization_id, form_id, created_at DESC);
CREATE INDEX form_submissions_search_idx ON form_submissions USING gin (search);

-- The executions a submission started, so a submission's page can list them.
CREATE TABLE form_submission_executions (
    submission_id uuid NOT NULL REFERENCES form_submissions (id) ON DELETE CASCADE,
    execution_id  uuid NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    PRIMARY KEY (submission_id, execution_id)
);

-- Files held by the storage backend: uploads to a workflow, form file fields and files nodes export.
CREATE TABLE uploads (
    id                 uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source             text NOT NULL CHECK (source IN ('upload', 'form', 'export')),
    workflow_id        uuid REFERENCES workflows (id) ON DELETE SET NULL,
    execution_id       uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    form_submission_id uuid REFERENCES form_submissions (id) ON DELETE CASCADE,
    storage_key        text NOT NULL UNIQUE,
    filename           text NOT NULL,
    content_type       text NOT NULL,
    size_bytes         bigint NOT NULL CHECK (size_bytes >= 0),
    sha256             bytea NOT NULL,
    created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_org_idx ON uploads (organization_id, created_at DESC);
CREATE INDEX uploads_execution_idx ON uploads (execution_id) WHERE execution_id IS NOT NULL;

CREATE TABLE integrations (
    id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind IN ('smtp', 'http', 'postgres')),
    -- Settings safe to show (host, port, user name …); secrets live only in secret_ciphertext.
    config            jsonb NOT NULL DEFAULT '{}',
    -- AES-256-GCM sealed JSON of the secret fields, under a key derived from SECRET_KEY.
    secret_ciphertext bytea,
    -- Requests per rate_interval shared by every worker; NULL is unlimited.
    rate_limit        integer CHECK (rate_limit > 0),
    rate_interval     interval,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE webhooks (
    id                         uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id                uuid NOT NULL UNIQUE REFERENCES workflows (id) ON DELETE CASCADE,
    -- The unguessable path segment of POST /hooks/{token}.
    token                      text NOT NULL UNIQUE,
    secret_ciphertext          bytea NOT NULL,
    -- After a rotation the old secret keeps working until previous_secret_expires_at.
    previous_secret_ciphertext bytea,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    status_code     integer NOT NULL,
    size_bytes      integer NOT NULL,
    execution_id    uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    remote_ip       inet,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);

-- Idempotency-Key de-duplication for webhooks and creating API calls: the first response is replayed.
CREATE TABLE idempotency_keys (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope           text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    status_code     integer NOT NULL,
    response        jsonb NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

CREATE TABLE email_deliveries (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    execution_id    uuid REFERENCES workflow_executions (id) ON DELETE CASCADE,
    node_id         text,
    integration_id  uuid REFERENCES integrations (id) ON DELETE SET NULL,
    status          text NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    recipients      text[] NOT NULL,
    subject         text NOT NULL,
    message_id      text,
    smtp_reply      text,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_deliveries_execution_idx ON email_deliveries (execution_id);

CREATE TABLE audit_log (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    -- NULL for instance-level events (an instance administrator's action, a failed login for an unknown e-mail).
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_token_id  uuid REFERENCES api_tokens (id) ON DELETE SET NULL,
    action          text NOT NULL,
    target_type     text NOT NULL DEFAULT '',
    target_id       text NOT NULL DEFAULT '',
    remote_ip       inet,
    request_id      text NOT NULL DEFAULT '',
    before          jsonb,
    after           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_idx ON audit_log (organization_id, created_at DESC);
CREATE INDEX audit_log_org_action_idx ON audit_log (organization_id, action, created_at DESC);

-- Keep updated_at true on every mutable table. The execution tables are left out on purpose: they are the hot
-- path, and their queries set updated_at themselves rather than pay for a trigger on every row.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'users', 'memberships', 'invitations', 'api_tokens', 'refresh_tokens',
        'workflows', 'workflow_permissions', 'forms', 'integrations', 'webhooks', 'email_deliveries']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION touch_updated_at()',
            t || '_touch_updated_at', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_log, email_deliveries, idempotency_keys, webhook_deliveries, webhooks, integrations, uploads,
    form_submission_executions, form_submissions, forms, node_executions, workflow_executions, workflow_permissions,
    workflow_versions, workflows, refresh_tokens, api_tokens, sessions, password_resets, invitations, memberships,
    users, organizations;
DROP FUNCTION touch_updated_at();
DROP FUNCTION uuid_generate_v7();
