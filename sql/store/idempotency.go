package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
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

// PruneExpiredDedup deletes the de-duplication records expired at now: webhook nonces whose signatures can no longer
// verify, and Idempotency-Keys whose answers are no longer replayed. It returns how many of each went.
func (s *Store) PruneExpiredDedup(ctx context.Context, now time.Time) (nonces, keys int64, err error) {
	if nonces, err = s.q.WebhookNonceDeleteExpired(ctx, now); err != nil {
		return 0, 0, interpret(err, "webhook nonces")
	}
	if keys, err = s.q.IdempotencyKeyDeleteExpired(ctx, now); err != nil {
		return nonces, 0, interpret(err, "idempotency keys")
	}
	return nonces, keys, nil
}

// DefaultDedupPruneInterval is how often expired nonces and keys are pruned: they are refused by their expiry
// already, so pruning only keeps the tables (and the nonce claims' index) small.
const DefaultDedupPruneInterval = time.Minute

// DedupPruner is a service.Service running PruneExpiredDedup at once and then every interval. Several processes
// may run one: the deletes do not conflict.
type DedupPruner struct{ *service.Loop }

// NewDedupPruner returns a pruner; the archetype's clock says what time expiries are compared with.
func (s *Store) NewDedupPruner(arch *service.Archetype, interval time.Duration) *DedupPruner {
	return &DedupPruner{service.NewPeriodic(arch.Clock, interval, func(ctx context.Context) {
		if nonces, keys, err := s.PruneExpiredDedup(ctx, arch.Clock.Now()); err != nil && ctx.Err() == nil {
			arch.Logger.Warn("pruning expired webhook nonces and idempotency keys failed", "error", err)
		} else if nonces+keys > 0 {
			arch.Logger.Debug("pruned expired webhook nonces and idempotency keys", "nonces", nonces, "keys", keys)
		}
	})}
}
