-- name: SessionDeleteExpired :execrows
-- SessionDeleteExpired sweeps ended sessions out of the table scs's pgxstore keeps them in.
DELETE FROM sessions WHERE expiry < now();
