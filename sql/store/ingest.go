package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/batch"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/db"
)

// ExecutionIngester writes executions arriving together (webhooks, form posts) in group commits: one transaction
// holds every execution row and River job that arrived within the window, up to the maximum batch. Each caller of
// Enqueue still returns only after the commit that holds its row, so an accepted trigger is never lost, while the
// database pays for one commit per group instead of one per request. Rows are written with COPY, after one
// statement that takes the group's run numbers (a counter per workflow, migration 0023). A signed webhook
// call's nonce is claimed in the same transaction, for the whole group in one statement; a replay fails only its
// own request. It is a service.Service: Stop writes what it took and refuses the rest.
type ExecutionIngester struct {
	store   *Store
	logger  *slog.Logger
	batch   *batch.Batcher[ingestRequest, struct{}]
	express atomic.Pointer[ExpressEvaluator]
}

type ingestRequest struct {
	execution NewExecution
	// acceptedAt is when the trigger was accepted: the row's created_at, read before an express run's start.
	acceptedAt time.Time
	// nonce, when set, is claimed with the execution; a replay is refused and writes nothing.
	nonce *WebhookNonce
	// finished, when set, is the execution's outcome, run ahead of the queue: it is written finished, with its
	// node runs and no job.
	finished *queue.Completion
}

// ExpressEvaluator runs an execution ahead of the queue, in the accepting request, when it can do so quickly and
// without side effects (engine/queue.Express): the group commit then writes it finished, and no job, no worker
// pass and no second commit are needed. What is acknowledged is still only what is committed.
type ExpressEvaluator interface {
	// Evaluate runs e and returns its completion; false means it was not run (or its result is not to be kept),
	// and e is queued as usual.
	Evaluate(ctx context.Context, e queue.Execution) (queue.Completion, bool)
	// Committed is told of each completion Evaluate returned once it is committed.
	Committed(e queue.Execution, c queue.Completion)
}

// Defaults for NewExecutionIngester, from measurements: a millisecond groups the requests that arrive under load
// without adding latency a caller notices, and a few hundred rows keep each COPY short.
const (
	DefaultIngestWindow   = time.Millisecond
	DefaultIngestMaxBatch = 500
)

var errIngesterStopped = fault.New(fault.Unavailable, "the server is shutting down; retry")

// NewExecutionIngester returns an ingester; it must be started for Enqueue to return.
func (s *Store) NewExecutionIngester(arch *service.Archetype, window time.Duration, maxBatch int) *ExecutionIngester {
	g := &ExecutionIngester{store: s, logger: arch.Logger}
	g.batch = batch.New(batch.Config{Window: window, MaxSize: maxBatch, Clock: arch.Clock}, g.flush)
	return g
}

// UseExpress makes the ingester try e on each execution before queueing it (nil stops that). It may be called
// while executions arrive.
func (g *ExecutionIngester) UseExpress(e ExpressEvaluator) {
	if e == nil {
		g.express.Store(nil)
		return
	}
	g.express.Store(&e)
}

// Start implements service.Service. Stop the HTTP server before the ingester, so that no request is left waiting
// for an ingester that has gone.
func (g *ExecutionIngester) Start(ctx context.Context) error { return g.batch.Start(ctx) }

// Stop implements service.Service: it writes every request already taken, and returns once they are committed.
func (g *ExecutionIngester) Stop() { g.batch.Stop() }

// Enqueue writes an execution and its job, returning once they are committed.
func (g *ExecutionIngester) Enqueue(ctx context.Context, e NewExecution) (NewExecution, error) {
	return g.enqueue(ctx, e, nil)
}

// EnqueueOnce is Enqueue for a signed webhook call: it also claims the call's nonce, in the same transaction. A
// nonce already claimed and unexpired makes it a replay: a Conflict, and nothing is written.
func (g *ExecutionIngester) EnqueueOnce(ctx context.Context, e NewExecution, nonce WebhookNonce) (NewExecution, error) {
	return g.enqueue(ctx, e, &nonce)
}

func (g *ExecutionIngester) enqueue(ctx context.Context, e NewExecution, nonce *WebhookNonce) (NewExecution, error) {
	// The span covers the wait for the group commit; the execution stores it as its trace's parent, so the
	// worker's span follows from it.
	ctx, span := g.store.tracing.Tracer().Start(ctx, "execution.ingest", trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	if err := e.prepare(ctx); err != nil {
		return e, err
	}
	if span.IsRecording() {
		span.SetAttributes(tracing.AttrExecutionID.String(e.ID.String()), tracing.AttrWorkflowID.String(e.WorkflowID.String()),
			tracing.AttrOrganizationID.String(e.OrganizationID.String()), tracing.AttrTriggerKind.String(e.TriggerKind))
	}
	req := ingestRequest{execution: e, nonce: nonce, acceptedAt: time.Now()}
	express := g.express.Load()
	var accepted queue.Execution
	if express != nil {
		accepted = e.forWorker(req.acceptedAt)
		if c, ok := (*express).Evaluate(ctx, accepted); ok {
			req.finished = &c
		}
	}
	full := req.finished // Committed is told of the full values, not of their references
	if err := g.store.offloadIngest(ctx, &req); err != nil {
		return e, err
	}
	// When ctx ends after the request was taken, the row may still commit; the caller just stops waiting for it.
	_, err := g.batch.Submit(ctx, req)
	if err != nil {
		tracing.Fail(span, err.Error())
	} else if full != nil {
		(*express).Committed(accepted, *full)
	}
	if errors.Is(err, service.ErrStopped) {
		return e, errIngesterStopped
	}
	return e, err
}

// flush writes a group in one transaction. When the group fails, each request is tried alone, so that one bad row
// (a workflow deleted meanwhile) fails only its own request. A replay is not a failure of the group: it is
// answered alone while the others commit.
func (g *ExecutionIngester) flush(ctx context.Context, reqs []ingestRequest, results []batch.Result[struct{}]) {
	refused, err := g.write(ctx, reqs)
	if err == nil {
		for i := range reqs {
			results[i].Err = refused[i]
		}
		return
	}
	if len(reqs) == 1 {
		results[0].Err = err
		return
	}
	g.logger.Warn("group commit failed; writing its executions one by one", "size", len(reqs), "error", err)
	for i := range reqs {
		refused, err := g.write(ctx, reqs[i:i+1])
		if err == nil {
			err = refused[0]
		}
		results[i].Err = err
	}
}

// write commits a group; refused[i] is the replay error of request i, which wrote nothing.
func (g *ExecutionIngester) write(ctx context.Context, reqs []ingestRequest) (refused []error, err error) {
	nonces := make([]*WebhookNonce, len(reqs))
	for i, r := range reqs {
		nonces[i] = r.nonce
	}
	err = g.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if refused, err = claimNoncesTx(ctx, q, nonces); err != nil {
			return err
		}
		var group ingestGroup
		for i := range reqs {
			if refused[i] == nil {
				group.add(&reqs[i], g.store.lanes)
			}
		}
		return g.writeGroupTx(ctx, tx, q, &group)
	})
	return refused, err
}

// ingestGroup is what one group commit writes.
type ingestGroup struct {
	rows     []db.ExecutionCreateManyParams
	jobs     []river.InsertManyParams
	nodeRuns nodeRunBatch
	events   []ExecutionEvent
}

// add adds a request: a queued execution and its job, or an execution run ahead of the queue with its node runs.
func (b *ingestGroup) add(r *ingestRequest, lanes *queue.Lanes) {
	e := &r.execution
	row := db.ExecutionCreateManyParams{ID: e.ID, OrganizationID: e.OrganizationID,
		WorkflowID: e.WorkflowID, WorkflowVersionID: e.WorkflowVersionID, Version: e.Version,
		TriggerKind: e.TriggerKind, TriggerData: e.TriggerData, Priority: e.Priority,
		RequestID: nullable(e.RequestID), TraceParent: nullable(e.TraceParent), Status: StatusQueued,
		CreatedAt: r.acceptedAt}
	event := ExecutionEvent{ExecutionID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID, Status: StatusQueued}
	if c := r.finished; c != nil {
		// Read after acceptance on the same clock; a wall clock stepped back meanwhile must not reorder them.
		started := maxTime(c.StartedAt, r.acceptedAt)
		finished := maxTime(time.Now(), started)
		row.Status, row.StartedAt, row.FinishedAt = string(c.Status), &started, &finished
		b.nodeRuns.add(c.Execution, c.NodeRuns...)
		event = event.withNodes(c.NodeRuns)
		event.Status = string(c.Status)
	} else {
		b.jobs = append(b.jobs, e.jobParams(lanes))
	}
	b.rows = append(b.rows, row)
	b.events = append(b.events, event)
}

// writeGroupTx writes a group in tx.
func (g *ExecutionIngester) writeGroupTx(ctx context.Context, tx pgx.Tx, q *db.Queries, b *ingestGroup) error {
	if len(b.rows) == 0 {
		return nil
	}
	// The group's run numbers: one statement, whatever the group holds (a counter per workflow in it).
	owners := make([]runOwner, len(b.rows))
	for i, r := range b.rows {
		owners[i] = runOwner{WorkflowID: r.WorkflowID, OrganizationID: r.OrganizationID}
	}
	numbers, err := reserveRunNumbers(ctx, q, owners)
	if err != nil {
		return err
	}
	for i := range b.rows {
		b.rows[i].RunNumber = &numbers[i]
	}
	if _, err := q.ExecutionCreateMany(ctx, b.rows); err != nil {
		return interpret(err, "executions")
	}
	if len(b.nodeRuns.NodeIds) > 0 {
		if err := q.NodeRunInsertMany(ctx, b.nodeRuns.NodeRunInsertManyParams); err != nil {
			return interpret(err, "node runs")
		}
	}
	if len(b.jobs) > 0 {
		if _, err := g.store.jobs.InsertManyFastTx(ctx, tx, b.jobs); err != nil {
			return fmt.Errorf("enqueue executions: %w", err)
		}
	}
	return g.store.notifyTx(ctx, tx, b.events)
}

// IsStopped reports whether err means the ingester has shut down.
func IsStopped(err error) bool { return errors.Is(err, errIngesterStopped) }

// maxTime is the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
