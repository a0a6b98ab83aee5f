-- name: EmailDeliveryCreate :one
-- EmailDeliveryCreate records a message about to be sent (status sending); a row left in that status is the trace
-- of a worker that stopped mid-send.
INSERT INTO email_deliveries (organization_id, execution_id, node_id, integration_id, status, recipients, subject,
    idempotency_key)
VALUES (@organization_id, sqlc.narg('execution_id'), sqlc.narg('node_id'), sqlc.narg('integration_id'), 'sending',
    @recipients, @subject, sqlc.narg('idempotency_key'))
RETURNING id;

-- name: EmailDeliveryLockKey :exec
-- EmailDeliveryLockKey serializes, until the transaction ends, the claims of one node run's deliveries. The
-- two-key form (class 20120, "e-mail deliveries") has a key space apart from the one-key locks of worker liveness.
SELECT pg_advisory_xact_lock(20120, hashtext(@idempotency_key::text));

-- name: EmailDeliveryLatestForKey :one
-- EmailDeliveryLatestForKey is the latest delivery of one node run's message, found by the run's idempotency key:
-- what its last attempt left (sending, sent, failed or unknown).
SELECT id, status, message_id, smtp_reply FROM email_deliveries
WHERE organization_id = @organization_id AND idempotency_key = @idempotency_key
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: EmailDeliveryMarkUnknown :exec
-- EmailDeliveryMarkUnknown records that a message left sending was not sent again: whether it went is unknown.
UPDATE email_deliveries SET status = 'unknown', error = @error
WHERE id = @id AND organization_id = @organization_id;

-- name: EmailDeliveryFinish :exec
-- EmailDeliveryFinish records what the SMTP server answered.
UPDATE email_deliveries
SET status = @status, message_id = sqlc.narg('message_id'), smtp_reply = sqlc.narg('smtp_reply'),
    error = sqlc.narg('error')
WHERE id = @id AND organization_id = @organization_id;

-- name: EmailDeliveryListForExecution :many
-- EmailDeliveryListForExecution lists an execution's messages, for its page.
SELECT * FROM email_deliveries
WHERE organization_id = @organization_id AND execution_id = @execution_id::uuid
ORDER BY created_at, id;
