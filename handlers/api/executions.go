package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// ExecutionJSON is an execution as the API shows it; Nodes only on the detail.
type ExecutionJSON struct {
	ID         uuid.UUID `json:"id"`
	WorkflowID uuid.UUID `json:"workflow_id"`
	// RunNumber is the execution's number within its workflow ("#12"): unique and without gaps, in creation order.
	RunNumber int64 `json:"run_number,omitempty"`
	// Kind is production, test (the editor's Test run) or retry.
	Kind        string          `json:"kind"`
	Version     int32           `json:"version"`
	Status      string          `json:"status"`
	TriggerKind string          `json:"trigger_kind"`
	Trigger     json.RawMessage `json:"trigger"`
	Error       string          `json:"error,omitempty"`
	RetryOf     *uuid.UUID      `json:"retry_of,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	// RequestID is the X-Request-ID of the request that triggered it (a webhook call, a form post, an upload, a
	// run through the API or a page), so a caller's logs meet the server's; absent for a schedule.
	RequestID string `json:"request_id,omitempty"`
	// TraceID is its OpenTelemetry trace, when tracing was on.
	TraceID string        `json:"trace_id,omitempty"`
	Nodes   []NodeRunJSON `json:"nodes,omitempty"`
	// Progress is how far a loop over a file's batches has come (detail only, once a batch has finished).
	Progress *engine.Progress `json:"progress,omitempty"`
	// Files and EmailDeliveries are what the execution's actions produced (detail only).
	Files           []store.Upload        `json:"files,omitempty"`
	EmailDeliveries []store.EmailDelivery `json:"email_deliveries,omitempty"`
}

// NodeRunJSON is one node run of an execution.
type NodeRunJSON struct {
	NodeID     string          `json:"node_id"`
	Type       string          `json:"type"`
	Status     string          `json:"status"`
	Attempt    int             `json:"attempt"`
	ItemIndex  *int            `json:"item_index,omitempty"`
	Port       string          `json:"port,omitempty"`
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	Error      string          `json:"error,omitempty"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	// RanAgain says, in words, why the node ran again when the execution resumed after a pass stopped: the
	// stopped pass may have run it already, its side effects under the same idempotency key.
	RanAgain string `json:"ran_again,omitempty"`
}

func executionOut(e store.Execution, runs []engine.NodeRun) ExecutionJSON {
	out := ExecutionJSON{ID: e.ID, WorkflowID: e.WorkflowID, RunNumber: e.RunNumber, Kind: e.Kind,
		Version: e.Version, Status: e.Status,
		TriggerKind: e.TriggerKind, Trigger: e.TriggerData, Error: e.Error, RetryOf: e.RetryOf,
		CreatedAt: e.CreatedAt, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt, RequestID: e.RequestID,
		TraceID: e.TraceID}
	if runs != nil {
		out.Nodes = make([]NodeRunJSON, len(runs))
		for i, r := range runs {
			out.Nodes[i] = NodeRunJSON{NodeID: r.NodeID, Type: r.Type, Status: string(r.Status), Attempt: r.Attempt,
				ItemIndex: r.ItemIndex, Port: r.Port, Input: httpx.OrJSONNull(r.Input), Output: httpx.OrJSONNull(r.Output),
				Error: r.Error, StartedAt: httpx.TimeOrNil(r.StartedAt), FinishedAt: httpx.TimeOrNil(r.FinishedAt),
				RanAgain: r.RanAgain}
		}
		out.Progress = engine.ProgressOf(runs)
	}
	return out
}

// apiExecutionList is GET /api/v1/executions?q=&workflow_id=&status=&kind=&since=&cursor=&limit=; q searches errors,
// or trigger data as trigger.<path>=<value>.
func (s *Handlers) apiExecutionList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.ExecutionFilter{Query: strings.TrimSpace(q.Get("q"))}
	var fields []fault.FieldError
	if v := q.Get("workflow_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields = append(fields, fault.FieldError{Field: "workflow_id", Message: "is not a valid id"})
		}
		f.WorkflowID = &id
	}
	if v := q.Get("status"); v != "" {
		if !httpx.IsExecutionStatus(v) {
			fields = append(fields, fault.FieldError{Field: "status",
				Message: "must be one of queued, running, waiting, succeeded, failed, canceled"})
		}
		f.Status = v
	}
	if v := q.Get("kind"); v != "" {
		if !store.IsExecutionKind(v) {
			fields = append(fields, fault.FieldError{Field: "kind", Message: "must be one of production, test, retry"})
		}
		f.Kind = v
	}
	if v := q.Get("since"); v != "" {
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fields = append(fields, fault.FieldError{Field: "since", Message: "must be an RFC 3339 time"})
		}
		f.CreatedAfter = &at
	}
	limit, err := httpx.QueryLimit(q.Get("limit"))
	if err != nil {
		fields = append(fields, fault.As(err).Fields...)
	}
	f.Limit = limit
	if c := q.Get("cursor"); c != "" {
		// The cursor carries the item's creation time too (one cursor shape for every list); executions page by
		// id alone.
		_, id, err := httpx.DecodePageCursor(c)
		if err != nil {
			fields = append(fields, httpx.ErrBadCursor.Fields...)
		} else {
			f.BeforeID = &id
		}
	}
	if len(fields) > 0 {
		s.Problem(w, r, fault.Fields("bad filters", fields...))
		return
	}
	items, err := s.deps.App.Executions.List(r.Context(), s.Caller(r), f)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := make([]ExecutionJSON, len(items))
	for i, e := range items {
		out[i] = executionOut(e, nil)
	}
	next := ""
	// An error search is one ranked page; a trigger-data search pages like the list.
	if (f.Query == "" || store.IsTriggerSearch(f.Query)) && len(items) > 0 && len(items) == httpx.ClampedLimit(f.Limit) {
		last := items[len(items)-1]
		next = httpx.EncodePageCursor(last.CreatedAt, last.ID)
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": out, "next_cursor": next})
}

// apiExecutionGet is GET /api/v1/executions/{id}, with its node runs.
func (s *Handlers) apiExecutionGet(w http.ResponseWriter, r *http.Request) {
	exec, err := s.PathExecution(r, authz.ExecutionView)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out, err := s.executionDetail(r.Context(), exec)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, out)
}

// executionDetail is an execution as GET /api/v1/executions/{id} shows it: with its node runs, files and e-mails.
func (s *Handlers) executionDetail(ctx context.Context, exec store.Execution) (ExecutionJSON, error) {
	runs, err := s.deps.Store.NodeRuns(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		return ExecutionJSON{}, err
	}
	if runs == nil {
		runs = []engine.NodeRun{}
	}
	out := executionOut(exec, runs)
	if out.Files, err = s.deps.Store.UploadListForExecution(ctx, exec.OrganizationID, exec.ID); err != nil {
		return ExecutionJSON{}, err
	}
	if out.EmailDeliveries, err = s.deps.Store.EmailDeliveryListForExecution(ctx, exec.OrganizationID, exec.ID); err != nil {
		return ExecutionJSON{}, err
	}
	return out, nil
}

// apiExecutionCancel is POST /api/v1/executions/{id}/cancel: a queued or waiting execution ends at once; a running
// one stops at its next node boundary, on whichever worker runs it.
func (s *Handlers) apiExecutionCancel(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	exec, status, err := s.deps.App.Executions.Cancel(r.Context(), s.Caller(r), id)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusAccepted, map[string]any{"execution_id": exec.ID, "status": status})
}

// apiExecutionRetry is POST /api/v1/executions/{id}/retry {from: "start" | "failed"}: a new execution of the same
// version with the same trigger data, from the start or from the failed node with the recorded inputs (the runs
// before it are carried over, never repeated).
func (s *Handlers) apiExecutionRetry(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in retryInput
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(w, r, &in); err != nil {
			s.Problem(w, r, err)
			return
		}
	}
	retry, err := s.deps.App.Executions.Retry(r.Context(), s.Caller(r), id, in.From)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+retry.ID.String())
	httpx.Respond(w, http.StatusAccepted, ExecutionAccepted{ExecutionID: retry.ID, RunNumber: retry.RunNumber})
}

// retryInput is the optional body of POST /api/v1/executions/{id}/retry: from the start (the default) or from the
// failed node.
type retryInput struct {
	From string `json:"from" validate:"omitempty,oneof=start failed"`
}
