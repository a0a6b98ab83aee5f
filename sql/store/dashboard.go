package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/db"
)

// Dashboard is an organization's executions since a time, summed up for its landing page.
type Dashboard struct {
	// ByStatus counts the executions created since the time, by status (statuses without any are absent).
	ByStatus map[string]int64
	// Slowest are the workflows whose finished executions took longest on average, slowest first.
	Slowest []WorkflowDuration
	// RecentFailures are the latest failed executions created since the time, newest first.
	RecentFailures []ExecutionFailure
}

// WorkflowDuration is one workflow's average execution time.
type WorkflowDuration struct {
	WorkflowID   uuid.UUID
	WorkflowName string
	Executions   int64
	Average      time.Duration
}

// ExecutionFailure is one failed execution, with its workflow's name.
type ExecutionFailure struct {
	ExecutionID  uuid.UUID
	WorkflowID   uuid.UUID
	WorkflowName string
	Error        string
	CreatedAt    time.Time
}

// DashboardGet sums up an organization's executions created since a time; limit caps the slowest workflows and
// the recent failures.
func (s *Store) DashboardGet(ctx context.Context, orgID uuid.UUID, since time.Time, limit int) (Dashboard, error) {
	out := Dashboard{ByStatus: map[string]int64{}}
	counts, err := s.r.DashboardStatusCounts(ctx, db.DashboardStatusCountsParams{OrganizationID: orgID, Since: since})
	if err != nil {
		return Dashboard{}, interpret(err, "dashboard")
	}
	for _, c := range counts {
		out.ByStatus[c.Status] = c.Executions
	}
	slowest, err := s.r.DashboardSlowestWorkflows(ctx, db.DashboardSlowestWorkflowsParams{OrganizationID: orgID,
		Since: since, MaxRows: int32(clampLimit(limit))})
	if err != nil {
		return Dashboard{}, interpret(err, "dashboard")
	}
	for _, r := range slowest {
		out.Slowest = append(out.Slowest, WorkflowDuration{WorkflowID: r.WorkflowID, WorkflowName: r.Name,
			Executions: r.Executions, Average: time.Duration(r.AverageMs * float64(time.Millisecond))})
	}
	failures, err := s.r.DashboardRecentFailures(ctx, db.DashboardRecentFailuresParams{OrganizationID: orgID,
		Since: since, MaxRows: int32(clampLimit(limit))})
	if err != nil {
		return Dashboard{}, interpret(err, "dashboard")
	}
	for _, r := range failures {
		out.RecentFailures = append(out.RecentFailures, ExecutionFailure{ExecutionID: r.ID, WorkflowID: r.WorkflowID,
			WorkflowName: r.WorkflowName, Error: r.Error, CreatedAt: r.CreatedAt})
	}
	return out, nil
}
