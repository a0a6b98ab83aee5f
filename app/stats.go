package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// DefaultStatsSpan is the range statistics cover when the caller names none: the last hour.
const DefaultStatsSpan = time.Hour

// Statistics are the per-minute statistics of finished executions over [From, To), oldest first, one entry per
// minute that had any (store.StatsRollup writes them, a minute or so behind the clock).
type Statistics struct {
	From    time.Time
	To      time.Time
	Minutes []store.StatsMinute
}

// StatsRange is the range a caller asks for; zero times take the defaults (the hour up to the current minute's end).
type StatsRange struct {
	From, To time.Time
}

// resolve fills in the defaults, rounds to whole minutes and checks the range, naming the bad field.
func (r StatsRange) resolve(now time.Time) (StatsRange, error) {
	if r.To.IsZero() {
		r.To = now.Truncate(time.Minute).Add(time.Minute)
	}
	if r.From.IsZero() {
		r.From = r.To.Add(-DefaultStatsSpan)
	}
	r.From, r.To = r.From.UTC().Truncate(time.Minute), r.To.UTC().Truncate(time.Minute)
	switch {
	case !r.From.Before(r.To):
		return r, fault.Fields("bad range", fault.FieldError{Field: "from", Message: "must be at least a minute before to"})
	case r.To.Sub(r.From) > store.MaxStatsRange:
		return r, fault.Fields("bad range", fault.FieldError{Field: "from",
			Message: "must be at most 24 hours before to"})
	}
	return r, nil
}

// Stats reads one workflow's per-minute statistics; whoever may read the workflow may read them.
func (w *Workflows) Stats(ctx context.Context, c Caller, id uuid.UUID, r StatsRange) (Statistics, error) {
	r, err := r.resolve(time.Now())
	if err != nil {
		return Statistics{}, err
	}
	wf, _, err := w.authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return Statistics{}, err
	}
	minutes, err := w.store.StatsMinutes(ctx, wf.OrganizationID, &wf.ID, r.From, r.To)
	if err != nil {
		return Statistics{}, err
	}
	return Statistics{From: r.From, To: r.To, Minutes: minutes}, nil
}

// OrganizationStats reads the per-minute statistics of every workflow of the caller's organization together, for
// whoever may read its executions (the dashboard).
func (e *Executions) OrganizationStats(ctx context.Context, c Caller, r StatsRange) (Statistics, error) {
	r, err := r.resolve(time.Now())
	if err != nil {
		return Statistics{}, err
	}
	if err := authz.Authorize(c.Principal, authz.ExecutionView, authz.Org(c.Principal.OrgID)); err != nil {
		return Statistics{}, err
	}
	minutes, err := e.store.StatsMinutes(ctx, c.Principal.OrgID, nil, r.From, r.To)
	if err != nil {
		return Statistics{}, err
	}
	return Statistics{From: r.From, To: r.To, Minutes: minutes}, nil
}
