package failover

import (
	"context"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// maxPendingDeletes bounds the sessions remembered as deleted while Redis was down (about 100 bytes each).
const maxPendingDeletes = 100_000

// Sessions is an scs store that keeps sessions in Redis while it answers and in a fallback store (PostgreSQL's
// pgxstore) while it does not. What users see: a session begun while Redis was down lives in PostgreSQL and keeps
// working once Redis is back (a session not in Redis is looked for in the fallback); a session begun before the
// outage is not found during it, so its user signs in again, and it works again once Redis is back, unless it was
// signed out meanwhile. A sign-out during the outage is remembered by this process and applied to Redis when it
// answers again; a process that restarts before then forgets it, and the Redis session ends at its own expiry.
type Sessions struct {
	redis    scs.CtxStore
	fallback scs.Store
	health   *Redis

	mu      sync.Mutex
	pending map[string]bool // tokens to delete from Redis once it answers
}

// NewSessions returns a store over redis (goredisstore) and fallback (pgxstore), switching as health says.
func NewSessions(redis scs.CtxStore, fallback scs.Store, health *Redis) *Sessions {
	return &Sessions{redis: redis, fallback: fallback, health: health, pending: map[string]bool{}}
}

// FindCtx implements scs.CtxStore.
func (s *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if s.up(ctx) {
		b, found, err := s.redis.FindCtx(ctx, token)
		if err == nil && found {
			return b, true, nil
		}
		s.health.Failed(err)
	}
	return s.fallback.Find(token)
}

// CommitCtx implements scs.CtxStore. A session written to Redis is deleted from the fallback, where the outage may
// have left an older copy of it.
func (s *Sessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if s.up(ctx) {
		err := s.redis.CommitCtx(ctx, token, b, expiry)
		if err == nil {
			_ = s.fallback.Delete(token) // a stale copy would only be read while Redis is down, and expires
			return nil
		}
		s.health.Failed(err)
	}
	return s.fallback.Commit(token, b, expiry)
}

// DeleteCtx implements scs.CtxStore: the session is deleted from both stores, from Redis later when it is down.
func (s *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if err := s.fallback.Delete(token); err != nil {
		return err
	}
	if s.up(ctx) {
		err := s.redis.DeleteCtx(ctx, token)
		if err == nil {
			return nil
		}
		s.health.Failed(err)
	}
	s.mu.Lock()
	if len(s.pending) < maxPendingDeletes {
		s.pending[token] = true
	}
	s.mu.Unlock()
	return nil
}

// up reports whether Redis answers, first applying the deletions it missed while it did not.
func (s *Sessions) up(ctx context.Context) bool {
	if !s.health.Up() {
		return false
	}
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return true
	}
	pending := s.pending
	s.pending = map[string]bool{}
	s.mu.Unlock()
	for token := range pending {
		if err := s.redis.DeleteCtx(ctx, token); err != nil {
			s.health.Failed(err)
			s.mu.Lock()
			for t := range pending {
				s.pending[t] = true
			}
			s.mu.Unlock()
			return false
		}
		delete(pending, token)
	}
	return true
}

// Find implements scs.Store.
func (s *Sessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit implements scs.Store.
func (s *Sessions) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete implements scs.Store.
func (s *Sessions) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
