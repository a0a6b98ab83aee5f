package queue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
)

// ExecutionStore is the storage a worker needs; sql/store implements it.
type ExecutionStore interface {
	// ExecutionStart marks an execution running and returns it; Execution.HasRuns says whether NodeRunsForResume
	// may find runs recorded before.
	ExecutionStart(ctx context.Context, id uuid.UUID) (Execution, StartOutcome, error)
	// NodeRunsForResume loads the runs recorded before that a pass reuses (engine.RunInput.Recorded). bodies maps
	// each loop-body node to its loop (engine.Plan.LoopBodies): the body runs of a batch its loop checkpointed are
	// left unread, so that resuming a loop over a large file's batches costs the memory of one batch, not all.
	NodeRunsForResume(ctx context.Context, ref ExecutionRef, bodies map[string]string) ([]engine.NodeRun, error)
	// NodeRunRecord records one side-effecting node run at once, in its own transaction.
	NodeRunRecord(ctx context.Context, ref ExecutionRef, run engine.NodeRun) error
	// BatchRecord records a finished batch of a loop over batches, its runs and its checkpoint run, in one
	// transaction (engine.BatchRecorder).
	BatchRecord(ctx context.Context, ref ExecutionRef, runs []engine.NodeRun) error
	// ExecutionComplete writes a pass's remaining node runs and the execution's new status in one transaction,
	// scheduling the continuation job of a waiting execution in it too. It reports false when the execution
	// already had a final status.
	ExecutionComplete(ctx context.Context, c Completion) (bool, error)
	// ExecutionGiveUp fails an execution whose job is given up (its last attempt failed) with reason as its error,
	// with the side effects of any failure (error workflows). It reports false when the execution had already
	// finished; the execution returned carries its ids and creation time.
	ExecutionGiveUp(ctx context.Context, id uuid.UUID, reason string) (Execution, bool, error)
	// OrganizationRunningJobs counts the execution jobs of an organization that River has marked running in the
	// processes other than the River client exceptClient, stopping at limit (the caller only needs to know whether
	// the cap is passed).
	OrganizationRunningJobs(ctx context.Context, org uuid.UUID, exceptClient string, limit int) (int, error)
}

// Execution is what a worker needs to run an execution.
type Execution struct {
	ID                uuid.UUID
	OrganizationID    uuid.UUID
	WorkflowID        uuid.UUID
	WorkflowVersionID uuid.UUID
	Version           int32
	TriggerKind       string
	TriggerData       json.RawMessage
	CreatedAt         time.Time
	CancelRequested   bool
	// RequestID is the id of the request that triggered the execution ("" for a schedule); the worker's log lines
	// carry it.
	RequestID string
	// TraceParent is the W3C traceparent stored with the execution when tracing was on: the worker continues it.
	TraceParent string
	// HasRuns says the execution may have node runs recorded before (a crash, a delay that parked it, a retry
	// from its failed node) for NodeRunsForResume to load; false when it has none.
	HasRuns bool
	// WasRunning says the execution was recorded as running when this pass started it: an earlier pass began it
	// and did not finish (a worker shut down, say). Storage may leave it false for an execution whose earlier
	// pass recorded nothing.
	WasRunning bool
}

// Ref returns the execution's identity for the writes a worker makes.
func (e Execution) Ref() ExecutionRef {
	return ExecutionRef{ID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID}
}

// StartOutcome says what ExecutionStart did.
type StartOutcome int

// The outcomes of ExecutionStart.
const (
	// Started: the execution is running and the worker should run it.
	Started StartOutcome = iota
	// AlreadyFinished: it finished or was canceled meanwhile; the job has nothing to do.
	AlreadyFinished
	// OverConcurrencyLimit: older executions of the workflow fill its concurrency limit; try again later.
	OverConcurrencyLimit
)

// ExecutionRef names an execution and its tenant.
type ExecutionRef struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	WorkflowID     uuid.UUID
}

// Completion is the outcome of one worker pass over an execution.
type Completion struct {
	Execution ExecutionRef
	// Status is succeeded, failed, canceled, or waiting (then ResumeAt is set).
	Status engine.ExecutionStatus
	Error  string
	// FailedNodeID is the node a failed execution stopped at, when it failed at one.
	FailedNodeID string
	ResumeAt     time.Time
	// StartedAt is when the worker began this pass; storage keeps it when nothing recorded the start earlier.
	StartedAt time.Time
	// NodeRuns are the runs not recorded yet (the pure nodes'), written together with the status.
	NodeRuns []engine.NodeRun
}
