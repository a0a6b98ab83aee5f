package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

// attempts counts rate-limited attempts (sign-ins, sign-ups, password resets …) in the limiter every instance
// shares through Redis when REDIS_URL is set.
type attempts struct {
	limiter ratelimit.Limiter
	logger  *slog.Logger
}

// attemptLimit is one limit an attempt counts against: at most limit attempts under key per window.
type attemptLimit struct {
	key    string
	limit  int
	window time.Duration
}

// allow counts one attempt against l and returns a RateLimited fault (with its Retry-After) when over the limit. A
// limiter failure is logged and let through: the in-process fallback (see ratelimit.Fallback) keeps counting.
func (a attempts) allow(ctx context.Context, l attemptLimit) error {
	ok, wait, err := a.limiter.Allow(ctx, l.key, l.limit, l.window)
	if err != nil {
		logging.From(ctx, a.logger).Error("rate limiter unavailable", "error", err)
		return nil
	}
	if !ok {
		kind, _, _ := strings.Cut(l.key, ":") // the kind only: keys hold addresses and e-mails
		logging.From(ctx, a.logger).Warn("rate limited", "limit", kind)
		return fault.TooManyAttempts(wait)
	}
	return nil
}

// reserve counts an attempt against every limit before it is checked, so concurrent attempts cannot slip past a
// limit, and returns refund, which takes the attempt back out of every count: call it when the attempt succeeded,
// since only failures count. An attempt refused by one limit is refunded from all: it checked nothing.
func (a attempts) reserve(ctx context.Context, limits ...attemptLimit) (refund func(), err error) {
	counted := make([]string, 0, len(limits))
	refund = func() {
		for _, key := range counted {
			if err := a.limiter.Refund(ctx, key); err != nil {
				logging.From(ctx, a.logger).Error("rate limiter refund", "error", err)
			}
		}
	}
	for _, l := range limits {
		counted = append(counted, l.key)
		if err := a.allow(ctx, l); err != nil {
			refund()
			return nil, err
		}
	}
	return refund, nil
}
