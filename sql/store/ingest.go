package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// ExecutionIngester writes executions arriving together (webhooks, form posts) in group commits: one transaction
// holds every execution row and River job that arrived within Window, up to MaxBatch. Each caller of Enqueue still
// returns only after the commit that holds its row, so an accepted trigger is never lost, while the database pays
// for one commit per group instead of one per request. Rows are written with COPY. A signed webhook call's nonce is
// claimed in the same transaction, for the whole group in one statement; a replay fails only its own request.
type ExecutionIngester struct {
	store    *Store
	logger   *slog.Logger
	window   time.Duration
	maxBatch int
	requests chan *ingestRequest
	stopped  chan struct{}
}

type ingestRequest struct {
	execution NewExecution
	// nonce, when set, is claimed with the execution; a replay is refused and writes nothing.
	nonce *WebhookNonce
	done  chan error
}

// Defaults for NewExecutionIngester, from measurements: a millisecond groups the requests that arrive under load
// without adding latency a caller notices, and a few hundred rows keep each COPY short.
const (
	DefaultIngestWindow   = time.Millisecond
	DefaultIngestMaxBatch = 500
)

var errIngesterStopped = fault.New(fault.Unavailable, "the server is shutting down; retry")

// NewExecutionIngester returns an ingester; Run must be running for Enqueue to return.
func (s *Store) NewExecutionIngester(logger *slog.Logger, window time.Duration, maxBatch int) *ExecutionIngester {
	return &ExecutionIngester{
		store: s, logger: logger, window: window, maxBatch: maxBatch,
		requests: make(chan *ingestRequest, maxBatch*4), stopped: make(chan struct{}),
	}
}

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
	if err := e.prepare(); err != nil {
		return e, err
	}
	req := &ingestRequest{execution: e, nonce: nonce, done: make(chan error, 1)}
	select {
	case <-g.stopped:
		return e, errIngesterStopped
	default:
	}
	select {
	case g.requests <- req:
	case <-g.stopped:
		return e, errIngesterStopped
	case <-ctx.Done():
		return e, ctx.Err()
	}
	select {
	case err := <-req.done:
		return e, err
	case <-g.stopped:
		// Run has written everything it took before stopping; a request that slipped in after was not written.
		select {
		case err := <-req.done:
			return e, err
		default:
			return e, errIngesterStopped
		}
	case <-ctx.Done():
		// The row may still commit; the caller just stops waiting for it.
		return e, ctx.Err()
	}
}

// Run groups and writes requests until ctx ends, then writes whatever is still waiting and returns. Stop the HTTP
// server first, so that no request is left waiting for an ingester that has gone.
func (g *ExecutionIngester) Run(ctx context.Context) {
	defer close(g.stopped)
	for {
		var first *ingestRequest
		select {
		case first = <-g.requests:
		case <-ctx.Done():
			g.drain()
			return
		}
		batch := []*ingestRequest{first}
		timer := time.NewTimer(g.window)
	collect:
		for len(batch) < g.maxBatch {
			select {
			case r := <-g.requests:
				batch = append(batch, r)
			case <-timer.C:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
		timer.Stop()
		g.flush(batch)
	}
}

func (g *ExecutionIngester) drain() {
	for {
		var batch []*ingestRequest
	take:
		for len(batch) < g.maxBatch {
			select {
			case r := <-g.requests:
				batch = append(batch, r)
			default:
				break take
			}
		}
		if len(batch) == 0 {
			return
		}
		g.flush(batch)
	}
}

// flush writes a group in one transaction. When the group fails, each request is tried alone, so that one bad row
// (a workflow deleted meanwhile) fails only its own request. A replay is not a failure of the group: it is
// answered alone while the others commit.
func (g *ExecutionIngester) flush(batch []*ingestRequest) {
	// Writes finish even during shutdown: the callers are waiting for them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	refused, err := g.write(ctx, batch)
	if err == nil {
		for i, r := range batch {
			r.done <- refused[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- err
		return
	}
	g.logger.Warn("group commit failed; writing its executions one by one", "size", len(batch), "error", err)
	for _, r := range batch {
		refused, err := g.write(ctx, []*ingestRequest{r})
		if err == nil {
			err = refused[0]
		}
		r.done <- err
	}
}

// write commits a group; refused[i] is the replay error of request i, which wrote nothing.
func (g *ExecutionIngester) write(ctx context.Context, batch []*ingestRequest) (refused []error, err error) {
	nonces := make([]*WebhookNonce, len(batch))
	for i, r := range batch {
		nonces[i] = r.nonce
	}
	err = g.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if refused, err = claimNoncesTx(ctx, q, nonces); err != nil {
			return err
		}
		rows := make([]db.ExecutionCreateManyParams, 0, len(batch))
		jobs := make([]river.InsertManyParams, 0, len(batch))
		events := make([]ExecutionEvent, 0, len(batch))
		for i, r := range batch {
			if refused[i] != nil {
				continue
			}
			e := &r.execution
			rows = append(rows, db.ExecutionCreateManyParams{ID: e.ID, OrganizationID: e.OrganizationID,
				WorkflowID: e.WorkflowID, WorkflowVersionID: e.WorkflowVersionID, Version: e.Version,
				TriggerKind: e.TriggerKind, TriggerData: e.TriggerData, Priority: e.Priority})
			jobs = append(jobs, e.jobParams(g.store.lanes))
			events = append(events, ExecutionEvent{ExecutionID: e.ID, OrganizationID: e.OrganizationID,
				WorkflowID: e.WorkflowID, Status: StatusQueued})
		}
		if len(rows) == 0 {
			return nil
		}
		if _, err := q.ExecutionCreateMany(ctx, rows); err != nil {
			return interpret(err, "executions")
		}
		if _, err := g.store.jobs.InsertManyFastTx(ctx, tx, jobs); err != nil {
			return fmt.Errorf("enqueue executions: %w", err)
		}
		return g.store.notifyTx(ctx, tx, events)
	})
	return refused, err
}

// IsStopped reports whether err means the ingester has shut down.
func IsStopped(err error) bool { return errors.Is(err, errIngesterStopped) }
