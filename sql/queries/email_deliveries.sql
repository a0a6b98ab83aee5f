-- name: EmailDeliveryCreate :one
-- EmailDeliveryCreate records a message about to be sent (status sending); a row left in that status is the trace
-- of a worker that stopped mid-send.
INSERT INTO email_deliveries (organization_id, execution_id, node_id, integration_id, status, recipients, subject)
VALUES (@organization_id, sqlc.narg('execution_id'), sqlc.narg('node_id'), sqlc.narg('integration_id'), 'sending',
    @recipients, @subject)
RETURNING id;

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
