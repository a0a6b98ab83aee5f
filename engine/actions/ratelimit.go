package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

// DefaultRateLimitWait is how long a node waits in place for its integration's next window before handing the
// wait to the engine's retry (RetryAfter), which frees the worker but counts an attempt.
const DefaultRateLimitWait = 10 * time.Second

// integrationRateKeyPrefix starts the rate-limit key of every integration, apart from the other limits
// (sign-ins, API calls, webhooks) that share platform/ratelimit's key space.
const integrationRateKeyPrefix = "integration:"

// IntegrationRateKey is the key an integration's requests are counted under in a ratelimit.Limiter.
func IntegrationRateKey(integrationID string) string { return integrationRateKeyPrefix + integrationID }

// IntegrationOfRateKey returns the integration id of a key made by IntegrationRateKey.
func IntegrationOfRateKey(key string) (string, bool) {
	return strings.CutPrefix(key, integrationRateKeyPrefix)
}

// RateGate is the engine.RateLimiter of the action nodes' services: each request is counted by a
// ratelimit.Limiter shared by every worker, and a full window is waited out in place when it ends within MaxWait
// (and before the node's deadline); a longer wait becomes a RetryAfter error for the node's retry policy.
type RateGate struct {
	limiter ratelimit.Limiter
	maxWait time.Duration
	clock   clockwork.Clock
}

// NewRateGate returns a gate over limiter waiting at most maxWait (DefaultRateLimitWait when <= 0) on clock (the
// real one when nil).
func NewRateGate(limiter ratelimit.Limiter, maxWait time.Duration, clock clockwork.Clock) *RateGate {
	if maxWait <= 0 {
		maxWait = DefaultRateLimitWait
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &RateGate{limiter: limiter, maxWait: maxWait, clock: clock}
}

// Wait implements engine.RateLimiter.
func (g *RateGate) Wait(ctx context.Context, in engine.Integration) error {
	if in.RateLimit <= 0 || in.RateInterval <= 0 {
		return nil
	}
	key := IntegrationRateKey(in.ID)
	for {
		ok, retryIn, err := g.limiter.Allow(ctx, key, in.RateLimit, in.RateInterval)
		if err != nil {
			return fmt.Errorf("integration %s: rate limit: %w", in.ID, err)
		}
		if ok {
			return nil
		}
		overErr := fmt.Errorf("integration %s: rate limit of %d requests per %s reached", in.ID, in.RateLimit, in.RateInterval)
		if deadline, has := ctx.Deadline(); retryIn > g.maxWait || (has && time.Until(deadline) < retryIn) {
			return engine.RetryAfter(overErr, retryIn)
		}
		t := g.clock.NewTimer(retryIn)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.Chan():
		}
	}
}

// takeTurn takes one request from in's rate limit through the services' RateLimiter. An integration with a limit
// is not called unmetered: without a RateLimiter the node fails.
func takeTurn(ctx context.Context, svc *engine.Services, in engine.Integration) error {
	if in.RateLimit <= 0 {
		return nil
	}
	if svc.RateLimiter == nil {
		return engine.Permanent(fmt.Errorf("integration %q has a rate limit, and this execution has no rate limiter to apply it",
			in.Label()))
	}
	return svc.RateLimiter.Wait(ctx, in)
}
