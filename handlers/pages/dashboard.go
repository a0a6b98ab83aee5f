package pages

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// dashboardListSize caps the dashboard's slowest workflows and recent failures.
const dashboardListSize = 5

// dashboardPeriod is one period the dashboard sums up: its length in buckets of step. Each ends with the bucket
// now is in, so a day is the last 24 hours to the hour and a month the last 30 days to the day (UTC).
type dashboardPeriod struct {
	key, label, since string
	step              time.Duration
	buckets           int
}

// dashboardPeriods are the periods to choose from; the first is the default.
var dashboardPeriods = []dashboardPeriod{
	{"24h", "24 hours", "in the last 24 hours", time.Hour, 24},
	{"7d", "7 days", "in the last 7 days", 6 * time.Hour, 28},
	{"30d", "30 days", "in the last 30 days", 24 * time.Hour, 30},
}

// dashboard is the signed-in landing page: the organization's executions over a period (?period=24h|7d|30d),
// summed up from the statistics rollup (store.DashboardGet).
func (s *Handlers) dashboard(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.Authorize(r, authz.ExecutionView, authz.Org(id.Org.ID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	period, err := dashboardPeriodOf(r.URL.Query().Get("period"))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	until := time.Now().UTC().Truncate(period.step).Add(period.step)
	since := until.Add(-time.Duration(period.buckets) * period.step)
	d, err := s.deps.Store.DashboardGet(r.Context(), id.Org.ID, store.DashboardQuery{Since: since, Step: period.step,
		Limit: dashboardListSize})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	minutes, err := s.deps.App.Executions.OrganizationStats(r.Context(), s.Caller(r), app.StatsRange{})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	stats := dashboardStats(d, period)
	stats.Chart = periodCharts(d, period, since, until)
	stats.Minutes = statsCharts("organization-stats", "The last hour, minute by minute", minutes)
	s.Render(w, r, http.StatusOK, "Dashboard", views.Dashboard(views.DashboardPage{
		UserName: id.User.Name, OrgName: id.Org.Name, Role: string(id.Principal.Role), Version: s.deps.Version,
	}, stats))
}

// dashboardPeriodOf reads the period parameter; empty is the default.
func dashboardPeriodOf(key string) (dashboardPeriod, error) {
	if key == "" {
		return dashboardPeriods[0], nil
	}
	for _, p := range dashboardPeriods {
		if p.key == key {
			return p, nil
		}
	}
	return dashboardPeriod{}, fault.New(fault.Invalid, "period must be 24h, 7d or 30d")
}

// periodCharts lays out the period's series.
func periodCharts(d store.Dashboard, p dashboardPeriod, since, until time.Time) views.StatsCharts {
	points := make([]views.StatsPoint, len(d.Series))
	for i, b := range d.Series {
		points[i] = views.StatsPoint{Minute: b.Start, Succeeded: int32(min(b.Succeeded, math.MaxInt32)),
			Failed: int32(min(b.Failed, math.MaxInt32)), Canceled: int32(min(b.Canceled, math.MaxInt32)),
			Average: float64(b.Average) / float64(time.Millisecond)}
	}
	return views.NewPeriodCharts("period-stats", "", since, until, p.step, points)
}

// statsCharts lays out the charts of a range of per-minute statistics.
func statsCharts(id, title string, st app.Statistics) views.StatsCharts {
	points := make([]views.StatsPoint, len(st.Minutes))
	for i, m := range st.Minutes {
		points[i] = views.StatsPoint{Minute: m.Minute, Succeeded: m.Succeeded, Failed: m.Failed, Canceled: m.Canceled,
			P50: m.P50Ms, P95: m.P95Ms, P99: m.P99Ms}
	}
	return views.NewStatsCharts(id, title, st.From, st.To, points)
}

func dashboardStats(d store.Dashboard, p dashboardPeriod) views.DashboardStats {
	out := views.DashboardStats{Period: p.key, Since: p.since, TestRuns: d.TestSucceeded + d.TestFailed}
	for _, q := range dashboardPeriods {
		out.Periods = append(out.Periods, views.DashboardPeriod{Key: q.key, Label: q.label})
	}
	for _, status := range views.ExecutionStatusOrder {
		n := d.ByStatus[status]
		out.ByStatus = append(out.ByStatus, views.StatusCount{Status: status, Count: n})
		out.Total += n
	}
	// Canceled runs say nothing of the workflow's health, nor do test runs; only succeeded and failed production
	// runs count.
	succeeded := d.ByStatus[store.StatusSucceeded] // test runs are counted apart (TestSucceeded, TestFailed)
	failed := d.ByStatus[store.StatusFailed]
	if succeeded+failed > 0 {
		out.SuccessRate = fmt.Sprintf("%.0f%%", float64(succeeded)*100/float64(succeeded+failed))
	}
	for _, w := range d.Slowest {
		out.Slowest = append(out.Slowest, views.SlowWorkflow{ID: w.WorkflowID.String(), Name: w.WorkflowName,
			Executions: w.Executions, Average: durationText(w.Average)})
	}
	for _, f := range d.RecentFailures {
		out.Failures = append(out.Failures, views.FailureRow{ExecutionID: f.ExecutionID.String(),
			WorkflowID: f.WorkflowID.String(), Workflow: f.WorkflowName, Error: f.Error, At: views.Stamp(f.CreatedAt)})
	}
	return out
}
