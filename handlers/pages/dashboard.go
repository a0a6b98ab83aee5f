package pages

import (
	"fmt"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// dashboardListSize caps the dashboard's slowest workflows and recent failures.
const dashboardListSize = 5

// dashboard is the signed-in landing page: today's executions of the organization. "Today" starts at midnight UTC:
// users have no time zone yet.
func (s *Handlers) dashboard(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.Authorize(r, authz.ExecutionView, authz.Org(id.Org.ID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	d, err := s.deps.Store.DashboardGet(r.Context(), id.Org.ID, today, dashboardListSize)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	minutes, err := s.deps.App.Executions.OrganizationStats(r.Context(), s.Caller(r), app.StatsRange{})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	stats := dashboardStats(d)
	stats.Minutes = statsCharts("organization-stats", "The last hour, minute by minute", minutes)
	s.Render(w, r, http.StatusOK, "Dashboard", views.Dashboard(views.DashboardPage{
		UserName: id.User.Name, OrgName: id.Org.Name, Role: string(id.Principal.Role), Version: s.deps.Version,
	}, stats))
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

func dashboardStats(d store.Dashboard) views.DashboardStats {
	out := views.DashboardStats{Since: "today (since 00:00 UTC)"}
	for _, status := range views.ExecutionStatusOrder {
		n := d.ByStatus[status]
		out.ByStatus = append(out.ByStatus, views.StatusCount{Status: status, Count: n})
		out.Total += n
	}
	succeeded, failed := d.ByStatus[store.StatusSucceeded], d.ByStatus[store.StatusFailed]
	// Canceled runs say nothing of the workflow's health; only succeeded and failed ones count.
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
