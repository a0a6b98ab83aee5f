-- name: NotificationChannelCreate :one
-- NotificationChannelCreate takes the id its secrets were sealed for.
INSERT INTO notification_channels (id, organization_id, name, kind, config, secret_ciphertext, created_by)
VALUES (@id, @organization_id, @name, @kind, @config, sqlc.narg('secret_ciphertext'), sqlc.narg('created_by'))
RETURNING *;

-- name: NotificationChannelUpdate :one
-- NotificationChannelUpdate renames a channel and replaces its settings; a NULL secret keeps the sealed one.
UPDATE notification_channels
SET name = @name, config = @config, secret_ciphertext = coalesce(sqlc.narg('secret_ciphertext'), secret_ciphertext)
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: NotificationChannelGet :one
SELECT * FROM notification_channels WHERE id = @id AND organization_id = @organization_id;

-- name: NotificationChannelList :many
SELECT * FROM notification_channels WHERE organization_id = @organization_id ORDER BY name, id;

-- name: NotificationChannelDelete :execrows
DELETE FROM notification_channels WHERE id = @id AND organization_id = @organization_id;

-- name: NotificationRuleCreate :one
INSERT INTO notification_rules (organization_id, workflow_id, event, threshold_seconds, threshold_count,
    threshold_percent, group_window_seconds, cooldown_seconds, notify_recovery, digest, enabled, created_by)
VALUES (@organization_id, sqlc.narg('workflow_id'), @event, @threshold_seconds, @threshold_count, @threshold_percent,
    @group_window_seconds, @cooldown_seconds, @notify_recovery, @digest, @enabled, sqlc.narg('created_by'))
RETURNING *;

-- name: NotificationRuleUpdate :one
UPDATE notification_rules
SET event = @event, threshold_seconds = @threshold_seconds, threshold_count = @threshold_count,
    threshold_percent = @threshold_percent, group_window_seconds = @group_window_seconds,
    cooldown_seconds = @cooldown_seconds, notify_recovery = @notify_recovery, digest = @digest, enabled = @enabled
WHERE id = @id AND organization_id = @organization_id
RETURNING *;

-- name: NotificationRuleGet :one
SELECT * FROM notification_rules WHERE id = @id AND organization_id = @organization_id;

-- name: NotificationRuleList :many
-- NotificationRuleList lists an organization's rules: those of one workflow, or with no workflow given, the
-- organization's own (workflow_id NULL).
SELECT * FROM notification_rules
WHERE organization_id = @organization_id
  AND workflow_id IS NOT DISTINCT FROM sqlc.narg('workflow_id')::uuid
ORDER BY created_at, id;

-- name: NotificationRuleDelete :execrows
DELETE FROM notification_rules WHERE id = @id AND organization_id = @organization_id;

-- name: NotificationRuleChannelsClear :exec
DELETE FROM notification_rule_channels WHERE rule_id = @rule_id AND organization_id = @organization_id;

-- name: NotificationRuleChannelsAdd :execrows
-- NotificationRuleChannelsAdd links a rule to channels of its own organization; channels of another one are not
-- linked (the caller compares the count).
INSERT INTO notification_rule_channels (rule_id, channel_id, organization_id)
SELECT @rule_id, c.id, c.organization_id FROM notification_channels c
WHERE c.organization_id = @organization_id AND c.id = ANY(@channel_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: NotificationRuleChannelIDs :many
SELECT rule_id, channel_id FROM notification_rule_channels
WHERE organization_id = @organization_id AND rule_id = ANY(@rule_ids::uuid[]);

-- name: NotificationCursorGet :one
SELECT finished_at, execution_id FROM notification_cursor WHERE id;

-- name: NotificationCursorSet :exec
INSERT INTO notification_cursor (id, finished_at, execution_id) VALUES (true, @finished_at, @execution_id)
ON CONFLICT (id) DO UPDATE SET finished_at = EXCLUDED.finished_at, execution_id = EXCLUDED.execution_id;

-- name: NotificationFinishedSince :many
-- NotificationFinishedSince is the evaluator's scan: executions that finished after the cursor and at or before
-- until, in the order they finished, through workflow_executions_finished_idx. Only executions of organizations
-- with a rule carry their details; the others come back too (with has_rules false) so the cursor moves past them.
SELECT e.id, e.organization_id, e.workflow_id, e.status, coalesce(e.error, '')::text AS error,
    coalesce(e.failed_node_id, '')::text AS failed_node_id, e.started_at, e.finished_at,
    EXISTS (SELECT 1 FROM notification_rules r WHERE r.organization_id = e.organization_id AND r.enabled)::boolean AS has_rules
FROM workflow_executions e
WHERE e.finished_at IS NOT NULL
  AND (e.finished_at, e.id) > (@after_finished_at::timestamptz, @after_id::uuid)
  AND e.finished_at <= @until::timestamptz
ORDER BY e.finished_at, e.id
LIMIT @max_rows;

-- name: NotificationRulesForOrgs :many
-- NotificationRulesForOrgs loads the rules of organizations, disabled ones too (a workflow's disabled rule still
-- overrides the organization's), with the channel ids of each.
SELECT r.*, coalesce((SELECT array_agg(rc.channel_id ORDER BY rc.channel_id) FROM notification_rule_channels rc
    WHERE rc.rule_id = r.id), '{}')::uuid[] AS channel_ids
FROM notification_rules r
WHERE r.organization_id = ANY(@organization_ids::uuid[])
ORDER BY r.created_at, r.id;

-- name: NotificationRulesPeriodic :many
-- NotificationRulesPeriodic lists every enabled rule of a periodic condition.
SELECT * FROM notification_rules
WHERE enabled AND event IN ('failure_rate', 'schedule_missed', 'webhook_silent')
ORDER BY organization_id, created_at, id;

-- name: NotificationRuleStatesGet :many
SELECT * FROM notification_rule_states WHERE rule_id = ANY(@rule_ids::uuid[]) AND workflow_id = ANY(@workflow_ids::uuid[]);

-- name: NotificationRuleStatesOfRules :many
SELECT * FROM notification_rule_states WHERE rule_id = ANY(@rule_ids::uuid[]);

-- name: NotificationRuleStateSave :exec
INSERT INTO notification_rule_states (rule_id, workflow_id, organization_id, consecutive_failures, failing,
    condition_active, last_sent_at)
VALUES (@rule_id, @workflow_id, @organization_id, @consecutive_failures, @failing, @condition_active,
    sqlc.narg('last_sent_at'))
ON CONFLICT (rule_id, workflow_id) DO UPDATE SET consecutive_failures = EXCLUDED.consecutive_failures,
    failing = EXCLUDED.failing, condition_active = EXCLUDED.condition_active, last_sent_at = EXCLUDED.last_sent_at;

-- name: NotificationOpen :one
-- NotificationOpen finds the alert of a rule's event on a workflow that is still collecting occurrences.
SELECT * FROM notifications
WHERE rule_id = @rule_id AND workflow_id = @workflow_id AND event = @event AND sent_at IS NULL
ORDER BY created_at DESC LIMIT 1
FOR UPDATE;

-- name: NotificationInsert :one
INSERT INTO notifications (organization_id, rule_id, workflow_id, event, occurrences, first_at, last_at,
    last_execution_id, detail, send_at)
VALUES (@organization_id, sqlc.narg('rule_id'), sqlc.narg('workflow_id'), @event, 1, @at, @at,
    sqlc.narg('last_execution_id'), @detail, @send_at)
RETURNING *;

-- name: NotificationDigestInsert :one
-- NotificationDigestInsert records a rule's daily digest: the alerts it sums up, already sent as one message.
INSERT INTO notifications (organization_id, rule_id, event, occurrences, first_at, last_at, detail, send_at, sent_at)
VALUES (@organization_id, @rule_id, 'digest', @occurrences, @first_at, @last_at, @detail, @sent_at, @sent_at)
RETURNING *;

-- name: NotificationAddOccurrence :exec
UPDATE notifications
SET occurrences = occurrences + 1, last_at = greatest(last_at, @at),
    last_execution_id = coalesce(sqlc.narg('last_execution_id'), last_execution_id), detail = @detail
WHERE id = @id;

-- name: NotificationsDue :many
-- NotificationsDue claims alerts whose grouping window has closed, with whether their rule sends a daily digest.
SELECT n.*, coalesce(w.name, '')::text AS workflow_name, coalesce(r.digest, false)::boolean AS digest
FROM notifications n
LEFT JOIN workflows w ON w.id = n.workflow_id
LEFT JOIN notification_rules r ON r.id = n.rule_id
WHERE n.sent_at IS NULL AND n.send_at <= @now
ORDER BY n.send_at, n.created_at
LIMIT @max_rows
FOR UPDATE OF n SKIP LOCKED;

-- name: NotificationMarkSent :exec
UPDATE notifications SET sent_at = @sent_at WHERE id = @id;

-- name: NotificationChannelsOfRule :many
SELECT c.* FROM notification_channels c
JOIN notification_rule_channels rc ON rc.channel_id = c.id
WHERE rc.rule_id = @rule_id AND c.organization_id = @organization_id
ORDER BY c.name, c.id;

-- name: NotificationGet :one
-- NotificationGet reads an alert with what its messages show: the workflow's name, the rule's thresholds, and the
-- body of the last execution's trigger (a webhook's or a manual run's body; never its headers or query).
SELECT n.*, coalesce(w.name, '')::text AS workflow_name,
    coalesce(r.threshold_seconds, 0)::integer AS threshold_seconds, coalesce(r.threshold_count, 0)::integer AS threshold_count,
    coalesce(r.threshold_percent, 0)::integer AS threshold_percent,
    (CASE WHEN jsonb_typeof(e.trigger_data) = 'object' AND e.trigger_data ? 'body' THEN e.trigger_data -> 'body'
          ELSE e.trigger_data END)::jsonb AS trigger_body
FROM notifications n
LEFT JOIN workflows w ON w.id = n.workflow_id
LEFT JOIN notification_rules r ON r.id = n.rule_id
LEFT JOIN workflow_executions e ON e.id = n.last_execution_id
WHERE n.id = @id AND n.organization_id = @organization_id;

-- name: UserNotificationsFanOut :many
-- UserNotificationsFanOut puts an alert in the bell of the organization's members whose role is listed.
INSERT INTO user_notifications (organization_id, user_id, notification_id)
SELECT m.organization_id, m.user_id, @notification_id FROM memberships m
WHERE m.organization_id = @organization_id AND m.role = ANY(@roles::text[])
ON CONFLICT DO NOTHING
RETURNING user_id;

-- name: UserNotificationList :many
SELECT u.id, u.notification_id, u.read_at, u.created_at, n.event, n.occurrences, n.first_at, n.last_at,
    n.workflow_id, n.last_execution_id, n.detail, coalesce(w.name, '')::text AS workflow_name
FROM user_notifications u
JOIN notifications n ON n.id = u.notification_id
LEFT JOIN workflows w ON w.id = n.workflow_id
WHERE u.user_id = @user_id AND u.organization_id = @organization_id
ORDER BY u.created_at DESC, u.id DESC
LIMIT @max_rows;

-- name: UserNotificationUnreadCount :one
SELECT count(*) FROM user_notifications
WHERE user_id = @user_id AND organization_id = @organization_id AND read_at IS NULL;

-- name: UserNotificationMarkRead :execrows
UPDATE user_notifications SET read_at = coalesce(read_at, @now)
WHERE id = @id AND user_id = @user_id AND organization_id = @organization_id;

-- name: UserNotificationMarkAllRead :execrows
UPDATE user_notifications SET read_at = @now
WHERE user_id = @user_id AND organization_id = @organization_id AND read_at IS NULL;

-- name: OutgoingMessageCreate :one
INSERT INTO outgoing_messages (organization_id, kind, channel_id, notification_id, invitation_id, recipient, subject,
    body_ciphertext, message_key)
VALUES (sqlc.narg('organization_id'), @kind, sqlc.narg('channel_id'), sqlc.narg('notification_id'),
    sqlc.narg('invitation_id'), @recipient, @subject, sqlc.narg('body_ciphertext'), @message_key)
RETURNING *;

-- name: OutgoingMessageGet :one
-- OutgoingMessageGet reads a message for its job, which carries only the id.
SELECT * FROM outgoing_messages WHERE id = @id;

-- name: OutgoingMessageRecord :exec
-- OutgoingMessageRecord records an attempt's outcome.
UPDATE outgoing_messages
SET status = @status, attempts = @attempts, last_error = sqlc.narg('last_error'),
    sent_at = CASE WHEN @status = 'sent' THEN now() ELSE sent_at END, updated_at = now()
WHERE id = @id;

-- name: OutgoingMessageListForChannel :many
SELECT * FROM outgoing_messages
WHERE organization_id = @organization_id AND channel_id = @channel_id
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: OutgoingMessageForInvitations :many
-- OutgoingMessageForInvitations gives each invitation's latest mail, for the members page.
SELECT DISTINCT ON (invitation_id) invitation_id, status, coalesce(last_error, '')::text AS last_error
FROM outgoing_messages
WHERE organization_id = @organization_id AND invitation_id = ANY(@invitation_ids::uuid[])
ORDER BY invitation_id, created_at DESC;

-- name: OutgoingMessageUnsettledCount :one
SELECT count(*) FROM outgoing_messages WHERE status IN ('queued', 'retrying');

-- name: NotificationFailureCounts :many
-- NotificationFailureCounts counts an organization's finished executions per workflow since a time, and the
-- failed ones among them, for failure-rate rules. The id bound reads only the partitions from the day of since on.
SELECT workflow_id, count(*)::integer AS total, (count(*) FILTER (WHERE status = 'failed'))::integer AS failed
FROM workflow_executions
WHERE organization_id = @organization_id AND created_at >= @since AND id >= history_id_floor(@since)
  AND status IN ('succeeded', 'failed', 'canceled')
GROUP BY workflow_id;

-- name: NotificationSchedules :many
-- NotificationSchedules lists an organization's active schedules with when each should fire next: one whose time
-- is well past did not fire.
SELECT s.workflow_id, s.next_run_at FROM workflow_schedules s
JOIN workflows w ON w.id = s.workflow_id AND w.active
WHERE s.organization_id = @organization_id;

-- name: NotificationWebhookLastCalls :many
-- NotificationWebhookLastCalls lists an organization's active webhooks with their latest call (or the workflow's
-- latest change, when that is later: a workflow just activated has not been silent).
SELECT h.workflow_id, greatest(h.created_at, w.updated_at, coalesce((SELECT max(d.created_at)
    FROM webhook_deliveries d WHERE d.webhook_id = h.id), h.created_at))::timestamptz AS last_call
FROM webhooks h
JOIN workflows w ON w.id = h.workflow_id AND w.active
WHERE h.organization_id = @organization_id;
