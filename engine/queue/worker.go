package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/trace"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/tracing"
)

// errCanceledByUser is the cause given to an execution's context when someone cancels it, to tell that apart from
// a worker shutting down (whose executions must resume elsewhere, not end).
var errCanceledByUser = errors.New("execution canceled")

// errInterrupted marks the error of a pass that stopped because its worker is stopping (or lost its liveness lock):
// the execution resumes elsewhere.
var errInterrupted = errors.New("interrupted")

// errNotAlive is the cause given to the executions of a process that can no longer prove it is alive (SetAlive):
// another process will soon take their jobs back, so they stop and resume there.
var errNotAlive = errors.New("this worker process lost its liveness lock; the execution resumes on another worker")

// notAliveSnooze is how long a job fetched while the process cannot prove it is alive waits before it is offered
// again (to whichever process fetches it first).
const notAliveSnooze = time.Second

// concurrencySnooze is how long an execution held back by its workflow's concurrency limit waits before asking
// again. Short, because the older executions it waits for are usually quick.
const concurrencySnooze = 250 * time.Millisecond

// orgCapSnooze is how long an execution held back by its organization's cap waits before asking again (with up to
// as much again of jitter, so that a backlog's snoozed jobs do not come back all at once).
const orgCapSnooze = time.Second

// riverRescuedError is the attempt error River's JobRescuer records on a job whose worker stopped heartbeating:
// the process died (killed, out of memory) or the pass outlived its job deadline without returning.
const riverRescuedError = "Stuck job rescued by JobRescuer"

// WorkerGoneError is the attempt error recorded on a running job taken back from a worker process that stopped
// proving it is alive (sql/store's WorkerLiveness): the process died, or lost the database for too long.
const WorkerGoneError = "its worker process stopped proving it is alive; the job was taken back"

// JobTimeout is River's deadline for one pass over an execution: the execution's own timeout, which the worker
// enforces itself so that a timed-out execution is recorded as failed rather than retried, plus the margin needed to
// record that failure.
func JobTimeout(executionTimeout time.Duration) time.Duration {
	return executionTimeout + jobMargin(executionTimeout)
}

// RescueStuckJobsAfter is when River's JobRescuer takes back a job still marked running: a margin past its
// deadline, so that a pass that is only slow to return is never run twice at once. River knows nothing else of a
// job's worker: alone, it would leave the jobs of a process that died (SIGKILL, out of memory) running for this
// long, an hour and more with the default timeout. The jobs of dead processes are taken back within seconds by
// the liveness sweep instead (sql/store's WorkerLiveness); this rescue remains for a live process whose pass never
// returns.
func RescueStuckJobsAfter(executionTimeout time.Duration) time.Duration {
	return JobTimeout(executionTimeout) + jobMargin(executionTimeout)
}

// jobMargin is a tenth of the execution timeout, between 5 seconds and a minute.
func jobMargin(executionTimeout time.Duration) time.Duration {
	return min(max(executionTimeout/10, 5*time.Second), time.Minute)
}

// WorkerOptions is what an ExecuteWorker is built from.
type WorkerOptions struct {
	Store    ExecutionStore
	Executor *engine.Executor
	// Plans gives the compiled plan of the version an execution runs (required).
	Plans *engine.PlanLoader
	// Services returns what the nodes of one execution may use (scoped to its organization); nil gives none.
	Services func(ctx context.Context, e Execution) *engine.Services
	Logger   *slog.Logger
	Metrics  *Metrics
	// ExecutionTimeout bounds one worker pass over an execution; past it the execution fails.
	ExecutionTimeout time.Duration
	// MaxWorkerStops is how many times an execution may stop the worker running it (its process died, or it
	// panicked) before the next pickup fails it instead of running it again; 0 means DefaultMaxWorkerStops.
	MaxWorkerStops int
	// OrgMaxRunning is how many executions of one organization may hold a worker at once, counted across every
	// process on the database; one more is snoozed. 0 means DefaultOrgMaxRunning, negative no cap.
	OrgMaxRunning int
	// LogExecutions says which finished executions get a log line (LOG_EXECUTIONS); "" means LogExecutionsFailed.
	LogExecutions LogExecutions
	// Tracing starts the job's and the nodes' spans; nil means tracing.Off().
	Tracing *tracing.Tracing
}

// LogExecutions says which finished executions the worker logs, one line each (LOG_EXECUTIONS).
type LogExecutions string

// The values of LogExecutions.
const (
	LogExecutionsOff    LogExecutions = "off"
	LogExecutionsFailed LogExecutions = "failed"
	LogExecutionsAll    LogExecutions = "all"
)

// ParseLogExecutions reads LOG_EXECUTIONS; "" gives the default, failed.
func ParseLogExecutions(s string) (LogExecutions, error) {
	switch v := LogExecutions(s); v {
	case "":
		return LogExecutionsFailed, nil
	case LogExecutionsOff, LogExecutionsFailed, LogExecutionsAll:
		return v, nil
	}
	return "", fmt.Errorf("want off, failed or all, got %q", s)
}

// ExecuteWorker is the River worker that runs executions. One serves every job of a process.
type ExecuteWorker struct {
	river.WorkerDefaults[ExecuteArgs]
	opts WorkerOptions

	mu      sync.Mutex
	running map[uuid.UUID]context.CancelCauseFunc
	// notAlive is set while the process cannot prove it is alive (SetAlive).
	notAlive bool
	// orgRunning counts this process's jobs per organization, for the organization cap.
	orgRunning map[uuid.UUID]int
	// orgOthers is the last count of other processes' running jobs per organization, and when it was read.
	orgOthers map[uuid.UUID]othersCount
}

// othersCount is a snapshot of how many jobs of an organization other processes run.
type othersCount struct {
	n    int
	read time.Time
}

// orgSnapshotAge is how old the count of an organization's jobs in other processes may be.
const orgSnapshotAge = 100 * time.Millisecond

// NewExecuteWorker returns a worker.
func NewExecuteWorker(opts WorkerOptions) *ExecuteWorker {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ExecutionTimeout <= 0 {
		opts.ExecutionTimeout = time.Hour
	}
	if opts.MaxWorkerStops <= 0 {
		opts.MaxWorkerStops = DefaultMaxWorkerStops
	}
	if opts.OrgMaxRunning == 0 {
		opts.OrgMaxRunning = DefaultOrgMaxRunning
	}
	if opts.LogExecutions == "" {
		opts.LogExecutions = LogExecutionsFailed
	}
	if opts.Tracing == nil {
		opts.Tracing = tracing.Off()
	}
	return &ExecuteWorker{opts: opts, running: map[uuid.UUID]context.CancelCauseFunc{}, orgRunning: map[uuid.UUID]int{},
		orgOthers: map[uuid.UUID]othersCount{}}
}

// Timeout implements river.Worker (see JobTimeout).
func (w *ExecuteWorker) Timeout(*river.Job[ExecuteArgs]) time.Duration {
	return JobTimeout(w.opts.ExecutionTimeout)
}

// CancelExecution cancels the context of an execution this process is running, if it is; the engine stops at the
// next node boundary and the execution ends canceled. Cancel requests reach every process through NOTIFY.
func (w *ExecuteWorker) CancelExecution(id uuid.UUID) bool {
	w.mu.Lock()
	cancel, ok := w.running[id]
	w.mu.Unlock()
	if ok {
		cancel(errCanceledByUser)
	}
	return ok
}

// SetAlive tells the worker whether its process still proves to the others that it is alive. While it does not,
// its jobs will be taken back and resumed elsewhere (sql/store's WorkerLiveness), so the executions it runs stop at
// once, unrecorded where they were, and jobs it fetches meanwhile are handed back: an execution is never run by two
// processes at once.
func (w *ExecuteWorker) SetAlive(alive bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notAlive = !alive
	if !alive {
		for _, cancel := range w.running {
			cancel(errNotAlive)
		}
	}
}

// Work implements river.Worker. On the job's last attempt (River's MaxAttempts), a pass that would fail the job
// fails the execution instead: River discards a job whose last attempt fails, and nothing would ever finish its
// execution, left queued or running for good.
func (w *ExecuteWorker) Work(ctx context.Context, job *river.Job[ExecuteArgs]) (err error) {
	if job.Attempt < job.MaxAttempts {
		return w.work(ctx, job)
	}
	defer func() {
		if p := recover(); p != nil {
			w.opts.Logger.Error("execution worker panicked on the job's last attempt", "execution_id", job.Args.ExecutionID,
				"panic", p, "stack", string(debug.Stack()))
			err = w.giveUp(ctx, job, fmt.Errorf("the worker stopped on an internal error: %v", p))
		}
	}()
	err = w.work(ctx, job)
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	switch {
	case err == nil, errors.As(err, &snooze), errors.As(err, &cancel):
		return err
	case errors.Is(err, errInterrupted):
		// The pass stopped for the worker's sake (a shutdown, a lost liveness lock), not the execution's: hand the
		// job back without spending the attempt, to resume elsewhere.
		return river.JobSnooze(notAliveSnooze)
	}
	return w.giveUp(ctx, job, err)
}

// giveUp fails the execution of a job whose last attempt failed with cause, and cancels the job with cause. When
// even that cannot be recorded (the database is away), the job is left to River, which discards it, and the
// liveness sweeper fails the execution later (sql/store's WorkerLiveness).
func (w *ExecuteWorker) giveUp(ctx context.Context, job *river.Job[ExecuteArgs], cause error) error {
	reason := GaveUpReason(job.Attempt, cause.Error())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	exec, changed, err := w.opts.Store.ExecutionGiveUp(ctx, job.Args.ExecutionID, reason)
	if err != nil {
		return fmt.Errorf("%w (recording the execution's failure failed too: %v)", cause, err)
	}
	if changed {
		w.opts.Metrics.GaveUp(exec)
		w.opts.Logger.Warn("execution failed: its job gave up", "execution_id", exec.ID, "workflow_id", exec.WorkflowID,
			"organization_id", exec.OrganizationID, "attempts", job.Attempt, "error", cause)
	}
	return river.JobCancel(cause)
}

// GaveUpReason is the error of an execution failed because its job was given up after attempts, the last one
// failing with lastError ("" when unknown).
func GaveUpReason(attempts int, lastError string) string {
	reason := "gave up after 1 attempt"
	if attempts != 1 {
		reason = fmt.Sprintf("gave up after %d attempts", attempts)
	}
	if lastError != "" {
		reason += ": " + lastError
	}
	return reason
}

// work is one pass of Work.
func (w *ExecuteWorker) work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	fetched := time.Now()
	if !w.alive() {
		return river.JobSnooze(notAliveSnooze)
	}
	if org := job.Args.OrganizationID; org != uuid.Nil && w.opts.OrgMaxRunning > 0 && len(job.AttemptedBy) > 0 {
		defer w.leaveOrg(org)
		if over, err := w.overOrgCap(ctx, org, job.AttemptedBy[len(job.AttemptedBy)-1]); err != nil {
			return err
		} else if over {
			return river.JobSnooze(orgCapSnooze + rand.N(orgCapSnooze))
		}
	}
	exec, outcome, err := w.opts.Store.ExecutionStart(ctx, job.Args.ExecutionID)
	if err != nil {
		return fmt.Errorf(errPrefixStart+"%s: %w", job.Args.ExecutionID, err)
	}
	switch outcome {
	case AlreadyFinished:
		return nil
	case OverConcurrencyLimit:
		return river.JobSnooze(concurrencySnooze)
	}
	ctx, logger, span := w.begin(ctx, job, exec, fetched)
	defer span.End()
	defer w.opts.Metrics.started()()
	passStarted := time.Now()

	if stops := workerStops(job.Errors); stops >= w.opts.MaxWorkerStops {
		logger.Warn("execution failed for stopping its worker", "stops", stops)
		return w.complete(ctx, logger, exec, passStarted, Completion{Execution: exec.Ref(), Status: engine.ExecutionFailed,
			Error: fmt.Sprintf("the execution stopped its worker %d times; it was failed to protect the instance", stops)})
	}
	if exec.CancelRequested {
		return w.complete(ctx, logger, exec, passStarted, Completion{Execution: exec.Ref(), Status: engine.ExecutionCanceled,
			Error: "canceled"})
	}
	plan, err := w.opts.Plans.Load(ctx, exec.WorkflowVersionID)
	if err != nil {
		// A stored version that no longer compiles (a node type removed since) cannot succeed on retry.
		logger.Error("workflow version does not compile", "error", err)
		return w.complete(ctx, logger, exec, passStarted, Completion{Execution: exec.Ref(), Status: engine.ExecutionFailed,
			Error: "the workflow version cannot be run: " + err.Error()})
	}

	var recorded []engine.NodeRun
	if exec.HasRuns {
		if recorded, err = w.opts.Store.NodeRunsForResume(ctx, exec.Ref(), plan.LoopBodies()); err != nil {
			return fmt.Errorf(errPrefixStart+"%s: %w", exec.ID, err)
		}
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer w.track(exec.ID, cancel)()
	runCtx, cancelTimeout := context.WithTimeout(runCtx, w.opts.ExecutionTimeout)
	defer cancelTimeout()

	services := w.services(ctx, exec, logger)
	ref := exec.Ref()
	res, err := w.opts.Executor.Run(runCtx, plan, engine.RunInput{
		Execution: engine.ExecutionInfo{ID: exec.ID.String(), WorkflowID: exec.WorkflowID.String(), Version: int64(exec.Version),
			OrganizationID: exec.OrganizationID.String()},
		Trigger:  exec.TriggerData,
		Recorded: recorded,
		Resumed:  resumeReason(job.Errors, exec),
		Recorder: engine.RecorderFunc(func(ctx context.Context, run engine.NodeRun) error {
			if run.Status == engine.NodeFailed && w.interrupted(runCtx) {
				// The node did not finish: the worker is stopping. Recording it as failed would make the
				// resumed execution fail too; unrecorded, it runs again where the execution resumes.
				return nil
			}
			// Recorded even while the execution is being canceled: the side effect happened.
			return w.opts.Store.NodeRunRecord(context.WithoutCancel(ctx), ref, run)
		}),
		Batches: engine.BatchRecorderFunc(func(ctx context.Context, runs []engine.NodeRun) error {
			return w.opts.Store.BatchRecord(context.WithoutCancel(ctx), ref, runs)
		}),
		Observer: w.opts.Metrics,
		Tracer:   w.nodeTracer(),
		Services: services,
	})
	if err != nil {
		// A side effect that could not be recorded: retry the job, which resumes from what was recorded.
		return fmt.Errorf(errPrefixRun+"%s: %w", exec.ID, err)
	}
	if res.Status == engine.ExecutionCanceled && w.interrupted(runCtx) {
		// The worker is shutting down (or River gave up on the job): leave the execution running so that the job's
		// next attempt, on whichever worker, resumes it from its recorded runs.
		return fmt.Errorf("execution %s %w: %w", exec.ID, errInterrupted, context.Cause(runCtx))
	}
	return w.complete(ctx, logger, exec, passStarted, Completion{Execution: ref, Status: res.Status, Error: res.Error,
		FailedNodeID: res.FailedNodeID, ResumeAt: res.ResumeAt, NodeRuns: res.NodeRuns})
}

// services are what the execution's nodes reach outside the engine (Options.Services), logging to logger unless
// they bring their own logger.
func (w *ExecuteWorker) services(ctx context.Context, exec Execution, logger *slog.Logger) *engine.Services {
	var services *engine.Services
	if w.opts.Services != nil {
		services = w.opts.Services(ctx, exec)
	}
	if services == nil {
		services = &engine.Services{}
	}
	if services.Logger == nil {
		services.Logger = logger
	}
	return services
}

// alive reports whether the process proves it is alive (SetAlive).
func (w *ExecuteWorker) alive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.notAlive
}

// track registers a running execution's cancel for CancelExecution and SetAlive, and returns its removal. A pass
// registered after the process stopped proving it is alive (since Work checked) is canceled before its first node.
func (w *ExecuteWorker) track(id uuid.UUID, cancel context.CancelCauseFunc) (untrack func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running[id] = cancel
	if w.notAlive {
		cancel(errNotAlive)
	}
	return func() {
		w.mu.Lock()
		delete(w.running, id)
		w.mu.Unlock()
	}
}

// overOrgCap counts this job in its organization's running executions and reports whether that passes the cap:
// this process's jobs as counted in memory (exact, and at once), plus the other processes' as River marks them
// running in the database. Counting those is a query, too dear for every job of a busy instance (a quarter of the
// end-to-end throughput), so once an organization has a count it is read again at most every orgSnapshotAge, by
// the first job to find it stale; the jobs meanwhile use the last count. Until there is one, every job counts. Across processes the cap can so be passed by what the
// other processes started since their last count: a fraction of a second's work. River marks an ended job a
// little late, so another process's jobs that just ended may still count: there the cap errs on the side of
// waiting. leaveOrg must follow.
func (w *ExecuteWorker) overOrgCap(ctx context.Context, org uuid.UUID, client string) (bool, error) {
	now := time.Now()
	w.mu.Lock()
	w.orgRunning[org]++
	local := w.orgRunning[org]
	snap, known := w.orgOthers[org]
	stale := !known || now.Sub(snap.read) >= orgSnapshotAge
	if known && stale {
		w.orgOthers[org] = othersCount{n: snap.n, read: now} // this job counts; the others keep the last count
	}
	w.mu.Unlock()
	if local > w.opts.OrgMaxRunning {
		return true, nil
	}
	if !stale {
		return local+snap.n > w.opts.OrgMaxRunning, nil
	}
	others, err := w.opts.Store.OrganizationRunningJobs(ctx, org, client, w.opts.OrgMaxRunning-local+1)
	if err != nil {
		w.mu.Lock()
		delete(w.orgOthers, org) // the next job counts again
		w.mu.Unlock()
		return false, fmt.Errorf(errPrefixOrgCount+"%s: %w", org, err)
	}
	w.mu.Lock()
	w.orgOthers[org] = othersCount{n: others, read: now}
	w.mu.Unlock()
	return local+others > w.opts.OrgMaxRunning, nil
}

func (w *ExecuteWorker) leaveOrg(org uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.orgRunning[org]--; w.orgRunning[org] <= 0 {
		delete(w.orgRunning, org)
		delete(w.orgOthers, org)
	}
}

// workerStops counts the earlier attempts of a job that stopped their worker: taken back from a process that died
// (WorkerGoneError), rescued by River (the pass outlived its deadline and never returned) or panicked (River
// recovered it; the trace says so). An ordinary error, a graceful shutdown (which River does not record as an
// attempt) and a snooze do not count.
func workerStops(errs []rivertype.AttemptError) int {
	n := 0
	for _, e := range errs {
		if e.Error == riverRescuedError || e.Error == WorkerGoneError || e.Trace != "" {
			n++
		}
	}
	return n
}

// The reasons a pass resumes an execution whose previous pass stopped before it could finish, in words a user
// reads (engine.RunInput.Resumed; the execution page shows them on the node runs that may have run twice).
const (
	ResumedWorkerStopped  = "its worker process stopped"
	ResumedWorkerCutOff   = "its worker process lost its connection to the database"
	ResumedNotRecorded    = "the database could not be reached while recording"
	ResumedShutDown       = "the worker was shut down"
	ResumedDeadline       = "the pass outlived its deadline"
	ResumedWorkerPanicked = "the worker stopped on an internal error"
	ResumedAfterError     = "the previous pass stopped on an error"
)

// Prefixes of the errors Work returns, which resumeReason reads back from the job's attempt errors.
const (
	errPrefixStart    = "start execution "
	errPrefixRun      = "run execution "
	errPrefixComplete = "complete execution "
	errPrefixOrgCount = "count running executions of organization "
)

// resumeReason says why a pass resumes an execution, or "" when it does not: the first pass, a delay's
// continuation, a retry from the failed node. It reads the latest attempt error that a pass which had begun
// running nodes left on the job, skipping errors from before a pass began (the database down as it started).
// River records no error when a worker shuts down gracefully and hands the job back: an execution already
// running without such an error was handed back so.
func resumeReason(errs []rivertype.AttemptError, exec Execution) string {
	for i := len(errs) - 1; i >= 0; i-- {
		if reason := passStopReason(errs[i]); reason != "" {
			return reason
		}
	}
	if exec.WasRunning {
		return ResumedShutDown
	}
	return ""
}

// passStopReason translates the attempt error of a pass that stopped, or gives "" for an error from before a pass
// ran any node.
func passStopReason(e rivertype.AttemptError) string {
	switch {
	case e.Error == WorkerGoneError:
		return ResumedWorkerStopped
	case e.Error == riverRescuedError:
		return ResumedDeadline
	case e.Trace != "":
		return ResumedWorkerPanicked
	case strings.Contains(e.Error, errNotAlive.Error()):
		return ResumedWorkerCutOff
	case strings.HasPrefix(e.Error, errPrefixRun), strings.HasPrefix(e.Error, errPrefixComplete):
		return ResumedNotRecorded
	case strings.HasPrefix(e.Error, errPrefixStart), strings.HasPrefix(e.Error, errPrefixOrgCount):
		return ""
	}
	return ResumedAfterError
}

// interrupted reports whether an execution's context ended for a reason other than a user's cancel or its own
// timeout: the worker is shutting down, and the execution must resume elsewhere.
func (w *ExecuteWorker) interrupted(runCtx context.Context) bool {
	cause := context.Cause(runCtx)
	return cause != nil && !errors.Is(cause, errCanceledByUser) && !errors.Is(cause, context.DeadlineExceeded)
}

// complete records a pass's outcome. The write is not tied to the job's context: a canceled execution must still
// be recorded as canceled.
func (w *ExecuteWorker) complete(ctx context.Context, logger *slog.Logger, exec Execution, passStarted time.Time, c Completion) error {
	c.StartedAt = passStarted
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := w.opts.Store.ExecutionComplete(ctx, c); err != nil {
		return fmt.Errorf(errPrefixComplete+"%s: %w", exec.ID, err)
	}
	w.opts.Metrics.finished(exec, c.Status, time.Since(passStarted))
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(tracing.AttrStatus.String(string(c.Status)))
	if c.Status == engine.ExecutionFailed {
		tracing.Fail(span, firstLine(c.Error))
	}
	w.logFinished(ctx, logger, exec, passStarted, c)
	return nil
}

// begin gives a pass over an execution its logger (every line carries the execution's, workflow's and
// organization's ids, and the id of the request that triggered it), in ctx too for the layers below, and its span,
// which continues the trace stored with the execution and starts when the job was fetched.
func (w *ExecuteWorker) begin(ctx context.Context, job *river.Job[ExecuteArgs], exec Execution, fetched time.Time) (context.Context, *slog.Logger, trace.Span) {
	attrs := make([]any, 0, 8)
	attrs = append(attrs, slog.String("execution_id", exec.ID.String()), slog.String("workflow_id", exec.WorkflowID.String()),
		slog.String("organization_id", exec.OrganizationID.String()))
	if exec.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", exec.RequestID))
	}
	logger := w.opts.Logger.With(attrs...)
	ctx = logging.With(ctx, logger)
	ctx = tracing.WithTraceParent(ctx, exec.TraceParent)
	ctx, span := w.opts.Tracing.Tracer().Start(ctx, "execution.run", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithTimestamp(fetched))
	if span.IsRecording() {
		span.SetAttributes(tracing.AttrExecutionID.String(exec.ID.String()),
			tracing.AttrWorkflowID.String(exec.WorkflowID.String()),
			tracing.AttrOrganizationID.String(exec.OrganizationID.String()),
			tracing.AttrTriggerKind.String(exec.TriggerKind), tracing.AttrJobAttempt.Int(job.Attempt))
		if exec.RequestID != "" {
			span.SetAttributes(tracing.AttrRequestID.String(exec.RequestID))
		}
	}
	return ctx, logger, span
}

// nodeTracer is the engine's hook for node spans, nil when tracing is off (the run loop then skips it).
func (w *ExecuteWorker) nodeTracer() engine.NodeTracer {
	if !w.opts.Tracing.Enabled() {
		return nil
	}
	return nodeTracer{tracer: w.opts.Tracing.Tracer()}
}

// logFinished writes the line of a finished execution, as LogExecutions says: its status, how long it took from
// its trigger and this pass, and the node it failed at. A waiting execution has not finished.
func (w *ExecuteWorker) logFinished(ctx context.Context, logger *slog.Logger, exec Execution, passStarted time.Time, c Completion) {
	switch {
	case c.Status == engine.ExecutionWaiting, w.opts.LogExecutions == LogExecutionsOff,
		w.opts.LogExecutions == LogExecutionsFailed && c.Status != engine.ExecutionFailed:
		return
	}
	attrs := []slog.Attr{slog.String("status", string(c.Status)),
		slog.Duration("duration", time.Since(exec.CreatedAt)), slog.Duration("pass_duration", time.Since(passStarted))}
	if c.Status == engine.ExecutionFailed {
		attrs = append(attrs, slog.String("failed_node", c.FailedNodeID), slog.String("error", c.Error))
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "execution finished", attrs...)
}
