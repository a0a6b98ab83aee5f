package queue

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
)

// DefaultExpressBudget is how long an execution may run on the express path before it is given to the queue
// instead: a few milliseconds covers the transforms and conditions of a typical webhook workflow (they run in tens
// of microseconds) and is small beside a request's own cost, so that a slow workflow cannot hold its callers.
const DefaultExpressBudget = 10 * time.Millisecond

// Express runs an execution ahead of the queue, in the request that accepts it, when that is cheap and safe: its
// workflow version is pure (no node changes the world, iterates or waits), a slot is free, and the run succeeds
// within the budget. The ingester then writes it finished in the group commit that accepts it, with its node runs
// and no job: one commit instead of three, and none of the job's row versions. Anything else — a side effect, a
// failure (whose error workflows and retries belong to a worker), a run over budget, every slot busy — is thrown
// away and the execution queued as usual: a pure run can be repeated at will, so nothing is lost or done twice.
// It implements store.ExpressEvaluator.
type Express struct {
	opts  ExpressOptions
	slots chan struct{}
}

// ExpressOptions configure an Express.
type ExpressOptions struct {
	// Plans and Executor are the worker's (required).
	Plans    *engine.PlanLoader
	Executor *engine.Executor
	// Budget bounds one run (default DefaultExpressBudget).
	Budget time.Duration
	// Slots bounds the runs at once (default GOMAXPROCS): past it an execution is queued rather than waiting,
	// so that under load the express path never adds to a caller's wait.
	Slots int
	// Enabled chooses the organizations whose executions take the express path (nil: all); the feature flag
	// engine.execution_path.
	Enabled func(ctx context.Context, org uuid.UUID) bool
	Metrics *Metrics
	Logger  *slog.Logger
	// LogExecutions is the worker's (LOG_EXECUTIONS): at LogExecutionsAll an express run gets the same "execution
	// finished" line a worker writes. Express runs only succeed, so "failed" never logs one.
	LogExecutions LogExecutions
}

// expressOutcome is what became of an execution offered to the express path.
type expressOutcome string

const (
	expressRan        expressOutcome = "ran"
	expressOff        expressOutcome = "queued_off"
	expressBusy       expressOutcome = "queued_busy"
	expressImpure     expressOutcome = "queued_impure"
	expressUnfinished expressOutcome = "queued_unfinished"
)

var expressOutcomes = []expressOutcome{expressRan, expressOff, expressBusy, expressImpure, expressUnfinished}

// NewExpress returns an express path.
func NewExpress(opts ExpressOptions) *Express {
	if opts.Budget <= 0 {
		opts.Budget = DefaultExpressBudget
	}
	if opts.Slots <= 0 {
		opts.Slots = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Express{opts: opts, slots: make(chan struct{}, opts.Slots)}
}

// Evaluate runs e if it can, and returns its completion when it succeeded within the budget.
func (x *Express) Evaluate(ctx context.Context, e Execution) (Completion, bool) {
	select {
	case x.slots <- struct{}{}:
		defer func() { <-x.slots }()
	default:
		x.opts.Metrics.expressed(expressBusy)
		return Completion{}, false
	}
	if x.opts.Enabled != nil && !x.opts.Enabled(ctx, e.OrganizationID) {
		x.opts.Metrics.expressed(expressOff)
		return Completion{}, false
	}
	plan, err := x.opts.Plans.Load(ctx, e.WorkflowVersionID)
	if err != nil || !plan.Pure() {
		// A version that does not compile is the worker's to fail, with its message.
		x.opts.Metrics.expressed(expressImpure)
		return Completion{}, false
	}
	started := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, x.opts.Budget)
	defer cancel()
	res, err := x.opts.Executor.Run(runCtx, plan, engine.RunInput{
		Execution: engine.ExecutionInfo{ID: e.ID.String(), WorkflowID: e.WorkflowID.String(), Version: int64(e.Version),
			OrganizationID: e.OrganizationID.String()},
		Trigger:  e.TriggerData,
		Observer: x.opts.Metrics,
		Services: &engine.Services{Logger: x.opts.Logger.With("execution_id", e.ID.String())},
	})
	if err != nil || res.Status != engine.ExecutionSucceeded {
		x.opts.Metrics.expressed(expressUnfinished)
		return Completion{}, false
	}
	return Completion{Execution: e.Ref(), Status: res.Status, StartedAt: started, NodeRuns: res.NodeRuns}, true
}

// Committed counts an execution the express path ran, once it is written, and logs it as LogExecutions says.
func (x *Express) Committed(e Execution, c Completion) {
	x.opts.Metrics.expressed(expressRan)
	x.opts.Metrics.finished(e, c.Status, time.Since(c.StartedAt))
	if x.opts.LogExecutions == LogExecutionsAll {
		x.opts.Logger.LogAttrs(context.Background(), slog.LevelInfo, "execution finished",
			slog.String("execution_id", e.ID.String()), slog.String("workflow_id", e.WorkflowID.String()),
			slog.String("organization_id", e.OrganizationID.String()), slog.String("status", string(c.Status)),
			slog.Duration("duration", time.Since(c.StartedAt)), slog.Bool("express", true))
	}
}
