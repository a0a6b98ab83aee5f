package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/batch"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/db"
)

// WorkerWrites is the storage of a worker process (queue.ExecutionStore) built for throughput. Starting an execution
// costs no commit: it is read, and recorded as running only if it is still running a little later (runningMarkDelay),
// together with the others in that case; most executions finish sooner and go from queued to their end in one
// write. The completions of many executions (their pure node runs and final statuses) are written in one
// transaction, and each worker waits only for the commit that holds its own. Side-effecting node runs and parked
// executions still go straight to the database, one transaction each: those must not wait.
//
// It is a service.Service. Stop it after the River client, so that no worker is left waiting: it writes the
// completions it took, and completions arriving after are written one by one.
type WorkerWrites struct {
	store       *Store
	logger      *slog.Logger
	clock       clockwork.Clock
	completions *batch.Batcher[queue.Completion, bool]
	// marks records executions as running; starts and finished feed it.
	marks    *service.Loop
	starts   chan uuid.UUID
	finished chan uuid.UUID
	// writing lets one statement over many execution rows run at a time (a group's completions, or running marks):
	// two of them locking shared rows in different orders could deadlock.
	writing sync.Mutex
}

var _ queue.ExecutionStore = (*WorkerWrites)(nil)

// runningMarkDelay is how long an execution runs before it is recorded as running: long enough for the common quick
// execution to finish first, short enough that people watching a slow one see it start.
const runningMarkDelay = 200 * time.Millisecond

// NewWorkerWrites returns the batching storage of a worker; it must be started.
func (s *Store) NewWorkerWrites(arch *service.Archetype, window time.Duration, maxBatch int) *WorkerWrites {
	w := &WorkerWrites{store: s, logger: arch.Logger, clock: arch.Clock,
		starts: make(chan uuid.UUID, maxBatch*8), finished: make(chan uuid.UUID, maxBatch*8)}
	w.completions = batch.New(batch.Config{Window: window, MaxSize: maxBatch, Clock: arch.Clock}, w.flushCompletions)
	w.marks = service.NewLoop(w.markRunningLoop)
	return w
}

// Start implements service.Service.
func (w *WorkerWrites) Start(ctx context.Context) error {
	return service.StartAll(ctx, w.completions, w.marks)
}

// Stop implements service.Service: it returns once the completions it took are written.
func (w *WorkerWrites) Stop() { service.StopAll(w.completions, w.marks) }

// ExecutionStart implements queue.ExecutionStore. Executions of workflows with a concurrency limit take the locking
// path (ordering needs the lock); the others are only read.
func (w *WorkerWrites) ExecutionStart(ctx context.Context, id uuid.UUID) (queue.Execution, queue.StartOutcome, error) {
	row, err := w.store.q.ExecutionLoad(ctx, id)
	if err != nil {
		if err == pgx.ErrNoRows {
			return queue.Execution{}, queue.AlreadyFinished, nil
		}
		return queue.Execution{}, queue.AlreadyFinished, interpret(err, "execution")
	}
	switch {
	case row.Status != StatusQueued && row.Status != StatusRunning && row.Status != StatusWaiting:
		return queue.Execution{}, queue.AlreadyFinished, nil
	case row.ConcurrencyLimit != nil || row.Status != StatusQueued || row.HasRuns:
		// Limited workflows, and executions with recorded runs to resume from (after a crash, a delay, or a retry
		// from the failed node), take the full path.
		return w.store.ExecutionStart(ctx, id)
	}
	select {
	case w.starts <- id:
	default:
		// The running mark is for people watching; under a flood, skip it rather than slow the worker.
	}
	trigger, err := w.store.resolve(ctx, row.OrganizationID, row.TriggerData)
	if err != nil {
		return queue.Execution{}, queue.AlreadyFinished, err
	}
	return queue.Execution{ID: row.ID, OrganizationID: row.OrganizationID, WorkflowID: row.WorkflowID,
		WorkflowVersionID: row.WorkflowVersionID, Version: row.Version, TriggerKind: row.TriggerKind,
		TriggerData: trigger, CreatedAt: row.CreatedAt, CancelRequested: row.CancelRequestedAt != nil,
		RequestID: deref(row.RequestID), TraceParent: deref(row.TraceParent)}, queue.Started, nil
}

// NodeRunsForResume implements queue.ExecutionStore.
func (w *WorkerWrites) NodeRunsForResume(ctx context.Context, ref queue.ExecutionRef, bodies map[string]string) ([]engine.NodeRun, error) {
	return w.store.NodeRunsForResume(ctx, ref, bodies)
}

// NodeRunRecord implements queue.ExecutionStore: at once, in its own transaction.
func (w *WorkerWrites) NodeRunRecord(ctx context.Context, ref queue.ExecutionRef, run engine.NodeRun) error {
	return w.store.NodeRunRecord(ctx, ref, run)
}

// BatchRecord implements queue.ExecutionStore: at once, in its own transaction.
func (w *WorkerWrites) BatchRecord(ctx context.Context, ref queue.ExecutionRef, runs []engine.NodeRun) error {
	return w.store.BatchRecord(ctx, ref, runs)
}

// OrganizationRunningJobs implements queue.ExecutionStore.
func (w *WorkerWrites) OrganizationRunningJobs(ctx context.Context, org uuid.UUID, exceptClient string, limit int) (int, error) {
	return w.store.OrganizationRunningJobs(ctx, org, exceptClient, limit)
}

// WorkflowDefinition implements queue.ExecutionStore.
func (w *WorkerWrites) WorkflowDefinition(ctx context.Context, versionID uuid.UUID) (json.RawMessage, error) {
	return w.store.WorkflowDefinition(ctx, versionID)
}

// ExecutionGiveUp implements queue.ExecutionStore: at once, in its own transaction (a rare path).
func (w *WorkerWrites) ExecutionGiveUp(ctx context.Context, id uuid.UUID, reason string) (queue.Execution, bool, error) {
	return w.store.ExecutionGiveUp(ctx, id, reason)
}

// ExecutionComplete implements queue.ExecutionStore, grouping final statuses with other workers' ones.
func (w *WorkerWrites) ExecutionComplete(ctx context.Context, c queue.Completion) (bool, error) {
	select {
	case w.finished <- c.Execution.ID:
	default: // then it may be marked running after the fact, which its final status overrides
	}
	c, err := w.store.offloadCompletion(ctx, c)
	if err != nil {
		return false, err
	}
	if c.Status == engine.ExecutionWaiting {
		return w.store.executionComplete(ctx, c) // it schedules a job: rare, and not worth a batch
	}
	changed, err := w.completions.Submit(ctx, c)
	if errors.Is(err, service.ErrStopped) {
		// Not written by the group: a worker still finishing after the stop writes its own.
		return w.store.executionComplete(ctx, c)
	}
	return changed, err
}

// markRunningLoop records as running, every half runningMarkDelay, the executions started at least runningMarkDelay
// ago and not finished since, until ctx ends.
func (w *WorkerWrites) markRunningLoop(ctx context.Context) {
	ticker := w.clock.NewTicker(runningMarkDelay / 2)
	defer ticker.Stop()
	// started holds executions begun but not finished, with when they began.
	started := map[uuid.UUID]time.Time{}
	for {
		select {
		case id := <-w.starts:
			started[id] = w.clock.Now()
		case id := <-w.finished:
			delete(started, id)
		case now := <-ticker.Chan():
			var due []uuid.UUID
			for id, at := range started {
				if now.Sub(at) >= runningMarkDelay {
					due = append(due, id)
					delete(started, id)
				}
			}
			if len(due) > 0 {
				w.markRunning(due)
			}
		case <-ctx.Done():
			return
		}
	}
}

// markRunning records, in one statement, that executions have started, and publishes it.
func (w *WorkerWrites) markRunning(ids []uuid.UUID) {
	w.writing.Lock()
	defer w.writing.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		rows, err := q.ExecutionMarkRunning(ctx, ids)
		if err != nil {
			return err
		}
		events := make([]ExecutionEvent, len(rows))
		for i, r := range rows {
			events[i] = ExecutionEvent{ExecutionID: r.ID, OrganizationID: r.OrganizationID, WorkflowID: r.WorkflowID,
				Status: StatusRunning}
		}
		return w.store.notifyTx(ctx, tx, events)
	})
	if err != nil {
		w.logger.Warn("recording started executions failed", "count", len(ids), "error", err)
	}
}

// flushCompletions writes a group of completions in one transaction; when the group fails, each is written alone so
// that one bad completion fails only its own worker.
func (w *WorkerWrites) flushCompletions(ctx context.Context, group []queue.Completion, results []batch.Result[bool]) {
	w.writing.Lock()
	defer w.writing.Unlock()
	changed, err := w.writeCompletions(ctx, group)
	if err == nil {
		for i, c := range group {
			results[i].Value = changed[c.Execution.ID]
		}
		return
	}
	w.logger.Warn("group completion failed; writing one by one", "size", len(group), "error", err)
	for i, c := range group {
		results[i].Value, results[i].Err = w.store.executionComplete(ctx, c)
	}
}

func (w *WorkerWrites) writeCompletions(ctx context.Context, group []queue.Completion) (map[uuid.UUID]bool, error) {
	var runs nodeRunBatch
	finish := db.ExecutionFinishManyParams{
		Ids: make([]uuid.UUID, len(group)), Statuses: make([]string, len(group)),
		Errors: make([]string, len(group)), FailedNodeIds: make([]string, len(group)),
		StartedAts: make([]time.Time, len(group)),
	}
	events := make([]ExecutionEvent, 0, len(group))
	for i, c := range group {
		runs.add(c.Execution, c.NodeRuns...)
		finish.Ids[i], finish.Statuses[i], finish.Errors[i] = c.Execution.ID, string(c.Status), c.Error
		finish.FailedNodeIds[i] = c.FailedNodeID
		finish.StartedAts[i] = c.StartedAt
		if c.StartedAt.IsZero() {
			finish.StartedAts[i] = w.clock.Now()
		}
	}
	changed := make(map[uuid.UUID]bool, len(group))
	err := w.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if !runs.empty() {
			if err := q.NodeRunInsertMany(ctx, runs.NodeRunInsertManyParams); err != nil {
				return interpret(err, "node runs")
			}
		}
		ids, err := q.ExecutionFinishMany(ctx, finish)
		if err != nil {
			return interpret(err, "executions")
		}
		for _, id := range ids {
			changed[id] = true
		}
		// Failures only: a group of successes runs no more statements than before.
		if err := w.store.startErrorWorkflowsTx(ctx, tx, failedIDs(group, changed)); err != nil {
			return err
		}
		for _, c := range group {
			status := string(c.Status)
			if !changed[c.Execution.ID] {
				status = "" // a cancel won the race: only the node runs are news
			}
			events = append(events, ExecutionEvent{ExecutionID: c.Execution.ID, OrganizationID: c.Execution.OrganizationID,
				WorkflowID: c.Execution.WorkflowID, Status: status}.withNodes(c.NodeRuns))
		}
		return w.store.notifyTx(ctx, tx, events)
	})
	return changed, err
}
