// Package executionbulk is the API of the execution list's bulk actions (POST /api/v1/executions/bulk): an adapter
// over app.Executions' Bulk, as the execution list page is. Package api registers and describes the route; the
// handler lives here so that package api stays small.
//
// It may import httpx, app and sql/store; it imports no surface.
package executionbulk

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// Input is the body of POST /api/v1/executions/bulk.
type Input struct {
	// Action is retry (from the start), cancel or delete (finished executions only).
	Action string `json:"action" validate:"required,oneof=retry cancel delete"` // the tag documents; app validates
	// IDs are the executions, at most app.MaxBulkExecutions.
	IDs []uuid.UUID `json:"ids" validate:"required,min=1,max=100"`
}

// ResultJSON is what the action did to one execution.
type ResultJSON struct {
	ID        uuid.UUID `json:"id"`
	RunNumber int64     `json:"run_number,omitempty"`
	OK        bool      `json:"ok"`
	// Code is why it was not done: not_found, forbidden, conflict, rate_limited or invalid.
	Code string `json:"code,omitempty"`
	// Message says what happened, in words.
	Message string `json:"message"`
	// ExecutionID is a retry's new execution.
	ExecutionID *uuid.UUID `json:"execution_id,omitempty"`
}

// OutputJSON is the answer: one result per distinct id, in the order given.
type OutputJSON struct {
	Results []ResultJSON `json:"results"`
}

// Handlers serves the bulk route over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Post is POST /api/v1/executions/bulk {action, ids}: each execution is authorized, done and audited on its own,
// so the answer is 200 with a result per execution even when some were refused.
func (s *Handlers) Post(w http.ResponseWriter, r *http.Request) {
	var in Input
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	results, err := s.App.Executions.Bulk(r.Context(), s.Caller(r), in.Action, in.IDs)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, Output(results))
}

// Output is the JSON of a bulk action's results.
func Output(results []app.BulkResult) OutputJSON {
	out := OutputJSON{Results: make([]ResultJSON, len(results))}
	for i, x := range results {
		out.Results[i] = ResultJSON{ID: x.ID, RunNumber: x.RunNumber, OK: x.OK, Code: string(x.Code), Message: x.Message,
			ExecutionID: x.NewExecutionID}
	}
	return out
}
