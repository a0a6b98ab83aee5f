package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/db"
)

// How the dashboard is counted, and why so.
//
// Counting an organization's executions of the last 30 days scanned every one of them (66 ms for a day at half a
// million executions, growing with traffic). The dashboard reads the statistics rollup's hours instead
// (workflow_stats_hours, written by StatsRollup): at most one row an hour for the organization's counts and chart
// however many executions ran, and one per workflow and hour for the slowest list (the minutes took ~150 ms for a
// month). The price is that finished executions appear about a minute
// late (StatsSettle), by the minute they finished in. The executions still queued, running or waiting, which the
// rollup never holds, are counted live, and so are the recent failures: both read few rows through an index.

// DashboardQuery is the period a dashboard sums up: from Since (inclusive, a whole hour) on, in buckets of Step
// (whole hours, one at least) aligned on Since.
type DashboardQuery struct {
	Since time.Time
	Step  time.Duration
	// Limit caps the slowest workflows and the recent failures.
	Limit int
}

// Dashboard is an organization's executions over a period, summed up for its landing page.
type Dashboard struct {
	// ByStatus counts the executions of the period by status: finished ones from the rollup (by the minute they
	// finished in), unfinished ones created in the period live. Statuses without any are absent.
	ByStatus map[string]int64
	// TestSucceeded and TestFailed count the editor's test runs, which ByStatus and the series leave out.
	TestSucceeded, TestFailed int64
	// Series is the finished executions bucket by bucket, oldest first; buckets without any are absent.
	Series []DashboardBucket
	// Slowest are the workflows whose finished executions took longest on average, slowest first.
	Slowest []WorkflowDuration
	// RecentFailures are the latest failed executions created in the period, newest first.
	RecentFailures []ExecutionFailure
}

// DashboardBucket is one bucket of a dashboard's series.
type DashboardBucket struct {
	Start                       time.Time
	Succeeded, Failed, Canceled int64
	TestSucceeded, TestFailed   int64
	// Average is the mean trigger-to-finish duration, zero when the bucket has no timed executions (rolled up
	// before migration 0024).
	Average time.Duration
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

// DashboardGet sums up an organization's executions of a period (see the comment above).
func (s *Store) DashboardGet(ctx context.Context, orgID uuid.UUID, q DashboardQuery) (Dashboard, error) {
	out := Dashboard{ByStatus: map[string]int64{}}
	step := max(q.Step.Truncate(time.Hour), time.Hour) // the hourly statistics' grain
	series, err := s.r.DashboardSeries(ctx, db.DashboardSeriesParams{OrganizationID: orgID, Since: q.Since,
		StepSeconds: step.Seconds()})
	if err != nil {
		return Dashboard{}, interpret(err, "dashboard")
	}
	for _, r := range series {
		b := DashboardBucket{Start: r.Bucket, Succeeded: r.Succeeded, Failed: r.Failed, Canceled: r.Canceled,
			TestSucceeded: r.TestSucceeded, TestFailed: r.TestFailed}
		if r.Timed > 0 {
			b.Average = time.Duration(r.DurationSumMs / float64(r.Timed) * float64(time.Millisecond))
		}
		out.Series = append(out.Series, b)
		out.ByStatus[StatusSucceeded] += r.Succeeded
		out.ByStatus[StatusFailed] += r.Failed
		out.ByStatus[StatusCanceled] += r.Canceled
		out.TestSucceeded += r.TestSucceeded
		out.TestFailed += r.TestFailed
	}
	for status, n := range out.ByStatus {
		if n == 0 {
			delete(out.ByStatus, status)
		}
	}
	inFlight, err := s.r.DashboardInFlight(ctx, db.DashboardInFlightParams{OrganizationID: orgID, Since: q.Since})
	if err != nil {
		return Dashboard{}, interpret(err, "dashboard")
	}
	for _, c := range inFlight {
		out.ByStatus[c.Status] = c.Executions
	}
	if err := s.dashboardLists(ctx, orgID, q, &out); err != nil {
		return Dashboard{}, err
	}
	return out, nil
}

// dashboardLists reads the slowest workflows (from the rollup) and the recent failures (live).
func (s *Store) dashboardLists(ctx context.Context, orgID uuid.UUID, q DashboardQuery, out *Dashboard) error {
	slowest, err := s.r.DashboardSlowestWorkflows(ctx, db.DashboardSlowestWorkflowsParams{OrganizationID: orgID,
		Since: q.Since, MaxRows: int32(clampLimit(q.Limit))})
	if err != nil {
		return interpret(err, "dashboard")
	}
	for _, r := range slowest {
		out.Slowest = append(out.Slowest, WorkflowDuration{WorkflowID: r.WorkflowID, WorkflowName: r.Name,
			Executions: r.Executions, Average: time.Duration(r.AverageMs * float64(time.Millisecond))})
	}
	// The latest failures are most often of the last days: those are read first (as executionListNewestFirst
	// does), and the whole period only when they are too few, so that a month's dashboard does not plan a month
	// of partitions to show five rows.
	p := db.DashboardRecentFailuresParams{OrganizationID: orgID, Since: q.Since, MaxRows: int32(clampLimit(q.Limit))}
	if probe := time.Now().Add(-listProbeWindow); probe.After(q.Since) {
		p.Since = probe
	}
	failures, err := s.r.DashboardRecentFailures(ctx, p)
	if err == nil && len(failures) < int(p.MaxRows) && p.Since != q.Since {
		p.Since = q.Since
		failures, err = s.r.DashboardRecentFailures(ctx, p)
	}
	if err != nil {
		return interpret(err, "dashboard")
	}
	for _, r := range failures {
		out.RecentFailures = append(out.RecentFailures, ExecutionFailure{ExecutionID: r.ID, WorkflowID: r.WorkflowID,
			WorkflowName: r.WorkflowName, Error: r.Error, CreatedAt: r.CreatedAt})
	}
	return nil
}
