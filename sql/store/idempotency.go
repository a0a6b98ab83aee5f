package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/concertmaster/concertmaster/sql/db"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// IdempotencyPending is the stored status of a key whose first request has not answered yet.
const IdempotencyPending = 0

// IdempotencyKeyClaim claims key in scope for ttl. claimed is true for the first request; otherwise previous is
// the stored answer (StatusCode IdempotencyPending while the first request is still running).
func (s *Store) IdempotencyKeyClaim(ctx context.Context, orgID uuid.UUID, scope, key string, ttl time.Duration) (claimed bool, previous IdempotentResponse, err error) {
	_, err = s.q.IdempotencyKeyClaim(ctx, db.IdempotencyKeyClaimParams{OrganizationID: orgID, Scope: scope, Key: key,
		StatusCode: IdempotencyPending, Response: json.RawMessage("null"), ExpiresAt: time.Now().Add(ttl)})
	if err == nil {
		return true, IdempotentResponse{}, nil
	}
	if err != pgx.ErrNoRows {
		return false, IdempotentResponse{}, interpret(err, "idempotency key")
	}
	row, err := s.q.IdempotencyKeyGet(ctx, db.IdempotencyKeyGetParams{OrganizationID: orgID, Scope: scope, Key: key})
	if err != nil {
		return false, IdempotentResponse{}, interpret(err, "idempotency key")
	}
	return false, IdempotentResponse{StatusCode: int(row.StatusCode), Body: row.Response}, nil
}

// IdempotencyKeyComplete stores the answer to replay for a claimed key.
func (s *Store) IdempotencyKeyComplete(ctx context.Context, orgID uuid.UUID, scope, key string, answer IdempotentResponse) error {
	return interpret(s.q.IdempotencyKeyComplete(ctx, db.IdempotencyKeyCompleteParams{OrganizationID: orgID, Scope: scope,
		Key: key, StatusCode: int32(answer.StatusCode), Response: answer.Body}), "idempotency key")
}

// IdempotencyKeyRelease frees a claimed key after its request failed.
func (s *Store) IdempotencyKeyRelease(ctx context.Context, orgID uuid.UUID, scope, key string) error {
	return interpret(s.q.IdempotencyKeyRelease(ctx, db.IdempotencyKeyReleaseParams{OrganizationID: orgID, Scope: scope,
		Key: key}), "idempotency key")
}
