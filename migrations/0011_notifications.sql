-- +goose Up
-- Notifications: channels (where alerts go), rules (when), the evaluator's memory, the alerts themselves (grouped
-- occurrences), in-app notifications per user, and every outgoing message (alerts to channels, channel tests and the
-- account mails) with its delivery status. See docs/ARCHITECTURE.md, "Notifications".

CREATE TABLE notification_channels (
    id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind IN ('email', 'webhook', 'slack', 'teams', 'in_app')),
    -- Settings safe to show: e-mail recipients and SMTP integration, the destination's host, in-app roles.
    config            jsonb NOT NULL DEFAULT '{}',
    -- AES-256-GCM sealed JSON of the secrets: the destination URL (a Slack or Teams URL is a credential) and the
    -- outgoing webhook's signing secret.
    secret_ciphertext bytea,
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);
CREATE TRIGGER notification_channels_touch_updated_at BEFORE UPDATE ON notification_channels
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A rule of a workflow (workflow_id set) or of the whole organization (NULL). A workflow's own rule for an event
-- replaces the organization's rules for that event on that workflow, even when disabled (a way to mute one).
CREATE TABLE notification_rules (
    id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id          uuid REFERENCES workflows (id) ON DELETE CASCADE,
    event                text NOT NULL CHECK (event IN ('failed', 'succeeded', 'canceled', 'timed_out', 'slow',
        'failure_streak', 'failure_rate', 'schedule_missed', 'webhook_silent', 'recovered')),
    -- slow: the duration; failure_rate: the window; schedule_missed: the grace; webhook_silent: the period.
    threshold_seconds    integer NOT NULL DEFAULT 0 CHECK (threshold_seconds BETWEEN 0 AND 2592000),
    -- failure_streak: failures in a row; failure_rate: the fewest executions in the window worth judging.
    threshold_count      integer NOT NULL DEFAULT 0 CHECK (threshold_count BETWEEN 0 AND 100000),
    -- failure_rate: the failed share that alerts.
    threshold_percent    integer NOT NULL DEFAULT 0 CHECK (threshold_percent BETWEEN 0 AND 100),
    -- Identical alerts within this window after the first become one message.
    group_window_seconds integer NOT NULL DEFAULT 60 CHECK (group_window_seconds BETWEEN 0 AND 86400),
    -- At least this long between two messages of the rule for one workflow.
    cooldown_seconds     integer NOT NULL DEFAULT 0 CHECK (cooldown_seconds BETWEEN 0 AND 604800),
    -- Tell the channels when a workflow this rule alerted about succeeds again.
    notify_recovery      boolean NOT NULL DEFAULT true,
    -- Collect the rule's alerts into one message a day instead.
    digest               boolean NOT NULL DEFAULT false,
    enabled              boolean NOT NULL DEFAULT true,
    created_by           uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_rules_org_idx ON notification_rules (organization_id, workflow_id);
CREATE TRIGGER notification_rules_touch_updated_at BEFORE UPDATE ON notification_rules
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE notification_rule_channels (
    rule_id         uuid NOT NULL REFERENCES notification_rules (id) ON DELETE CASCADE,
    channel_id      uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, channel_id)
);
CREATE INDEX notification_rule_channels_channel_idx ON notification_rule_channels (channel_id);

-- The evaluator's memory per rule and workflow.
CREATE TABLE notification_rule_states (
    rule_id              uuid NOT NULL REFERENCES notification_rules (id) ON DELETE CASCADE,
    workflow_id          uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    organization_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    consecutive_failures integer NOT NULL DEFAULT 0,
    -- The rule alerted about a failure and the workflow has not succeeded since (a recovery is due on success).
    failing              boolean NOT NULL DEFAULT false,
    -- A periodic condition (failure rate, missed schedule, silent webhook) alerted and has not cleared since.
    condition_active     boolean NOT NULL DEFAULT false,
    last_sent_at         timestamptz,
    PRIMARY KEY (rule_id, workflow_id)
);

-- An alert: the occurrences of one rule's event on one workflow, grouped until send_at. rule_id is NULL for a
-- channel's test.
CREATE TABLE notifications (
    id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    rule_id           uuid REFERENCES notification_rules (id) ON DELETE CASCADE,
    workflow_id       uuid REFERENCES workflows (id) ON DELETE CASCADE,
    event             text NOT NULL,
    occurrences       integer NOT NULL DEFAULT 1,
    first_at          timestamptz NOT NULL,
    last_at           timestamptz NOT NULL,
    last_execution_id uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    -- What the last occurrence said: its error (truncated), or what the condition measured. Never trigger data.
    detail            text NOT NULL DEFAULT '',
    send_at           timestamptz NOT NULL,
    sent_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_due_idx ON notifications (send_at) WHERE sent_at IS NULL;
CREATE INDEX notifications_open_idx ON notifications (rule_id, workflow_id, event) WHERE sent_at IS NULL;
CREATE INDEX notifications_org_idx ON notifications (organization_id, created_at DESC);

-- In-app notifications: the bell of each user an in-app channel reaches.
CREATE TABLE user_notifications (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    read_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, notification_id)
);
CREATE INDEX user_notifications_user_idx ON user_notifications (user_id, organization_id, created_at DESC);
CREATE INDEX user_notifications_unread_idx ON user_notifications (user_id, organization_id) WHERE read_at IS NULL;

-- Every outgoing message and its delivery: sent by a River job (retries with backoff), one row per destination.
CREATE TABLE outgoing_messages (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    -- NULL for an account mail that belongs to no organization (a password reset).
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('notification', 'channel_test', 'invitation', 'password_reset')),
    channel_id      uuid REFERENCES notification_channels (id) ON DELETE CASCADE,
    notification_id uuid REFERENCES notifications (id) ON DELETE CASCADE,
    invitation_id   uuid REFERENCES invitations (id) ON DELETE CASCADE,
    -- What the pages show of the destination: the addresses, or the host of a URL.
    recipient       text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    -- Account mails only: the sealed recipients and body (it carries a one-time link).
    body_ciphertext bytea,
    -- The Message-ID / X-ConcertMaster-Delivery every attempt reuses, so a receiver can drop a repeat.
    message_key     text NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'retrying', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outgoing_messages_channel_idx ON outgoing_messages (channel_id, created_at DESC) WHERE channel_id IS NOT NULL;
CREATE INDEX outgoing_messages_invitation_idx ON outgoing_messages (invitation_id) WHERE invitation_id IS NOT NULL;
CREATE INDEX outgoing_messages_notification_idx ON outgoing_messages (notification_id) WHERE notification_id IS NOT NULL;

-- The evaluator's cursor over finished executions: one row, moved in the transaction that evaluates them.
CREATE TABLE notification_cursor (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    finished_at  timestamptz NOT NULL,
    execution_id uuid NOT NULL
);
-- The evaluator's scan: executions in the order they finished. Partial, so unfinished rows cost nothing.
CREATE INDEX workflow_executions_finished_idx ON workflow_executions (finished_at, id) WHERE finished_at IS NOT NULL;

-- +goose Down
DROP INDEX workflow_executions_finished_idx;
DROP TABLE notification_cursor, outgoing_messages, user_notifications, notifications, notification_rule_states,
    notification_rule_channels, notification_rules, notification_channels;
