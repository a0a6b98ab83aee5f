-- name: UserCreate :one
INSERT INTO users (email, name, password_hash, instance_admin)
VALUES (@email, @name, @password_hash, @instance_admin)
RETURNING *;

-- name: UserGet :one
SELECT * FROM users WHERE id = @id;

-- name: UserGetByEmail :one
-- UserGetByEmail matches e-mail addresses case-insensitively, as the unique index does.
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: UserUpdateName :one
UPDATE users SET name = @name WHERE id = @id
RETURNING *;

-- name: UserSetPassword :one
-- UserSetPassword replaces a password and bumps credentials_version, which signs out every session and access
-- token issued under the old one.
UPDATE users SET password_hash = @password_hash, credentials_version = credentials_version + 1
WHERE id = @id
RETURNING *;

-- name: UserTouchLogin :exec
UPDATE users SET last_login_at = now() WHERE id = @id;
