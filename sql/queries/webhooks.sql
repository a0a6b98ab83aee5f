-- name: WebhookGetByWorkflow :one
SELECT * FROM webhooks WHERE workflow_id = @workflow_id AND organization_id = @organization_id;

-- name: WebhookCreate :one
-- WebhookCreate gives a workflow its webhook, or returns the one it has (two first requests may race).
INSERT INTO webhooks (organization_id, workflow_id, token, secret_ciphertext)
VALUES (@organization_id, @workflow_id, @token, @secret_ciphertext)
ON CONFLICT (workflow_id) DO UPDATE SET updated_at = webhooks.updated_at
RETURNING *;

-- name: WebhookRotateSecret :one
-- WebhookRotateSecret replaces the secret; the old one keeps working until previous_secret_expires_at.
UPDATE webhooks
SET previous_secret_ciphertext = secret_ciphertext, previous_secret_expires_at = @previous_expires_at,
    secret_ciphertext = @secret_ciphertext
WHERE workflow_id = @workflow_id AND organization_id = @organization_id
RETURNING *;

-- name: WebhookTarget :one
-- WebhookTarget resolves a webhook token to what accepting a call needs: the active workflow's current version and
-- the secrets. No row: unknown token, or the workflow is inactive or archived.
SELECT h.id AS webhook_id, h.organization_id, h.workflow_id, h.secret_ciphertext, h.previous_secret_ciphertext,
    h.previous_secret_expires_at, w.priority, v.id AS version_id, v.number AS version
FROM webhooks h
JOIN workflows w ON w.id = h.workflow_id AND w.active AND w.archived_at IS NULL
JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.current_version
WHERE h.token = @token;

-- name: WebhookDeliveriesCreate :copyfrom
INSERT INTO webhook_deliveries (organization_id, webhook_id, status_code, size_bytes, execution_id, remote_ip, created_at)
VALUES (@organization_id, @webhook_id, @status_code, @size_bytes, @execution_id, @remote_ip, @created_at);

-- name: WebhookDeliveryList :many
SELECT * FROM webhook_deliveries
WHERE webhook_id = @webhook_id AND organization_id = @organization_id
ORDER BY created_at DESC
LIMIT @max_rows;

-- name: IdempotencyKeyClaim :one
-- IdempotencyKeyClaim stores the first response to an Idempotency-Key (replacing an expired one); no row means the
-- key is in use and its stored response is to be replayed.
INSERT INTO idempotency_keys (organization_id, scope, key, status_code, response, expires_at)
VALUES (@organization_id, @scope, @key, @status_code, @response, @expires_at)
ON CONFLICT (organization_id, scope, key) DO UPDATE
SET status_code = EXCLUDED.status_code, response = EXCLUDED.response, expires_at = EXCLUDED.expires_at,
    created_at = now()
WHERE idempotency_keys.expires_at <= now()
RETURNING id;

-- name: IdempotencyKeyGet :one
-- IdempotencyKeyGet returns the response stored for a key that has not expired.
SELECT status_code, response FROM idempotency_keys
WHERE organization_id = @organization_id AND scope = @scope AND key = @key AND expires_at > now();

-- name: IdempotencyKeyDeleteExpired :execrows
-- IdempotencyKeyDeleteExpired prunes keys whose answers are no longer replayed.
DELETE FROM idempotency_keys WHERE expires_at <= @now;

-- name: IdempotencyKeyComplete :exec
-- IdempotencyKeyComplete stores the answer of the request that claimed a key, for replays.
UPDATE idempotency_keys SET status_code = @status_code, response = @response
WHERE organization_id = @organization_id AND scope = @scope AND key = @key;

-- name: IdempotencyKeyRelease :exec
-- IdempotencyKeyRelease frees a key whose request failed, so that a retry with it can succeed.
DELETE FROM idempotency_keys WHERE organization_id = @organization_id AND scope = @scope AND key = @key;

-- name: WebhookNonceClaimMany :many
-- WebhookNonceClaimMany claims a group's nonces in one statement and returns those it claimed: a nonce held by an
-- unexpired row is not returned (that call is a replay); an expired row still waiting for the pruner is taken over.
-- The caller passes each (webhook_id, nonce) pair once.
INSERT INTO webhook_nonces (webhook_id, nonce, expires_at)
SELECT unnest(@webhook_ids::uuid[]), unnest(@nonces::bytea[]), unnest(@expires_at::timestamptz[])
ON CONFLICT (webhook_id, nonce) DO UPDATE
SET accepted_at = now(), expires_at = EXCLUDED.expires_at
WHERE webhook_nonces.expires_at <= now()
RETURNING webhook_id, nonce;

-- name: WebhookNonceAcceptedAt :many
-- WebhookNonceAcceptedAt returns when the holders of nonces were accepted, for the answer to a replay. It may
-- return pairs beyond those asked for (any webhook id with any nonce): the caller picks its own.
SELECT webhook_id, nonce, accepted_at FROM webhook_nonces
WHERE webhook_id = ANY(@webhook_ids::uuid[]) AND nonce = ANY(@nonces::bytea[]);

-- name: WebhookNonceDeleteExpired :execrows
-- WebhookNonceDeleteExpired prunes nonces whose signatures can no longer verify.
DELETE FROM webhook_nonces WHERE expires_at <= @now;
