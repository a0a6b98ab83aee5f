package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/concertmaster/concertmaster/engine/fault"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/db"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
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
	Error             string
	CancelRequestedAt *time.Time
	ResumeAt          *time.Time
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
}

// NodeRun is the record of one node's run in an execution (one per loop item inside loops).
type NodeRun struct {
	NodeID     string
	NodeType   string
	Status     string
	Attempt    int
	ItemIndex  *int
	Input      json.RawMessage
	Output     json.RawMessage
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
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
}

func (n *NewExecution) prepare() error {
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
	return nil
}

func (n *NewExecution) jobParams() river.InsertManyParams {
	return river.InsertManyParams{
		Args:       queue.ExecuteArgs{ExecutionID: n.ID},
		InsertOpts: &river.InsertOpts{Queue: queue.QueueExecutions, Priority: int(n.Priority)},
	}
}

// ExecutionCreate writes an execution and its River job in one transaction: once it returns, the run will happen
// even if this process dies; if it fails, nothing will run.
func (s *Store) ExecutionCreate(ctx context.Context, in NewExecution) (Execution, error) {
	if err := in.prepare(); err != nil {
		return Execution{}, err
	}
	var out Execution
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.ExecutionCreate(ctx, db.ExecutionCreateParams{
			ID: in.ID, OrganizationID: in.OrganizationID, WorkflowID: in.WorkflowID,
			WorkflowVersionID: in.WorkflowVersionID, Version: in.Version, TriggerKind: in.TriggerKind,
			TriggerData: in.TriggerData, Priority: in.Priority, RetryOf: in.RetryOf, CreatedBy: in.CreatedBy,
		})
		if err != nil {
			return interpret(err, "execution")
		}
		p := in.jobParams()
		if _, err := s.jobs.InsertTx(ctx, tx, p.Args, p.InsertOpts); err != nil {
			return fmt.Errorf("enqueue execution: %w", err)
		}
		out = executionFromRow(row)
		return s.notifyTx(ctx, tx, []ExecutionEvent{{ExecutionID: out.ID, OrganizationID: out.OrganizationID,
			WorkflowID: out.WorkflowID, Status: out.Status}})
	})
	return out, err
}

// StartedExecution is what a worker needs to run an execution.
type StartedExecution struct {
	ID                uuid.UUID
	OrganizationID    uuid.UUID
	WorkflowID        uuid.UUID
	WorkflowVersionID uuid.UUID
	Version           int32
	TriggerKind       string
	TriggerData       json.RawMessage
	CreatedAt         time.Time
	CancelRequested   bool
	// Recorded holds the node runs recorded before (a crash, or a delay that parked the execution).
	Recorded []NodeRun
}

// ExecutionStart marks an execution running and returns it with the node runs already recorded. ok is false when
// the execution has finished or was canceled meanwhile: the job has nothing to do.
func (s *Store) ExecutionStart(ctx context.Context, id uuid.UUID) (StartedExecution, bool, error) {
	row, err := s.q.ExecutionStart(ctx, id)
	if err == pgx.ErrNoRows {
		return StartedExecution{}, false, nil
	}
	if err != nil {
		return StartedExecution{}, false, interpret(err, "execution")
	}
	started := StartedExecution{
		ID: row.ID, OrganizationID: row.OrganizationID, WorkflowID: row.WorkflowID,
		WorkflowVersionID: row.WorkflowVersionID, Version: row.Version, TriggerKind: row.TriggerKind,
		TriggerData: row.TriggerData, CreatedAt: row.CreatedAt, CancelRequested: row.CancelRequestedAt != nil,
	}
	// A queued execution has never run a node, so the common case skips the second query.
	if row.PreviousStatus != StatusQueued {
		rows, err := s.q.NodeRunsForResume(ctx, id)
		if err != nil {
			return StartedExecution{}, false, interpret(err, "node runs")
		}
		for _, r := range rows {
			started.Recorded = append(started.Recorded, nodeRunFromRow(r))
		}
	}
	return started, true, nil
}

// NodeRunRecord records one node run at once, in its own transaction: side-effecting nodes are recorded the moment
// they finish, so that a retry of the job never repeats them.
func (s *Store) NodeRunRecord(ctx context.Context, e ExecutionRef, run NodeRun) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.NodeRunUpsertMany(ctx, nodeRunParams(e, []NodeRun{run})); err != nil {
			return interpret(err, "node run")
		}
		return s.notifyTx(ctx, tx, []ExecutionEvent{e.nodeEvent(run)})
	})
}

// ExecutionRef names an execution and its tenant, for the writes a worker makes.
type ExecutionRef struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	WorkflowID     uuid.UUID
}

func (e ExecutionRef) nodeEvent(r NodeRun) ExecutionEvent {
	return ExecutionEvent{ExecutionID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID,
		Status: StatusRunning, NodeID: r.NodeID, NodeStatus: r.Status, ItemIndex: r.ItemIndex}
}

// Completion is the outcome of one worker pass over an execution.
type Completion struct {
	Execution ExecutionRef
	// Status is succeeded, failed, canceled, or waiting (then ResumeAt is set).
	Status   string
	Error    string
	ResumeAt time.Time
	// NodeRuns are the runs not recorded yet (the pure nodes'), written together with the status.
	NodeRuns []NodeRun
}

// ExecutionComplete writes a worker pass's node runs and the execution's new status in one transaction. A waiting
// execution gets its continuation job, scheduled at ResumeAt, in the same transaction. It reports false when the
// execution already had a final status (a cancel won the race); the node runs are written all the same.
func (s *Store) ExecutionComplete(ctx context.Context, c Completion) (bool, error) {
	var changed bool
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		events := make([]ExecutionEvent, 0, len(c.NodeRuns)+1)
		if len(c.NodeRuns) > 0 {
			if err := q.NodeRunUpsertMany(ctx, nodeRunParams(c.Execution, c.NodeRuns)); err != nil {
				return interpret(err, "node runs")
			}
			for _, r := range c.NodeRuns {
				events = append(events, c.Execution.nodeEvent(r))
			}
		}
		if c.Status == StatusWaiting {
			if _, err := q.ExecutionPark(ctx, db.ExecutionParkParams{ID: c.Execution.ID, ResumeAt: &c.ResumeAt}); err != nil {
				if err == pgx.ErrNoRows {
					return nil // canceled meanwhile: no continuation
				}
				return interpret(err, "execution")
			}
			args := queue.ExecuteArgs{ExecutionID: c.Execution.ID}
			if _, err := s.jobs.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: queue.QueueExecutions, ScheduledAt: c.ResumeAt}); err != nil {
				return fmt.Errorf("schedule continuation: %w", err)
			}
		} else {
			var errText *string
			if c.Error != "" {
				errText = &c.Error
			}
			_, err := q.ExecutionFinish(ctx, db.ExecutionFinishParams{ID: c.Execution.ID, Status: c.Status, Error: errText})
			if err == pgx.ErrNoRows {
				return s.notifyTx(ctx, tx, events)
			}
			if err != nil {
				return interpret(err, "execution")
			}
		}
		changed = true
		events = append(events, ExecutionEvent{ExecutionID: c.Execution.ID, OrganizationID: c.Execution.OrganizationID,
			WorkflowID: c.Execution.WorkflowID, Status: c.Status})
		return s.notifyTx(ctx, tx, events)
	})
	return changed, err
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
func (s *Store) NodeRuns(ctx context.Context, orgID, executionID uuid.UUID) ([]NodeRun, error) {
	rows, err := s.q.NodeRunList(ctx, db.NodeRunListParams{ExecutionID: executionID, OrganizationID: orgID})
	if err != nil {
		return nil, interpret(err, "node runs")
	}
	runs := make([]NodeRun, len(rows))
	for i, r := range rows {
		runs[i] = nodeRunFromRow(r)
	}
	return runs, nil
}

// ExecutionFilter narrows ExecutionList; zero fields do not filter.
type ExecutionFilter struct {
	WorkflowID   *uuid.UUID
	Status       string
	CreatedAfter *time.Time
	// Before is the keyset cursor: the last execution of the previous page.
	Before *Execution
	Limit  int
}

// ExecutionList pages through an organization's executions, newest first.
func (s *Store) ExecutionList(ctx context.Context, orgID uuid.UUID, f ExecutionFilter) ([]Execution, error) {
	p := db.ExecutionListParams{OrganizationID: orgID, WorkflowID: f.WorkflowID, CreatedAfter: f.CreatedAfter,
		MaxRows: int32(clampLimit(f.Limit))}
	if f.Status != "" {
		p.Status = &f.Status
	}
	if f.Before != nil {
		p.BeforeCreatedAt, p.BeforeID = &f.Before.CreatedAt, &f.Before.ID
	}
	rows, err := s.q.ExecutionList(ctx, p)
	if err != nil {
		return nil, interpret(err, "executions")
	}
	out := make([]Execution, len(rows))
	for i, r := range rows {
		out[i] = executionFromRow(r)
	}
	return out, nil
}

// ExecutionRequestCancel cancels a queued or waiting execution at once and flags a running one, publishing the
// request so the worker running it (on whichever instance) cancels its context.
func (s *Store) ExecutionRequestCancel(ctx context.Context, orgID, id uuid.UUID) (string, error) {
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
		return s.notifyTx(ctx, tx, []ExecutionEvent{{ExecutionID: row.ID, OrganizationID: row.OrganizationID,
			WorkflowID: row.WorkflowID, Status: row.Status, CancelRequested: true}})
	})
	return status, err
}

// ExecutionsAhead counts the unfinished executions of a workflow created before the given one.
func (s *Store) ExecutionsAhead(ctx context.Context, workflowID, id uuid.UUID, createdAt time.Time) (int, error) {
	n, err := s.q.ExecutionCountAhead(ctx, db.ExecutionCountAheadParams{WorkflowID: workflowID, CreatedAt: createdAt, ID: id})
	return int(n), interpret(err, "executions")
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

func nodeRunParams(e ExecutionRef, runs []NodeRun) db.NodeRunUpsertManyParams {
	p := db.NodeRunUpsertManyParams{
		OrganizationID: e.OrganizationID, ExecutionID: e.ID,
		NodeIds: make([]string, len(runs)), NodeTypes: make([]string, len(runs)), Statuses: make([]string, len(runs)),
		Attempts: make([]int32, len(runs)), ItemIndexes: make([]int32, len(runs)), Inputs: make([]string, len(runs)),
		Outputs: make([]string, len(runs)), Errors: make([]string, len(runs)),
		StartedAts: make([]time.Time, len(runs)), FinishedAts: make([]time.Time, len(runs)),
	}
	for i, r := range runs {
		p.NodeIds[i], p.NodeTypes[i], p.Statuses[i] = r.NodeID, r.NodeType, r.Status
		p.Attempts[i] = int32(max(r.Attempt, 1))
		p.ItemIndexes[i] = -1
		if r.ItemIndex != nil {
			p.ItemIndexes[i] = int32(*r.ItemIndex)
		}
		p.Inputs[i], p.Outputs[i], p.Errors[i] = string(r.Input), string(r.Output), r.Error
		p.StartedAts[i], p.FinishedAts[i] = r.StartedAt, r.FinishedAt
	}
	return p
}

func nodeRunFromRow(r db.NodeExecution) NodeRun {
	run := NodeRun{NodeID: r.NodeID, NodeType: r.NodeType, Status: r.Status, Attempt: int(r.Attempt),
		Input: r.Input, Output: r.Output}
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
	return run
}

func executionFromRow(r db.WorkflowExecution) Execution {
	e := Execution{ID: r.ID, OrganizationID: r.OrganizationID, WorkflowID: r.WorkflowID,
		WorkflowVersionID: r.WorkflowVersionID, Version: r.Version, Status: r.Status, TriggerKind: r.TriggerKind,
		TriggerData: r.TriggerData, Priority: r.Priority, RetryOf: r.RetryOf, CreatedBy: r.CreatedBy,
		CancelRequestedAt: r.CancelRequestedAt, ResumeAt: r.ResumeAt, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	if r.Error != nil {
		e.Error = *r.Error
	}
	return e
}
