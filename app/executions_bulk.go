package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The bulk actions of the execution list.
const (
	BulkRetry  = "retry"
	BulkCancel = "cancel"
	BulkDelete = "delete"
)

// MaxBulkExecutions is how many executions one bulk action takes: a page of the list, with room to spare.
const MaxBulkExecutions = 100

// BulkResult is what a bulk action did to one execution. A bulk action is not all or nothing: each execution is
// authorized, done and audited on its own, and its result says so in words.
type BulkResult struct {
	ID uuid.UUID
	// RunNumber is the execution's number in its workflow, and WorkflowID its workflow; zero when not found.
	RunNumber  int64
	WorkflowID uuid.UUID
	OK         bool
	// Code is why it was not done (not_found, forbidden, conflict, rate_limited …); "" when done.
	Code fault.Code
	// Message says what happened, to be shown as is: "retried as #13", "canceled", "deleted", or why not.
	Message string
	// NewExecutionID is the retry's new execution.
	NewExecutionID *uuid.UUID
}

var errBulkAction = fault.Fields("bad bulk action", fault.FieldError{Field: "action", Message: "must be one of: retry, cancel, delete"})

// Bulk does action (BulkRetry from the start, BulkCancel, BulkDelete) to each of ids, as far as the caller may do it
// to each, and answers one result per distinct id, in the order given. Only a failure of the whole (the database
// gone) is an error; a refused execution is a result.
func (e *Executions) Bulk(ctx context.Context, c Caller, action string, ids []uuid.UUID) ([]BulkResult, error) {
	ids = distinctIDs(ids)
	switch {
	case action != BulkRetry && action != BulkCancel && action != BulkDelete:
		return nil, errBulkAction
	case len(ids) == 0:
		return nil, fault.Fields("no executions chosen", fault.FieldError{Field: "ids", Message: "choose at least one execution"})
	case len(ids) > MaxBulkExecutions:
		return nil, fault.Fields("too many executions", fault.FieldError{Field: "ids",
			Message: fmt.Sprintf("choose at most %d executions at once", MaxBulkExecutions)})
	}
	if err := authz.Authorize(c.Principal, authz.ExecutionView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	found, err := e.store.ExecutionsByID(ctx, c.Principal.OrgID, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]store.Execution, len(found))
	for _, x := range found {
		byID[x.ID] = x
	}
	results := make([]BulkResult, len(ids))
	for i, id := range ids {
		results[i] = BulkResult{ID: id, Code: fault.NotFound, Message: "not found"}
		if x, ok := byID[id]; ok {
			results[i].RunNumber, results[i].WorkflowID = x.RunNumber, x.WorkflowID
		}
	}
	if action == BulkDelete {
		return results, e.bulkDelete(ctx, c, byID, results)
	}
	for i := range results {
		if _, ok := byID[results[i].ID]; !ok {
			continue
		}
		if err := e.bulkOne(ctx, c, action, &results[i]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// bulkOne retries or cancels one execution through the single use cases, which authorize and audit it.
func (e *Executions) bulkOne(ctx context.Context, c Caller, action string, r *BulkResult) error {
	var err error
	if action == BulkRetry {
		var retry store.Execution
		if retry, err = e.Retry(ctx, c, r.ID, RetryFromStart); err == nil {
			r.NewExecutionID, r.Message = &retry.ID, fmt.Sprintf("retried as #%d", retry.RunNumber)
		}
	} else {
		var status string
		if _, status, err = e.Cancel(ctx, c, r.ID); err == nil {
			r.Message = "canceled"
			if status == store.StatusRunning {
				r.Message = "cancel requested; it stops at its next node"
			}
		}
	}
	return r.settle(err)
}

// bulkDelete deletes, in one transaction, the executions the caller may delete; the others keep their reason.
func (e *Executions) bulkDelete(ctx context.Context, c Caller, byID map[uuid.UUID]store.Execution, results []BulkResult) error {
	decided := map[uuid.UUID]error{} // per workflow: executions are authorized on their workflow
	var allowed []uuid.UUID
	for i := range results {
		x, ok := byID[results[i].ID]
		if !ok {
			continue
		}
		err, seen := decided[x.WorkflowID]
		if !seen {
			_, err = e.workflows.Authorized(ctx, c, x.WorkflowID, authz.ExecutionDelete)
			decided[x.WorkflowID] = err
		}
		if err == nil && !isFinal(x.Status) {
			err = fault.New(fault.Conflict, "still %s; cancel it first", x.Status)
		}
		if err := results[i].settle(err); err != nil {
			return err
		}
		if err == nil {
			allowed = append(allowed, x.ID)
		}
	}
	if len(allowed) == 0 {
		return nil
	}
	deleted, err := e.store.ExecutionDeleteMany(ctx, c.Actor, c.Principal.OrgID, allowed)
	if err != nil {
		return err
	}
	gone := map[uuid.UUID]bool{}
	for _, id := range deleted {
		gone[id] = true
	}
	for i := range results {
		if results[i].OK && !gone[results[i].ID] { // it started again meanwhile (a retry cannot; a resume can)
			results[i].OK, results[i].Code, results[i].Message = false, fault.Conflict, "no longer finished; not deleted"
		} else if results[i].OK {
			results[i].Message = "deleted"
		}
	}
	return nil
}

// settle records err as the result's outcome: nil is done, a refusal (not found, forbidden, conflict, a rate limit)
// is the result's reason. Any other error is the whole action's failure, returned.
func (r *BulkResult) settle(err error) error {
	if err == nil {
		r.OK, r.Code = true, ""
		return nil
	}
	switch code := fault.CodeOf(err); code {
	case fault.NotFound, fault.Forbidden, fault.Conflict, fault.RateLimited, fault.Invalid:
		r.OK, r.Code = false, code
		r.Message = fault.As(err).Message
		if code == fault.NotFound {
			r.Message = "not found"
		}
		return nil
	}
	return err
}

// isFinal reports whether status is final: such an execution may be deleted.
func isFinal(status string) bool {
	return status == store.StatusSucceeded || status == store.StatusFailed || status == store.StatusCanceled
}

// distinctIDs is ids without repeats, in their first order.
func distinctIDs(ids []uuid.UUID) []uuid.UUID {
	seen := make(map[uuid.UUID]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
