package store

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
)

// NextRunFunc computes when a version's schedule trigger fires next after a time, from the version's definition.
type NextRunFunc func(definition json.RawMessage, after time.Time) (time.Time, error)

// Scheduler starts the executions of scheduled workflows. Every worker process runs one; they need no leader,
// because each claims due schedules with FOR UPDATE SKIP LOCKED and, in the same transaction, starts the execution
// and moves the schedule to its next time after now. So a tick runs once however many schedulers run, and after
// downtime a schedule that missed several ticks runs once, not once per missed tick. It is a service.Service that
// fires due schedules at once and then every interval.
type Scheduler struct {
	*service.Loop
	store   *Store
	logger  *slog.Logger
	nextRun NextRunFunc
}

// DefaultScheduleInterval is how often a scheduler looks for due schedules: the resolution of every schedule.
const DefaultScheduleInterval = time.Second

// NewScheduler returns a scheduler firing due schedules every interval once started.
func (s *Store) NewScheduler(arch *service.Archetype, nextRun NextRunFunc, interval time.Duration) *Scheduler {
	sc := &Scheduler{store: s, logger: arch.Logger, nextRun: nextRun}
	sc.Loop = service.NewPeriodic(arch.Clock, interval, func(ctx context.Context) {
		if _, err := sc.FireDue(ctx, arch.Clock.Now()); err != nil && ctx.Err() == nil {
			sc.logger.Error("scheduler: firing due schedules failed", "error", err)
		}
	})
	return sc
}

// scheduleBatch bounds one transaction of the scheduler; more due schedules wait for the next tick.
const scheduleBatch = 200

// FireDue starts an execution for every schedule due at now and returns how many it started.
func (sc *Scheduler) FireDue(ctx context.Context, now time.Time) (int, error) {
	fired := 0
	err := sc.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		due, err := q.ScheduleClaimDue(ctx, db.ScheduleClaimDueParams{Now: now, MaxRows: scheduleBatch})
		if err != nil {
			return interpret(err, "schedules")
		}
		// Run numbers are taken in workflow id order by every writer (reserveRunNumbers), so that no two wait
		// for each other's counters in a cycle.
		slices.SortStableFunc(due, func(a, b db.ScheduleClaimDueRow) int { return bytes.Compare(a.WorkflowID[:], b.WorkflowID[:]) })
		for _, d := range due {
			next, err := sc.nextRun(d.Definition, now)
			if err != nil {
				// The current version has no schedule trigger any more: nothing to fire.
				sc.logger.Warn("scheduler: dropping a schedule whose workflow is not scheduled", "workflow_id", d.WorkflowID, "error", err)
				if err := q.ScheduleDelete(ctx, db.ScheduleDeleteParams{WorkflowID: d.WorkflowID, OrganizationID: d.OrganizationID}); err != nil {
					return interpret(err, "schedule")
				}
				continue
			}
			trigger, _ := json.Marshal(map[string]any{"scheduled_at": d.NextRunAt.UTC(), "fired_at": now.UTC()})
			if _, err := sc.store.executionCreateTx(ctx, tx, q, NewExecution{OrganizationID: d.OrganizationID,
				WorkflowID: d.WorkflowID, WorkflowVersionID: d.VersionID, Version: d.Version, TriggerKind: "schedule",
				TriggerData: trigger, Priority: d.Priority}, nil); err != nil {
				return err
			}
			last := d.NextRunAt
			if err := q.ScheduleAdvance(ctx, db.ScheduleAdvanceParams{WorkflowID: d.WorkflowID, NextRunAt: next,
				LastRunAt: &last}); err != nil {
				return interpret(err, "schedule")
			}
			fired++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return fired, nil
}
