package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

// DefaultOrgTriggerRateLimit is how many executions one organization may start a second through its triggers.
const DefaultOrgTriggerRateLimit = 2000

// Triggers admits the executions that triggers start.
type Triggers struct {
	limiter   ratelimit.Limiter
	perSecond int
	logger    *slog.Logger
}

// Admit counts one execution about to be started by a trigger (a webhook call, a form submission, a manual or API
// run, a retry, an upload) against its organization's rate, ORG_TRIGGER_RATE_LIMIT a second. Past it, the answer is
// a RateLimited fault carrying its Retry-After, and the caller enqueues nothing, so one organization's flood cannot
// fill the queue every organization shares. The count is in the limiter: shared by every instance through Redis
// when REDIS_URL is set, per instance otherwise. A one-second window lets a burst of the whole second's allowance
// through at once. A limiter failure is logged and let through: ratelimit.Fallback keeps counting in process.
func (t *Triggers) Admit(ctx context.Context, org uuid.UUID) error {
	ok, wait, err := t.limiter.Allow(ctx, "trigger:"+org.String(), t.perSecond, time.Second)
	if err != nil {
		logging.From(ctx, t.logger).Error("rate limiter unavailable", "error", err)
		return nil
	}
	if !ok {
		logging.From(ctx, t.logger).Warn("rate limited", "limit", "trigger")
		return fault.TooManyAttempts(wait)
	}
	return nil
}
