package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Execution statuses, as DESIGN.md's public surface names them.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusWaiting   = "waiting"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
)

// Execution kinds (migration 0023): why an execution ran. Test runs (the editor's Test run) are left out of the
// dashboard and the statistics.
const (
	KindProduction = "production"
	KindTest       = "test"
	KindRetry      = "retry"
)

// IsExecutionKind reports whether k names an execution kind.
func IsExecutionKind(k string) bool { return k == KindProduction || k == KindTest || k == KindRetry }

// Execution is one run of a workflow version.
type Execution struct {
	ID                uuid.UUID
	OrganizationID    uuid.UUID
	WorkflowID        uuid.UUID
	WorkflowVersionID uuid.UUID
	Version           int32
	Status            string
	TriggerKind       string
	TriggerData       json.RawMessage
	Priority          int16
	RetryOf           *uuid.UUID
	CreatedBy         *uuid.UUID
	// RunNumber is the execution's number within its workflow ("#12"), gap-free in creation order; 0 for an
	// execution stored before numbers existed and never backfilled.
	RunNumber int64
	// Kind is production, test or retry.
	Kind  string
	Error string
	// FailedNodeID is the node a failed execution stopped at, "" when it did not fail at a node.
	FailedNodeID      string
	CancelRequestedAt *time.Time
	ResumeAt          *time.Time
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
	// RequestID is the id of the request that triggered it (X-Request-ID), "" when none did (a schedule).
	RequestID string
	// TraceID is the OpenTelemetry trace it belongs to (32 hexadecimal digits), "" when tracing was off.
	TraceID string
}

// NewExecution is an execution to enqueue. ID may be zero, and is then generated (UUIDv7).
type NewExecution struct {
	ID                uuid.UUID
	OrganizationID    uuid.UUID
	WorkflowID        uuid.UUID
	WorkflowVersionID uuid.UUID
	Version           int32
	TriggerKind       string
	TriggerData       json.RawMessage
	Priority          int16
	RetryOf           *uuid.UUID
	CreatedBy         *uuid.UUID
	// Kind is KindProduction when empty; KindRetry is set by ExecutionRetry.
	Kind string
	// RequestID and TraceParent are taken from the context it is enqueued with (the triggering request's id, and
	// its span when tracing is on) unless set.
	RequestID   string
	TraceParent string
	// StartRuns are node runs written with the execution, before its job can see them: the runs it resumes
	// after. An editor test run starts with its pinned nodes' outputs this way, so they are not run.
	StartRuns []engine.NodeRun
}

// prepare fills in what the caller may leave out: the id, the trigger data, the priority, and the request id and
// trace context that ctx carries.
func (n *NewExecution) prepare(ctx context.Context) error {
	if n.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		n.ID = id
	}
	if len(n.TriggerData) == 0 {
		n.TriggerData = json.RawMessage(`{}`)
	}
	if n.Priority == 0 {
		n.Priority = 2
	}
	if n.Kind == "" {
		n.Kind = KindProduction
	}
	if n.RequestID == "" {
		n.RequestID = logging.RequestID(ctx)
	}
	if n.TraceParent == "" {
		n.TraceParent = tracing.TraceParent(ctx)
	}
	// The request's log line names it (committed when that line's status is 2xx).
	logging.Annotate(ctx, "execution_id", n.ID.String())
	return nil
}

// nullable is s, or nil when s is empty, for a nullable text column.
// executionsFromRows converts a query's rows.
func executionsFromRows(rows []db.WorkflowExecution) []Execution {
	out := make([]Execution, len(rows))
	for i, r := range rows {
		out[i] = executionFromRow(r)
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jobParams is the execution's job, at the priority lanes give it (which the execution row does not record: the
// row keeps its workflow's priority).
// forWorker is the execution as a worker sees it once it is accepted, at acceptedAt.
func (n *NewExecution) forWorker(acceptedAt time.Time) queue.Execution {
	return queue.Execution{ID: n.ID, OrganizationID: n.OrganizationID, WorkflowID: n.WorkflowID,
		WorkflowVersionID: n.WorkflowVersionID, Version: n.Version, TriggerKind: n.TriggerKind, TriggerData: n.TriggerData,
		CreatedAt: acceptedAt, RequestID: n.RequestID, TraceParent: n.TraceParent}
}

func (n *NewExecution) jobParams(lanes *queue.Lanes) river.InsertManyParams {
	return river.InsertManyParams{
		Args: queue.ExecuteArgs{ExecutionID: n.ID, OrganizationID: n.OrganizationID},
		InsertOpts: &river.InsertOpts{Queue: queue.QueueExecutions,
			Priority: lanes.Priority(n.OrganizationID, int(n.Priority))},
	}
}

// ExecutionCreate writes an execution and its River job in one transaction: once it returns, the run will happen
// even if this process dies; if it fails, nothing will run. A run a person asked for (by.UserID set) is audited.
func (s *Store) ExecutionCreate(ctx context.Context, by Actor, in NewExecution) (Execution, error) {
	var out Execution
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		out, err = s.executionCreateTx(ctx, tx, q, in, in.StartRuns)
		if err != nil || by.UserID == nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &out.OrganizationID, Action: "execution.run",
			TargetType: "execution", TargetID: out.ID.String(),
			After: map[string]any{"workflow_id": out.WorkflowID, "version": out.Version, "trigger": out.TriggerKind}})
	})
	return out, err
}

// ExecutionRetry starts a new execution of the version a finished one ran, with the same trigger data. keep holds
// the runs to carry over (retry from the failed node); they are written before the job can see them, so the new
// execution resumes after them.
func (s *Store) ExecutionRetry(ctx context.Context, by Actor, orgID, id uuid.UUID, keep []engine.NodeRun) (Execution, error) {
	var out Execution
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		old, err := q.ExecutionGet(ctx, db.ExecutionGetParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "execution")
		}
		switch old.Status {
		case StatusQueued, StatusRunning, StatusWaiting:
			return fault.New(fault.Conflict, "the execution is still %s; cancel it or wait for it to finish", old.Status)
		}
		out, err = s.executionCreateTx(ctx, tx, q, NewExecution{OrganizationID: orgID, WorkflowID: old.WorkflowID,
			WorkflowVersionID: old.WorkflowVersionID, Version: old.Version, TriggerKind: "retry",
			TriggerData: old.TriggerData, Priority: old.Priority, RetryOf: &old.ID, CreatedBy: by.UserID,
			Kind: KindRetry}, keep)
		if err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "execution.retry",
			TargetType: "execution", TargetID: out.ID.String(),
			After: map[string]any{"retry_of": old.ID, "kept_runs": len(keep)}})
	})
	return out, err
}

// executionCreateTx writes an execution, the runs it starts with, its job and its queued event in tx.
func (s *Store) executionCreateTx(ctx context.Context, tx pgx.Tx, q *db.Queries, in NewExecution, runs []engine.NodeRun) (Execution, error) {
	if err := in.prepare(ctx); err != nil {
		return Execution{}, err
	}
	if err := s.payloadsForCreate(ctx, q, &in, runs); err != nil {
		return Execution{}, err
	}
	numbers, err := reserveRunNumbers(ctx, q, []runOwner{{WorkflowID: in.WorkflowID, OrganizationID: in.OrganizationID}})
	if err != nil {
		return Execution{}, err
	}
	row, err := q.ExecutionCreate(ctx, db.ExecutionCreateParams{
		ID: in.ID, OrganizationID: in.OrganizationID, WorkflowID: in.WorkflowID,
		WorkflowVersionID: in.WorkflowVersionID, Version: in.Version, TriggerKind: in.TriggerKind,
		TriggerData: in.TriggerData, Priority: in.Priority, RetryOf: in.RetryOf, CreatedBy: in.CreatedBy,
		RequestID: nullable(in.RequestID), TraceParent: nullable(in.TraceParent), RunNumber: &numbers[0],
		Kind: in.Kind,
	})
	if err != nil {
		return Execution{}, interpret(err, "execution")
	}
	out := executionFromRow(row)
	if len(runs) > 0 {
		if err := q.NodeRunInsertMany(ctx, nodeRunParams(queue.ExecutionRef{ID: out.ID,
			OrganizationID: out.OrganizationID, WorkflowID: out.WorkflowID}, runs)); err != nil {
			return Execution{}, interpret(err, "node runs")
		}
	}
	p := in.jobParams(s.lanes)
	if _, err := s.jobs.InsertTx(ctx, tx, p.Args, p.InsertOpts); err != nil {
		return Execution{}, fmt.Errorf("enqueue execution: %w", err)
	}
	return out, s.notifyTx(ctx, tx, []ExecutionEvent{{ExecutionID: out.ID, OrganizationID: out.OrganizationID,
		WorkflowID: out.WorkflowID, Status: out.Status}})
}

// ExecutionStart marks an execution running and returns it with the node runs already recorded.
func (s *Store) ExecutionStart(ctx context.Context, id uuid.UUID) (queue.Execution, queue.StartOutcome, error) {
	row, err := s.q.ExecutionStart(ctx, id)
	if err != nil {
		return queue.Execution{}, queue.AlreadyFinished, interpret(err, "execution")
	}
	switch {
	case row.Started:
	case row.OverLimit && (row.PreviousStatus == StatusQueued || row.PreviousStatus == StatusWaiting || row.PreviousStatus == StatusRunning):
		return queue.Execution{}, queue.OverConcurrencyLimit, nil
	default:
		return queue.Execution{}, queue.AlreadyFinished, nil
	}
	started := queue.Execution{
		ID: id, OrganizationID: *row.OrganizationID, WorkflowID: *row.WorkflowID,
		WorkflowVersionID: *row.WorkflowVersionID, Version: *row.Version, TriggerKind: *row.TriggerKind,
		TriggerData: row.TriggerData, CreatedAt: *row.CreatedAt, CancelRequested: row.CancelRequestedAt != nil,
		WasRunning: row.PreviousStatus == StatusRunning, RequestID: deref(row.RequestID), TraceParent: deref(row.TraceParent),
	}
	// Even a queued execution may have runs to resume from: a retry from its failed node carries them over.
	started.HasRuns = true
	if started.TriggerData, err = s.resolve(ctx, started.OrganizationID, started.TriggerData); err != nil {
		return queue.Execution{}, queue.AlreadyFinished, err
	}
	return started, queue.Started, nil
}

// nodeRunsForResume selects an execution's runs as a resuming pass reuses them: without their inputs, which no pass
// reads, and without the runs of a loop body ($2 its nodes, $3 their loops) in a batch that its loop checkpointed
// (a run of the loop with the batch's item index on port batch). A loop over a million-row file's batches so
// resumes with the runs of the batch it was in, not the inputs and outputs of every batch before.
const nodeRunsForResume = `WITH body AS (
    SELECT * FROM unnest($2::text[], $3::text[]) AS b(node_id, loop_id)
), checkpointed AS (
    SELECT b.node_id, c.item_index FROM body b
    JOIN node_executions c ON c.execution_id = $1 AND c.node_id = b.loop_id AND c.port = 'batch'
        AND c.status = 'succeeded' AND c.item_index IS NOT NULL
)
SELECT r.node_id, r.node_type, r.status, r.attempt, r.item_index, r.port, r.output, r.error, r.started_at,
    r.finished_at, r.ran_again
FROM node_executions r
WHERE r.execution_id = $1 AND NOT EXISTS (
    SELECT 1 FROM checkpointed k WHERE k.node_id = r.node_id AND k.item_index = r.item_index)`

// NodeRunsForResume implements queue.ExecutionStore: the runs a resuming pass reuses (nodeRunsForResume), their
// offloaded outputs read back.
func (s *Store) NodeRunsForResume(ctx context.Context, e queue.ExecutionRef, bodies map[string]string) ([]engine.NodeRun, error) {
	nodes := make([]string, 0, len(bodies))
	loops := make([]string, 0, len(bodies))
	for node, loop := range bodies {
		nodes, loops = append(nodes, node), append(loops, loop)
	}
	rows, err := s.pool.Query(ctx, nodeRunsForResume, e.ID, nodes, loops)
	if err != nil {
		return nil, interpret(err, "node runs")
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.NodeRun, error) {
		var r db.NodeExecution
		err := row.Scan(&r.NodeID, &r.NodeType, &r.Status, &r.Attempt, &r.ItemIndex, &r.Port, &r.Output, &r.Error,
			&r.StartedAt, &r.FinishedAt, &r.RanAgain)
		return nodeRunFromRow(r), err
	})
	if err != nil {
		return nil, interpret(err, "node runs")
	}
	return runs, s.resolveRuns(ctx, e.OrganizationID, runs)
}

// NodeRunRecord records one node run at once, in its own transaction: side-effecting nodes are recorded the moment
// they finish, so that a retry of the job never repeats them.
func (s *Store) NodeRunRecord(ctx context.Context, e queue.ExecutionRef, run engine.NodeRun) error {
	runs := []engine.NodeRun{run}
	if err := s.offloadRuns(ctx, e, runs); err != nil {
		return err
	}
	run = runs[0]
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.NodeRunInsertMany(ctx, nodeRunParams(e, []engine.NodeRun{run})); err != nil {
			return interpret(err, "node run")
		}
		// An execution with recorded runs is never left queued: a worker resuming it must know to read them.
		if _, err := q.ExecutionMarkRunning(ctx, []uuid.UUID{e.ID}); err != nil {
			return interpret(err, "execution")
		}
		return s.notifyTx(ctx, tx, []ExecutionEvent{nodeEvent(e, run)})
	})
}

// BatchRecord records a finished batch of a loop over batches in one transaction: the runs of its body, its
// checkpoint run, and the runs the pass had not recorded yet. The checkpoint exists exactly when the runs do, and the
// event lets the execution's page show the progress.
//
// The body's large values (a batch of rows is its first node's input) go to the file storage like any node run's,
// so that a file of many batches leaves small rows behind it; the checkpoint's output stays inline whatever its size,
// since progress and resumes read it as JSON (its result, what the body delivered, is bounded by NODE_OUTPUT_MAX).
func (s *Store) BatchRecord(ctx context.Context, e queue.ExecutionRef, runs []engine.NodeRun) error {
	if len(runs) == 0 {
		return nil
	}
	if s.payloads != nil {
		runs = append([]engine.NodeRun(nil), runs...)
		for i := range runs {
			var err error
			if runs[i].Port != engine.PortBatch {
				err = s.offloadRuns(ctx, e, runs[i:i+1])
			} else {
				runs[i].Input, err = s.offload(ctx, e.OrganizationID, e.ID, runs[i].Input)
			}
			if err != nil {
				return err
			}
		}
	}
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.NodeRunInsertMany(ctx, nodeRunParams(e, runs)); err != nil {
			return interpret(err, "node runs")
		}
		if _, err := q.ExecutionMarkRunning(ctx, []uuid.UUID{e.ID}); err != nil {
			return interpret(err, "execution")
		}
		return s.notifyTx(ctx, tx, []ExecutionEvent{nodeEvent(e, runs[len(runs)-1])})
	})
}

// nodeEvent is the event of a recorded node run.
func nodeEvent(e queue.ExecutionRef, r engine.NodeRun) ExecutionEvent {
	return ExecutionEvent{ExecutionID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID,
		Status: StatusRunning, NodeID: r.NodeID, NodeStatus: string(r.Status), ItemIndex: r.ItemIndex}
}

// ExecutionComplete writes a worker pass's node runs and the execution's new status in one transaction. A waiting
// execution gets its continuation job, scheduled at ResumeAt, in the same transaction. It reports false when the
// execution already had a final status (a cancel won the race); the node runs are written all the same.
func (s *Store) ExecutionComplete(ctx context.Context, c queue.Completion) (bool, error) {
	c, err := s.offloadCompletion(ctx, c)
	if err != nil {
		return false, err
	}
	return s.executionComplete(ctx, c)
}

// executionComplete is ExecutionComplete of a completion whose large values are already offloaded.
func (s *Store) executionComplete(ctx context.Context, c queue.Completion) (bool, error) {
	var changed bool
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		event := ExecutionEvent{ExecutionID: c.Execution.ID, OrganizationID: c.Execution.OrganizationID,
			WorkflowID: c.Execution.WorkflowID}.withNodes(c.NodeRuns)
		if len(c.NodeRuns) > 0 {
			if err := q.NodeRunInsertMany(ctx, nodeRunParams(c.Execution, c.NodeRuns)); err != nil {
				return interpret(err, "node runs")
			}
		}
		if c.Status == engine.ExecutionWaiting {
			if _, err := q.ExecutionPark(ctx, db.ExecutionParkParams{ID: c.Execution.ID, ResumeAt: &c.ResumeAt}); err != nil {
				if err == pgx.ErrNoRows {
					return s.notifyTx(ctx, tx, []ExecutionEvent{event}) // canceled meanwhile: no continuation
				}
				return interpret(err, "execution")
			}
			args := queue.ExecuteArgs{ExecutionID: c.Execution.ID, OrganizationID: c.Execution.OrganizationID}
			if _, err := s.jobs.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: queue.QueueExecutions, ScheduledAt: c.ResumeAt}); err != nil {
				return fmt.Errorf("schedule continuation: %w", err)
			}
		} else {
			var errText, failedNode *string
			if c.Error != "" {
				errText = &c.Error
			}
			if c.FailedNodeID != "" {
				failedNode = &c.FailedNodeID
			}
			startedAt := c.StartedAt
			if startedAt.IsZero() {
				startedAt = time.Now()
			}
			_, err := q.ExecutionFinish(ctx, db.ExecutionFinishParams{ID: c.Execution.ID, Status: string(c.Status),
				Error: errText, FailedNodeID: failedNode, StartedAt: &startedAt})
			if err == pgx.ErrNoRows {
				return s.notifyTx(ctx, tx, []ExecutionEvent{event}) // a cancel won the race: only the runs are news
			}
			if err != nil {
				return interpret(err, "execution")
			}
			if c.Status == engine.ExecutionFailed {
				if err := s.startErrorWorkflowsTx(ctx, tx, []uuid.UUID{c.Execution.ID}); err != nil {
					return err
				}
			}
		}
		changed = true
		event.Status = string(c.Status)
		return s.notifyTx(ctx, tx, []ExecutionEvent{event})
	})
	return changed, err
}

// ExecutionGiveUp fails an execution that its job can no longer run (River gave up on the job, or it was cancelled
// in the job queue) with reason as its error: the failure is recorded like any other, its error workflows start in
// the same transaction, and the notification evaluator and the statistics rollup read it from the row. It returns
// the execution and whether this call ended it (false when it had already finished).
func (s *Store) ExecutionGiveUp(ctx context.Context, id uuid.UUID, reason string) (queue.Execution, bool, error) {
	row, err := s.q.ExecutionLoad(ctx, id)
	if err == pgx.ErrNoRows {
		return queue.Execution{}, false, nil // deleted meanwhile
	}
	if err != nil {
		return queue.Execution{}, false, interpret(err, "execution")
	}
	exec := queue.Execution{ID: row.ID, OrganizationID: row.OrganizationID, WorkflowID: row.WorkflowID,
		WorkflowVersionID: row.WorkflowVersionID, Version: row.Version, TriggerKind: row.TriggerKind, CreatedAt: row.CreatedAt}
	if row.Status != StatusQueued && row.Status != StatusRunning && row.Status != StatusWaiting {
		return exec, false, nil
	}
	changed, err := s.executionComplete(ctx, queue.Completion{Execution: exec.Ref(), Status: engine.ExecutionFailed,
		Error: reason})
	return exec, changed, err
}

// WorkflowDefinition returns the definition of a workflow version, for workers; versions never change, so
// callers cache what they build from it.
func (s *Store) WorkflowDefinition(ctx context.Context, versionID uuid.UUID) (json.RawMessage, error) {
	row, err := s.q.WorkflowVersionGetByID(ctx, versionID)
	if err != nil {
		return nil, interpret(err, "workflow version")
	}
	return row.Definition, nil
}

// ExecutionGet returns one execution of an organization.
func (s *Store) ExecutionGet(ctx context.Context, orgID, id uuid.UUID) (Execution, error) {
	row, err := s.q.ExecutionGet(ctx, db.ExecutionGetParams{ID: id, OrganizationID: orgID})
	if err != nil {
		return Execution{}, interpret(err, "execution")
	}
	return executionFromRow(row), nil
}

// NodeRuns returns an execution's recorded node runs in the order they started.
func (s *Store) NodeRuns(ctx context.Context, orgID, executionID uuid.UUID) ([]engine.NodeRun, error) {
	rows, err := s.q.NodeRunList(ctx, db.NodeRunListParams{ExecutionID: executionID, OrganizationID: orgID})
	if err != nil {
		return nil, interpret(err, "node runs")
	}
	runs := make([]engine.NodeRun, len(rows))
	for i, r := range rows {
		runs[i] = nodeRunFromRow(r)
	}
	return runs, nil
}

// ExecutionFilter narrows ExecutionList; zero fields do not filter.
type ExecutionFilter struct {
	// Query searches the executions' errors (so finds failed ones only), best match first, in one page; or, as
	// trigger.<path>=<value>, their trigger data, newest first (see TriggerSearchPrefix).
	Query      string
	WorkflowID *uuid.UUID
	Status     string
	// Kind is production, test or retry.
	Kind         string
	CreatedAfter *time.Time
	// BeforeID is the keyset cursor: the id of the last execution of the previous page (the list is in id order).
	BeforeID *uuid.UUID
	Limit    int
}

// ExecutionList pages through an organization's executions, newest first.
func (s *Store) ExecutionList(ctx context.Context, orgID uuid.UUID, f ExecutionFilter) ([]Execution, error) {
	if IsTriggerSearch(f.Query) {
		return s.executionTriggerSearch(ctx, orgID, f)
	}
	if f.Query != "" {
		return s.executionSearch(ctx, orgID, f)
	}
	p := db.ExecutionListParams{OrganizationID: orgID, WorkflowID: f.WorkflowID, CreatedAfter: f.CreatedAfter,
		BeforeID: f.BeforeID, MaxRows: int32(clampLimit(f.Limit))}
	p.Status, p.Kind = nullable(f.Status), nullable(f.Kind)
	rows, err := s.executionListNewestFirst(ctx, p)
	if err != nil {
		return nil, interpret(err, "executions")
	}
	return executionsFromRows(rows), nil
}

// listProbeWindow is how many days before its anchor (the cursor's time, or now) a list without a time bound first
// reads: a page that fills there needs no other partition.
const listProbeWindow = 2 * 24 * time.Hour

// executionListNewestFirst runs ExecutionList. Without a time bound the statement would still open every
// partition's index (hundreds of locks and scans set up for days it never reads), so the newest two days before
// the cursor are tried first: when they fill the page it is the true page, since every row left out has a smaller
// id; otherwise the list is read again without the bound.
func (s *Store) executionListNewestFirst(ctx context.Context, p db.ExecutionListParams) ([]db.WorkflowExecution, error) {
	if p.CreatedAfter != nil {
		return s.r.ExecutionList(ctx, p)
	}
	anchor := time.Now()
	if p.BeforeID != nil { // a UUIDv7's time; any other id only makes the probe miss, never the page wrong
		anchor = time.Unix(p.BeforeID.Time().UnixTime())
	}
	probe := p
	probe.MinID = ptrTo(uuidV7Floor(anchor.Add(-listProbeWindow)))
	rows, err := s.r.ExecutionList(ctx, probe)
	if err != nil || len(rows) == int(p.MaxRows) {
		return rows, err
	}
	return s.r.ExecutionList(ctx, p)
}

// SearchCandidates is how many of the newest matching executions a search ranks. Ranking every match of a common
// word (a tenth of all history fails with the same error) cost more than a page load; the newest few hundred hold
// what a person looking at an error wants, and an older match is found by adding words or a time or workflow
// filter, which leave fewer newer matches ahead of it.
const SearchCandidates = 500

func (s *Store) executionSearch(ctx context.Context, orgID uuid.UUID, f ExecutionFilter) ([]Execution, error) {
	terms, err := parseSearch("q", f.Query)
	if err == nil && f.BeforeID != nil {
		err = errSearchHasOnePage
	}
	if err != nil {
		return nil, err
	}
	p := db.ExecutionSearchParams{OrganizationID: orgID, Words: terms.Words, Prefix: terms.Prefix,
		WorkflowID: f.WorkflowID, CreatedAfter: f.CreatedAfter, MaxRows: int32(clampLimit(f.Limit)),
		MaxCandidates: SearchCandidates}
	p.Status, p.Kind = nullable(f.Status), nullable(f.Kind)
	rows, err := s.r.ExecutionSearch(ctx, p)
	if err != nil {
		return nil, interpret(err, "executions")
	}
	return executionsFromRows(rows), nil
}

// ExecutionRequestCancel cancels a queued or waiting execution at once and flags a running one, publishing the
// request so the worker running it (on whichever instance) cancels its context.
func (s *Store) ExecutionRequestCancel(ctx context.Context, by Actor, orgID, id uuid.UUID) (string, error) {
	var status string
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.ExecutionRequestCancel(ctx, db.ExecutionRequestCancelParams{ID: id, OrganizationID: orgID})
		if err == pgx.ErrNoRows {
			if _, getErr := q.ExecutionGet(ctx, db.ExecutionGetParams{ID: id, OrganizationID: orgID}); getErr != nil {
				return interpret(getErr, "execution")
			}
			return fault.New(fault.Conflict, "the execution has already finished")
		}
		if err != nil {
			return interpret(err, "execution")
		}
		status = row.Status
		if err := audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "execution.cancel",
			TargetType: "execution", TargetID: id.String(), After: map[string]any{"status": row.Status}}); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, []ExecutionEvent{{ExecutionID: row.ID, OrganizationID: row.OrganizationID,
			WorkflowID: row.WorkflowID, Status: row.Status, CancelRequested: true}})
	})
	return status, err
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}

// nodeRunBatch accumulates node runs of one or many executions as the column arrays of NodeRunInsertMany.
type nodeRunBatch struct{ db.NodeRunInsertManyParams }

func (b *nodeRunBatch) add(e queue.ExecutionRef, runs ...engine.NodeRun) {
	p := &b.NodeRunInsertManyParams
	for _, r := range runs {
		item := int32(-1)
		if r.ItemIndex != nil {
			item = int32(*r.ItemIndex)
		}
		p.OrganizationIds = append(p.OrganizationIds, e.OrganizationID)
		p.ExecutionIds = append(p.ExecutionIds, e.ID)
		p.NodeIds = append(p.NodeIds, r.NodeID)
		p.NodeTypes = append(p.NodeTypes, r.Type)
		p.Statuses = append(p.Statuses, string(r.Status))
		p.Attempts = append(p.Attempts, int32(max(r.Attempt, 1)))
		p.ItemIndexes = append(p.ItemIndexes, item)
		p.Ports = append(p.Ports, r.Port)
		p.Inputs = append(p.Inputs, string(r.Input))
		p.Outputs = append(p.Outputs, string(r.Output))
		p.Errors = append(p.Errors, r.Error)
		p.StartedAts = append(p.StartedAts, r.StartedAt)
		p.FinishedAts = append(p.FinishedAts, r.FinishedAt)
		p.RanAgains = append(p.RanAgains, r.RanAgain)
	}
}

func (b *nodeRunBatch) empty() bool { return len(b.NodeIds) == 0 }

// nodeRunParams is the batch of one execution's runs.
func nodeRunParams(e queue.ExecutionRef, runs []engine.NodeRun) db.NodeRunInsertManyParams {
	var b nodeRunBatch
	b.add(e, runs...)
	return b.NodeRunInsertManyParams
}

func nodeRunFromRow(r db.NodeExecution) engine.NodeRun {
	run := engine.NodeRun{NodeID: r.NodeID, Type: r.NodeType, Status: engine.NodeStatus(r.Status),
		Attempt: int(r.Attempt), Port: r.Port, Input: r.Input, Output: r.Output}
	if r.ItemIndex != nil {
		i := int(*r.ItemIndex)
		run.ItemIndex = &i
	}
	if r.Error != nil {
		run.Error = *r.Error
	}
	if r.StartedAt != nil {
		run.StartedAt = *r.StartedAt
	}
	if r.FinishedAt != nil {
		run.FinishedAt = *r.FinishedAt
	}
	if r.RanAgain != nil {
		run.RanAgain = *r.RanAgain
	}
	return run
}

func executionFromRow(r db.WorkflowExecution) Execution {
	e := Execution{ID: r.ID, OrganizationID: r.OrganizationID, WorkflowID: r.WorkflowID,
		WorkflowVersionID: r.WorkflowVersionID, Version: r.Version, Status: r.Status, TriggerKind: r.TriggerKind,
		TriggerData: r.TriggerData, Priority: r.Priority, RetryOf: r.RetryOf, CreatedBy: r.CreatedBy,
		Kind: r.Kind, CancelRequestedAt: r.CancelRequestedAt, ResumeAt: r.ResumeAt, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, RequestID: deref(r.RequestID)}
	if tp := deref(r.TraceParent); len(tp) == 55 {
		e.TraceID = tp[3:35] // version "00-", then the trace id
	}
	if r.RunNumber != nil {
		e.RunNumber = *r.RunNumber
	}
	if r.Error != nil {
		e.Error = *r.Error
	}
	if r.FailedNodeID != nil {
		e.FailedNodeID = *r.FailedNodeID
	}
	return e
}

// ExecutionsByID reads the executions of an organization among ids (missing ones are left out), for a bulk action
// that authorizes and answers each.
func (s *Store) ExecutionsByID(ctx context.Context, orgID uuid.UUID, ids []uuid.UUID) ([]Execution, error) {
	rows, err := s.q.ExecutionsForBulk(ctx, db.ExecutionsForBulkParams{OrganizationID: orgID, Ids: ids})
	if err != nil {
		return nil, interpret(err, "executions")
	}
	return executionsFromRows(rows), nil
}

// ExecutionDeleteMany deletes finished executions of an organization with their node runs, auditing each, and
// returns the ids it deleted: an unfinished execution among ids is left alone (its worker still writes to it).
// Files they produced stay in storage, unlinked, as retention leaves them.
func (s *Store) ExecutionDeleteMany(ctx context.Context, by Actor, orgID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error) {
	var deleted []uuid.UUID
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if _, err := q.ExecutionNodeRunsDelete(ctx, db.ExecutionNodeRunsDeleteParams{OrganizationID: orgID, Ids: ids}); err != nil {
			return interpret(err, "node runs")
		}
		rows, err := q.ExecutionDeleteMany(ctx, db.ExecutionDeleteManyParams{OrganizationID: orgID, Ids: ids})
		if err != nil {
			return interpret(err, "executions")
		}
		for _, r := range rows {
			deleted = append(deleted, r.ID)
			before := map[string]any{"workflow_id": r.WorkflowID}
			if r.RunNumber != nil {
				before["run_number"] = *r.RunNumber
			}
			if err := audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "execution.delete",
				TargetType: "execution", TargetID: r.ID.String(), Before: before}); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}
