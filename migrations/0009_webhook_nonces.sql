-- +goose Up
-- Replay protection for signed webhooks: each accepted signed call claims its nonce (a hash of the signature's
-- timestamp and the body, which is what the signature covers) in the transaction that creates its execution, so the
-- same signed request sent again while its signature still verifies is refused instead of running twice. A row is
-- needed only while its signature is inside the window; expired rows are pruned in the background.
CREATE TABLE webhook_nonces (
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    nonce       bytea NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, nonce)
);
CREATE INDEX webhook_nonces_expires_idx ON webhook_nonces (expires_at);

-- +goose Down
DROP TABLE webhook_nonces;
