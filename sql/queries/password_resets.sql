-- name: PasswordResetCreate :exec
INSERT INTO password_resets (user_id, token_hash, expires_at)
VALUES (@user_id, @token_hash, @expires_at);

-- name: PasswordResetClaim :one
-- PasswordResetClaim uses a reset link up: no row means it is unknown, used or expired.
UPDATE password_resets SET used_at = now()
WHERE token_hash = @token_hash AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: PasswordResetCheck :one
-- PasswordResetCheck tells the reset page whether its link is still usable, without using it.
SELECT user_id FROM password_resets
WHERE token_hash = @token_hash AND used_at IS NULL AND expires_at > now();

-- name: PasswordResetInvalidateForUser :exec
-- PasswordResetInvalidateForUser retires a user's other reset links once the password changed.
UPDATE password_resets SET used_at = now() WHERE user_id = @user_id AND used_at IS NULL;
