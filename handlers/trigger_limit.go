package handlers

import (
	"net/http"
	"time"

	"github.com/google/uuid"
)

// DefaultOrgTriggerRateLimit is how many executions one organization may start a second through its triggers.
const DefaultOrgTriggerRateLimit = 2000

// allowTrigger counts one execution about to be started by a trigger (a webhook call, a form submission, a manual or
// API run, a retry, an upload) against its organization's rate, ORG_TRIGGER_RATE_LIMIT a second. Past it, the
// answer is a RateLimited fault (429 with Retry-After) and nothing is enqueued, so one organization's flood cannot
// fill the queue that every organization shares. The count is in the server's limiter: shared by every instance
// through Redis when REDIS_URL is set, per instance otherwise. A one-second window lets a burst of the whole
// second's allowance through at once.
func (s *Server) allowTrigger(r *http.Request, org uuid.UUID) error {
	limit := s.deps.OrgTriggerRateLimit
	if limit <= 0 {
		limit = DefaultOrgTriggerRateLimit
	}
	return s.allow(r, "trigger:"+org.String(), limit, time.Second)
}
