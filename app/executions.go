package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Executions are the use cases of executions: read, list, cancel, retry.
type Executions struct {
	store     *store.Store
	plans     *engine.PlanLoader
	workflows *Workflows
	triggers  *Triggers
}

// Get loads an execution of the caller's organization and checks that the caller may do a to it, which is decided
// on its workflow. An execution of another organization is NotFound.
func (e *Executions) Get(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Execution, error) {
	exec, err := e.store.ExecutionGet(ctx, c.Principal.OrgID, id)
	if err != nil {
		return store.Execution{}, err
	}
	if _, err := e.workflows.Authorized(ctx, c, exec.WorkflowID, a); err != nil {
		return store.Execution{}, err
	}
	return exec, nil
}

// List lists the executions of the caller's organization that f selects, newest first.
func (e *Executions) List(ctx context.Context, c Caller, f store.ExecutionFilter) ([]store.Execution, error) {
	if err := authz.Authorize(c.Principal, authz.ExecutionView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	return e.store.ExecutionList(ctx, c.Principal.OrgID, f)
}

// Cancel asks for an execution to stop: a queued or waiting one ends at once, a running one at its next node
// boundary on whichever worker runs it. It returns the execution and its status after the request.
func (e *Executions) Cancel(ctx context.Context, c Caller, id uuid.UUID) (store.Execution, string, error) {
	exec, err := e.Get(ctx, c, id, authz.ExecutionCancel)
	if err != nil {
		return store.Execution{}, "", err
	}
	status, err := e.store.ExecutionRequestCancel(ctx, c.Actor, exec.OrganizationID, exec.ID)
	return exec, status, err
}

// Where a retry starts.
const (
	RetryFromStart  = "start"
	RetryFromFailed = "failed"
)

// Retry starts a new execution of the same version with the same trigger data: from the start, or (from =
// RetryFromFailed) from the failed node with the inputs recorded for it, the node runs before it carried over and
// never repeated. A retry counts against the organization's trigger rate like any other start.
func (e *Executions) Retry(ctx context.Context, c Caller, id uuid.UUID, from string) (store.Execution, error) {
	exec, err := e.Get(ctx, c, id, authz.ExecutionRetry)
	if err != nil {
		return store.Execution{}, err
	}
	var keep []engine.NodeRun
	switch from {
	case "", RetryFromStart:
	case RetryFromFailed:
		if exec.Status != store.StatusFailed {
			return store.Execution{}, fault.New(fault.Conflict, "Only a failed execution can be retried from its failed node.")
		}
		plan, err := e.plans.Load(ctx, exec.WorkflowVersionID)
		if err != nil {
			return store.Execution{}, err
		}
		runs, err := e.store.NodeRuns(ctx, exec.OrganizationID, exec.ID)
		if err != nil {
			return store.Execution{}, err
		}
		keep = plan.RetryRuns(runs)
	default:
		return store.Execution{}, fault.Fields("Retry from the start or from the failed node.",
			fault.FieldError{Field: "from", Message: "must be one of: start, failed"})
	}
	if err := e.triggers.Admit(ctx, exec.OrganizationID); err != nil {
		return store.Execution{}, err
	}
	return e.store.ExecutionRetry(ctx, c.Actor, exec.OrganizationID, exec.ID, keep)
}
