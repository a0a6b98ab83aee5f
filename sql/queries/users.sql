-- name: UserCreate :one
INSERT INTO users (email, name, password_hash, instance_admin)
VALUES (@email, @name, @password_hash, @instance_admin)
RETURNING *;

-- name: UserGet :one
SELECT * FROM users WHERE id = @id;

-- name: UserGetByEmail :one
-- UserGetByEmail matches e-mail addresses case-insensitively, as the unique index does.
SELECT * FROM users WHERE lower(email) = lower(@email);
