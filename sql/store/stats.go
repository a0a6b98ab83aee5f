package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
)

// How the statistics rollup works, and why so.
//
// Per-workflow figures (executions per minute by status, trigger-to-finish percentiles) would take one Prometheus
// series per workflow, a cardinality without bound on an instance with open sign-up. They live in PostgreSQL
// instead, in workflow_stats_minutes, one row per workflow per minute (and one per organization), written by one
// elected process at a time, after the fact: the hot path writes nothing for them. Each round aggregates the minutes
// from the stored cursor up to the last minute that has settled (StatsSettle behind the clock, so that completions
// committed a little late are in), rewriting each minute whole (delete, then insert), so a minute aggregated twice
// gives the same rows; the minute before the cursor is aggregated again with the next ones, for stragglers. Rows
// older than the retention are deleted every round.
//
// The executions that finished in a minute are found without an index on finished_at (which every finish would
// pay for): those that finished within statsLateAfter of their trigger through the primary key, UUIDv7 ids ordered
// by creation time, over a window starting statsLateAfter (plus a margin for clocks) before the minute; the others
// through a partial index that holds only them (migration 0013).
//
// Each round also rewrites the hours its minutes belong to in workflow_stats_hours (migration 0024), summed from
// the minutes, for the dashboard's periods of days and weeks.

// statsCursor names the rollup's cursor row.
const statsCursor = "workflow_stats"

// StatsSettle is how long after a minute's end the rollup waits before aggregating it.
const StatsSettle = 30 * time.Second

// DefaultStatsRetention is how long per-minute statistics are kept (STATS_RETENTION).
const DefaultStatsRetention = 30 * 24 * time.Hour

// DefaultStatsInterval is how often the rollup looks for settled minutes.
const DefaultStatsInterval = 20 * time.Second

// statsLateAfter matches the partial index workflow_executions_late_finish_idx: executions that finished later than
// this after their trigger are read through it. statsClockMargin allows for the clocks of the processes that make
// execution ids and the database's being apart.
const (
	statsLateAfter   = 2 * time.Minute
	statsClockMargin = time.Minute
)

// statsChunk bounds the minutes one transaction aggregates; a rollup that is behind (after a stop) catches up
// chunk by chunk.
const statsChunk = time.Hour

// statsBackfill is how far back the first round starts, on a database without a cursor.
const statsBackfill = time.Hour

// StatsRollupConfig tunes a StatsRollup.
type StatsRollupConfig struct {
	// Retention is how long rows are kept; DefaultStatsRetention when zero.
	Retention time.Duration
	// Interval is the time between rounds; DefaultStatsInterval when zero.
	Interval time.Duration
}

// StatsRollup is the service that aggregates finished executions into workflow_stats_minutes (see the comment
// above). Every process may run one: each round is done by whichever takes the round's lock.
type StatsRollup struct {
	*service.Loop
	store  *Store
	logger *slog.Logger
	clock  clockwork.Clock
	cfg    StatsRollupConfig
}

// NewStatsRollup returns the rollup service; it must be started.
func (s *Store) NewStatsRollup(arch *service.Archetype, cfg StatsRollupConfig) *StatsRollup {
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultStatsRetention
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultStatsInterval
	}
	r := &StatsRollup{store: s, logger: arch.Logger, clock: arch.Clock, cfg: cfg}
	r.Loop = service.NewPeriodic(arch.Clock, cfg.Interval, func(ctx context.Context) {
		if _, err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("statistics rollup failed", "error", err)
		}
	})
	return r
}

// Round aggregates every settled minute after the cursor and deletes rows past the retention. It reports how far
// the statistics now reach (the cursor: every minute before it is aggregated), or the zero time when another process
// held the round.
func (r *StatsRollup) Round(ctx context.Context) (time.Time, error) {
	end := r.clock.Now().Add(-StatsSettle).Truncate(time.Minute)
	for {
		next, more, err := r.chunk(ctx, end)
		if err != nil || !more {
			return next, err
		}
	}
}

// chunk aggregates up to statsChunk of settled minutes in one transaction, and reports whether more are due.
func (r *StatsRollup) chunk(ctx context.Context, end time.Time) (next time.Time, more bool, err error) {
	err = r.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		elected, err := q.StatsRollupLock(ctx)
		if err != nil || !elected {
			return err
		}
		from, err := q.StatsRollupCursorGet(ctx, statsCursor)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			from = end.Add(-statsBackfill)
		case err != nil:
			return err
		default:
			from = from.Add(-time.Minute) // once more, for completions committed after their minute was aggregated
		}
		to := end
		if from.Add(statsChunk).Before(end) {
			to = from.Add(statsChunk)
		}
		next = to
		if to.After(from) {
			if err := r.aggregate(ctx, q, from, to); err != nil {
				return err
			}
		}
		if _, err := q.StatsMinutesPrune(ctx, r.clock.Now().Add(-r.cfg.Retention)); err != nil {
			return fmt.Errorf("prune statistics: %w", err)
		}
		if _, err := q.StatsHoursPrune(ctx, r.clock.Now().Add(-r.cfg.Retention)); err != nil {
			return fmt.Errorf("prune hourly statistics: %w", err)
		}
		more = to.Before(end)
		return q.StatsRollupCursorSet(ctx, db.StatsRollupCursorSetParams{Name: statsCursor, NextMinute: laterOf(to, from.Add(time.Minute))})
	})
	return next, more, err
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// aggregate rewrites the minutes [from, to).
func (r *StatsRollup) aggregate(ctx context.Context, q *db.Queries, from, to time.Time) error {
	if err := q.StatsMinutesClear(ctx, db.StatsMinutesClearParams{FromMinute: from, ToMinute: to}); err != nil {
		return fmt.Errorf("clear statistics: %w", err)
	}
	_, err := q.StatsMinutesRollup(ctx, db.StatsMinutesRollupParams{
		LowID: uuidV7Floor(from.Add(-statsLateAfter - statsClockMargin)), HighID: uuidV7Floor(to.Add(statsClockMargin)),
		FromMinute: from, ToMinute: to})
	if err != nil {
		return fmt.Errorf("aggregate statistics: %w", err)
	}
	// The hours these minutes belong to, summed again from their minutes (the dashboard's periods read them).
	if err := q.StatsHoursClear(ctx, db.StatsHoursClearParams{FromMinute: from, ToMinute: to}); err != nil {
		return fmt.Errorf("clear hourly statistics: %w", err)
	}
	if _, err := q.StatsHoursRollup(ctx, db.StatsHoursRollupParams{FromMinute: from, ToMinute: to}); err != nil {
		return fmt.Errorf("aggregate hourly statistics: %w", err)
	}
	return nil
}

// uuidV7Floor is the smallest UUIDv7 of a millisecond: every id made at t or later sorts at or after it.
func uuidV7Floor(t time.Time) uuid.UUID {
	var id uuid.UUID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(max(t.UnixMilli(), 0)))
	copy(id[:6], ms[2:])
	id[6] = 0x70
	return id
}

// StatsMinute is one minute's finished executions (of a workflow, or of an organization's every workflow).
type StatsMinute struct {
	Minute    time.Time `json:"minute"`
	Succeeded int32     `json:"succeeded"`
	Failed    int32     `json:"failed"`
	Canceled  int32     `json:"canceled"`
	// Durations from trigger to finish, in milliseconds.
	P50Ms float64 `json:"duration_p50_ms"`
	P95Ms float64 `json:"duration_p95_ms"`
	P99Ms float64 `json:"duration_p99_ms"`
	MaxMs float64 `json:"duration_max_ms"`
}

// MaxStatsRange bounds the minutes one read returns (a day).
const MaxStatsRange = 24 * time.Hour

// StatsMinutes reads the statistics of [from, to), oldest first: a workflow's, or the organization's every workflow
// together when workflowID is nil. Minutes without finished executions have no row.
func (s *Store) StatsMinutes(ctx context.Context, orgID uuid.UUID, workflowID *uuid.UUID, from, to time.Time) ([]StatsMinute, error) {
	if to.Sub(from) > MaxStatsRange {
		return nil, fault.New(fault.Invalid, "the range is longer than %s", MaxStatsRange)
	}
	var out []StatsMinute
	if workflowID == nil {
		rows, err := s.r.StatsOrganizationMinutes(ctx, db.StatsOrganizationMinutesParams{OrganizationID: orgID,
			FromMinute: from, ToMinute: to})
		if err != nil {
			return nil, interpret(err, "statistics")
		}
		for _, r := range rows {
			out = append(out, StatsMinute{Minute: r.Minute, Succeeded: r.Succeeded, Failed: r.Failed, Canceled: r.Canceled,
				P50Ms: r.DurationP50Ms, P95Ms: r.DurationP95Ms, P99Ms: r.DurationP99Ms, MaxMs: r.DurationMaxMs})
		}
		return out, nil
	}
	rows, err := s.r.StatsWorkflowMinutes(ctx, db.StatsWorkflowMinutesParams{OrganizationID: orgID, WorkflowID: workflowID,
		FromMinute: from, ToMinute: to})
	if err != nil {
		return nil, interpret(err, "statistics")
	}
	for _, r := range rows {
		out = append(out, StatsMinute{Minute: r.Minute, Succeeded: r.Succeeded, Failed: r.Failed, Canceled: r.Canceled,
			P50Ms: r.DurationP50Ms, P95Ms: r.DurationP95Ms, P99Ms: r.DurationP99Ms, MaxMs: r.DurationMaxMs})
	}
	return out, nil
}
