package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
)

// RedisRateLimiter is the RateLimiter used when REDIS_URL is set: one counter per integration and window, taken
// by a Lua script on Redis's own clock, so workers whose clocks disagree still share windows.
type RedisRateLimiter struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisRateLimiter returns a limiter over client, keeping its counters under "concertmaster:integration-rate:".
func NewRedisRateLimiter(client redis.UniversalClient) *RedisRateLimiter {
	return &RedisRateLimiter{client: client, prefix: "concertmaster:integration-rate:"}
}

// rateScript counts one request in the current window (aligned on Redis's clock) and, over the limit, answers
// with the milliseconds left in it. Keys expire a window after their own, so nothing accumulates.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[1])
local start = now - (now % win)
local key = KEYS[1] .. ':' .. start
local n = redis.call('INCR', key)
if n == 1 then redis.call('PEXPIRE', key, win * 2) end
if n > tonumber(ARGV[2]) then return start + win - now end
return 0
`)

// Allow implements RateLimiter.
func (r *RedisRateLimiter) Allow(ctx context.Context, integrationID uuid.UUID, limit int, window time.Duration) (bool, time.Duration, error) {
	if limit <= 0 || window <= 0 {
		return true, 0, nil
	}
	wait, err := rateScript.Run(ctx, r.client, []string{r.prefix + integrationID.String()}, window.Milliseconds(), limit).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if wait > 0 {
		return false, time.Duration(wait) * time.Millisecond, nil
	}
	return true, 0, nil
}

// DefaultRateLimitWait is how long a node waits in place for its integration's next window before handing the
// wait to the engine's retry (RetryAfter), which frees the worker but counts an attempt.
const DefaultRateLimitWait = 10 * time.Second

// rateGate applies an integration's rate limit for one request.
type rateGate struct {
	limiter RateLimiter
	maxWait time.Duration
}

// wait takes a request from the integration's budget, waiting for the next window when the wait is short (and
// fits the node's deadline), and otherwise returning a RetryAfter error for the engine to retry after it.
func (g *rateGate) wait(ctx context.Context, in ResolvedIntegration) error {
	if g == nil || g.limiter == nil || in.RateLimit <= 0 {
		return nil
	}
	id, err := uuid.Parse(in.ID)
	if err != nil {
		return engine.Permanent(fmt.Errorf("integration id %q: %w", in.ID, err))
	}
	for {
		ok, retryIn, err := g.limiter.Allow(ctx, id, in.RateLimit, in.RateInterval)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		overErr := fmt.Errorf("integration %s: rate limit of %d requests per %s reached", in.ID, in.RateLimit, in.RateInterval)
		if deadline, has := ctx.Deadline(); retryIn > g.maxWait || (has && time.Until(deadline) < retryIn) {
			return engine.RetryAfter(overErr, retryIn)
		}
		t := time.NewTimer(retryIn)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
