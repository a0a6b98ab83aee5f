package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/db"
)

// WorkerWrites is the storage of a worker process (queue.ExecutionStore) built for throughput. Starting an execution
// costs no commit: it is read, and recorded as running only if it is still running a little later (runningMarkDelay),
// together with the others in that case; most executions finish sooner and go from queued to their end in one
// write. The
// completions of many executions (their pure node runs and final statuses) are written in one transaction, and each
// worker waits only for the commit that holds its own. Side-effecting node runs and parked executions still go
// straight to the database, one transaction each: those must not wait.
type WorkerWrites struct {
	store       *Store
	logger      *slog.Logger
	window      time.Duration
	maxBatch    int
	starts      chan uuid.UUID
	finished    chan uuid.UUID
	completions chan *completionRequest
	stopped     chan struct{}
}

type completionRequest struct {
	completion queue.Completion
	done       chan completionResult
}

type completionResult struct {
	changed bool
	err     error
}

var _ queue.ExecutionStore = (*WorkerWrites)(nil)

// runningMarkDelay is how long an execution runs before it is recorded as running: long enough for the common quick
// execution to finish first, short enough that people watching a slow one see it start.
const runningMarkDelay = 200 * time.Millisecond

// NewWorkerWrites returns the batching storage of a worker; Run must be running.
func (s *Store) NewWorkerWrites(logger *slog.Logger, window time.Duration, maxBatch int) *WorkerWrites {
	return &WorkerWrites{store: s, logger: logger, window: window, maxBatch: maxBatch,
		starts: make(chan uuid.UUID, maxBatch*8), finished: make(chan uuid.UUID, maxBatch*8),
		completions: make(chan *completionRequest, maxBatch*4),
		stopped:     make(chan struct{})}
}

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
	return queue.Execution{ID: row.ID, OrganizationID: row.OrganizationID, WorkflowID: row.WorkflowID,
		WorkflowVersionID: row.WorkflowVersionID, Version: row.Version, TriggerKind: row.TriggerKind,
		TriggerData: row.TriggerData, CreatedAt: row.CreatedAt, CancelRequested: row.CancelRequestedAt != nil}, queue.Started, nil
}

// NodeRunRecord implements queue.ExecutionStore: at once, in its own transaction.
func (w *WorkerWrites) NodeRunRecord(ctx context.Context, ref queue.ExecutionRef, run engine.NodeRun) error {
	return w.store.NodeRunRecord(ctx, ref, run)
}

// OrganizationRunningJobs implements queue.ExecutionStore.
func (w *WorkerWrites) OrganizationRunningJobs(ctx context.Context, org uuid.UUID, exceptClient string, limit int) (int, error) {
	return w.store.OrganizationRunningJobs(ctx, org, exceptClient, limit)
}

// WorkflowDefinition implements queue.ExecutionStore.
func (w *WorkerWrites) WorkflowDefinition(ctx context.Context, versionID uuid.UUID) (json.RawMessage, error) {
	return w.store.WorkflowDefinition(ctx, versionID)
}

// ExecutionComplete implements queue.ExecutionStore, grouping final statuses with other workers' ones.
func (w *WorkerWrites) ExecutionComplete(ctx context.Context, c queue.Completion) (bool, error) {
	select {
	case w.finished <- c.Execution.ID:
	default: // then it may be marked running after the fact, which its final status overrides
	}
	if c.Status == engine.ExecutionWaiting {
		return w.store.ExecutionComplete(ctx, c) // it schedules a job: rare, and not worth a batch
	}
	req := &completionRequest{completion: c, done: make(chan completionResult, 1)}
	select {
	case w.completions <- req:
	case <-w.stopped:
		return w.store.ExecutionComplete(ctx, c)
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.changed, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Run groups and writes until ctx ends, then writes what is still waiting. Stop the River client first, so that no
// worker is left waiting.
func (w *WorkerWrites) Run(ctx context.Context) {
	defer close(w.stopped)
	ticker := time.NewTicker(runningMarkDelay / 2)
	defer ticker.Stop()
	// started holds executions begun but not finished, with when they began.
	started := map[uuid.UUID]time.Time{}
	for {
		select {
		case id := <-w.starts:
			started[id] = time.Now()
		case id := <-w.finished:
			delete(started, id)
		case now := <-ticker.C:
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
		case first := <-w.completions:
			w.flushCompletions(w.collect(ctx, first))
		case <-ctx.Done():
			for {
				select {
				case r := <-w.completions:
					w.flushCompletions(w.collect(ctx, r))
				default:
					return
				}
			}
		}
	}
}

func (w *WorkerWrites) collect(ctx context.Context, first *completionRequest) []*completionRequest {
	batch := []*completionRequest{first}
	timer := time.NewTimer(w.window)
	defer timer.Stop()
	for len(batch) < w.maxBatch {
		select {
		case r := <-w.completions:
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// markRunning records, in one statement, that executions have started, and publishes it.
func (w *WorkerWrites) markRunning(ids []uuid.UUID) {
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
func (w *WorkerWrites) flushCompletions(batch []*completionRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changed, err := w.writeCompletions(ctx, batch)
	if err == nil {
		for _, r := range batch {
			r.done <- completionResult{changed: changed[r.completion.Execution.ID]}
		}
		return
	}
	w.logger.Warn("group completion failed; writing one by one", "size", len(batch), "error", err)
	for _, r := range batch {
		ok, err := w.store.ExecutionComplete(ctx, r.completion)
		r.done <- completionResult{changed: ok, err: err}
	}
}

func (w *WorkerWrites) writeCompletions(ctx context.Context, batch []*completionRequest) (map[uuid.UUID]bool, error) {
	var runs nodeRunBatch
	finish := db.ExecutionFinishManyParams{
		Ids: make([]uuid.UUID, len(batch)), Statuses: make([]string, len(batch)),
		Errors: make([]string, len(batch)), FailedNodeIds: make([]string, len(batch)),
		StartedAts: make([]time.Time, len(batch)),
	}
	events := make([]ExecutionEvent, 0, len(batch))
	for i, r := range batch {
		c := r.completion
		runs.add(c.Execution, c.NodeRuns...)
		finish.Ids[i], finish.Statuses[i], finish.Errors[i] = c.Execution.ID, string(c.Status), c.Error
		finish.FailedNodeIds[i] = c.FailedNodeID
		finish.StartedAts[i] = c.StartedAt
		if c.StartedAt.IsZero() {
			finish.StartedAts[i] = time.Now()
		}
	}
	changed := make(map[uuid.UUID]bool, len(batch))
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
		for _, r := range batch {
			c := r.completion
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
