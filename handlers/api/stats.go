package api

import (
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// StatsJSON is a range of per-minute statistics: the minutes in [from, to) in which executions finished, oldest
// first, each with its counts by final status and its trigger-to-finish percentiles in milliseconds.
type StatsJSON struct {
	From    time.Time           `json:"from"`
	To      time.Time           `json:"to"`
	Minutes []store.StatsMinute `json:"minutes"`
}

// statsParams are the query parameters of both statistics routes.
var statsParams = []apiParam{
	query("from", time.Time{}, "Start of the range (RFC 3339), rounded down to the minute; an hour before `to` when absent."),
	query("to", time.Time{}, "End of the range, excluded (RFC 3339); the end of the current minute when absent. At most 24 hours after `from`."),
}

// statsRange reads ?from=&to=, naming each bad parameter.
func statsRange(r *http.Request) (app.StatsRange, error) {
	var out app.StatsRange
	var fields []fault.FieldError
	for name, dst := range map[string]*time.Time{"from": &out.From, "to": &out.To} {
		if v := r.URL.Query().Get(name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fields = append(fields, fault.FieldError{Field: name, Message: "must be an RFC 3339 time"})
			}
			*dst = at
		}
	}
	if len(fields) > 0 {
		return out, fault.Fields("bad query", fields...)
	}
	return out, nil
}

// apiWorkflowStats is GET /api/v1/workflows/{id}/stats?from=&to=.
func (s *Handlers) apiWorkflowStats(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var rng app.StatsRange
	if err == nil {
		rng, err = statsRange(r)
	}
	var st app.Statistics
	if err == nil {
		st, err = s.deps.App.Workflows.Stats(r.Context(), s.Caller(r), id, rng)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, statsOut(st))
}

// apiOrganizationStats is GET /api/v1/stats?from=&to=: every workflow of the organization together.
func (s *Handlers) apiOrganizationStats(w http.ResponseWriter, r *http.Request) {
	rng, err := statsRange(r)
	var st app.Statistics
	if err == nil {
		st, err = s.deps.App.Executions.OrganizationStats(r.Context(), s.Caller(r), rng)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, statsOut(st))
}

func statsOut(st app.Statistics) StatsJSON {
	out := StatsJSON{From: st.From, To: st.To, Minutes: st.Minutes}
	if out.Minutes == nil {
		out.Minutes = []store.StatsMinute{}
	}
	return out
}
