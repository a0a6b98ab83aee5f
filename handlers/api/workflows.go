package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// WorkflowJSON is a workflow as the API shows it.
type WorkflowJSON struct {
	ID               uuid.UUID  `json:"id"`
	Name             string     `json:"name"`
	Description      string     `json:"description"`
	Version          int32      `json:"version"`
	Active           bool       `json:"active"`
	Archived         bool       `json:"archived"`
	Priority         int16      `json:"priority"`
	ConcurrencyLimit *int32     `json:"concurrency_limit"`
	CreatedBy        *uuid.UUID `json:"created_by"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	// NextRunAt is when a scheduled, active workflow fires next.
	NextRunAt  *time.Time       `json:"next_run_at,omitempty"`
	Definition *json.RawMessage `json:"definition,omitempty"`
}

func workflowOut(w store.Workflow, def json.RawMessage) WorkflowJSON {
	out := WorkflowJSON{ID: w.ID, Name: w.Name, Description: w.Description, Version: w.Version, Active: w.Active,
		Archived: w.ArchivedAt != nil, Priority: w.Priority, ConcurrencyLimit: w.ConcurrencyLimit,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if def != nil {
		out.Definition = &def
	}
	return out
}

// workflowInput is the body of POST /workflows and PUT /workflows/{id}: the API decodes straight into the use
// case's input.
type workflowInput = app.WorkflowInput

// apiNodeTypes is GET /api/v1/node-types: the registry, the one source of the palette, the config forms and this.
// A node type a feature flag switches off for the caller's organization is left out.
func (s *Handlers) apiNodeTypes(w http.ResponseWriter, r *http.Request) {
	types, err := s.deps.App.Workflows.NodeTypes(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": types})
}

// apiWorkflowList is GET /api/v1/workflows?q=&active=&archived=&cursor=&limit=.
func (s *Handlers) apiWorkflowList(w http.ResponseWriter, r *http.Request) {
	// Authorized before the filter is read, so a caller who may not list learns nothing from its errors.
	err := httpx.Authorize(r, authz.WorkflowView, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID))
	var f store.WorkflowFilter
	if err == nil {
		f, err = apiWorkflowFilter(r.URL.Query())
	}
	var items []store.Workflow
	if err == nil {
		items, err = s.deps.App.Workflows.List(r.Context(), s.Caller(r), f)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := make([]WorkflowJSON, len(items))
	for i, wf := range items {
		out[i] = workflowOut(wf, nil)
	}
	next := ""
	if f.Query == "" && len(items) > 0 && len(items) == httpx.ClampedLimit(f.Limit) { // a search is one page
		last := items[len(items)-1]
		next = httpx.EncodePageCursor(last.CreatedAt, last.ID)
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": out, "next_cursor": next})
}

// apiWorkflowFilter reads the filter of GET /api/v1/workflows from its query.
func apiWorkflowFilter(q url.Values) (store.WorkflowFilter, error) {
	f := store.WorkflowFilter{Query: strings.TrimSpace(q.Get("q")), Archived: q.Get("archived") == "true"}
	var err error
	if f.Limit, err = httpx.QueryLimit(q.Get("limit")); err != nil {
		return f, err
	}
	if v := q.Get("active"); v != "" {
		active, err := strconv.ParseBool(v)
		if err != nil {
			return f, fault.Fields("bad filter", fault.FieldError{Field: "active", Message: "must be true or false"})
		}
		f.Active = &active
	}
	if c := q.Get("cursor"); c != "" {
		at, id, err := httpx.DecodePageCursor(c)
		if err != nil {
			return f, err
		}
		f.Before = &store.Workflow{CreatedAt: at, ID: id}
	}
	return f, nil
}

// apiWorkflowCreate is POST /api/v1/workflows {name, description?, definition, priority?, concurrency_limit?}.
func (s *Handlers) apiWorkflowCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err) // before reading the body, as every API route
		return
	}
	var in workflowInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	created, err := s.deps.App.Workflows.Create(r.Context(), s.Caller(r), in)
	s.respondCreatedWorkflow(w, r, created, err)
}

// respondCreatedWorkflow answers 201 with a new workflow, or the problem its creation failed with.
func (s *Handlers) respondCreatedWorkflow(w http.ResponseWriter, r *http.Request, created app.WorkflowDetail, err error) {
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/workflows/"+created.Workflow.ID.String())
	httpx.Respond(w, http.StatusCreated, workflowOut(created.Workflow, created.Definition))
}

// definitionInput is the body of POST /api/v1/workflows/validate.
type definitionInput struct {
	Definition json.RawMessage `json:"definition"`
}

// definitionValid is the answer of POST /api/v1/workflows/validate for a valid definition; an invalid one gets
// the 422 a save would get.
type definitionValid struct {
	Valid bool `json:"valid"`
}

// apiWorkflowValidate is POST /api/v1/workflows/validate: checks a definition as a save would, saving nothing, so
// an editor can list every problem before its user saves.
func (s *Handlers) apiWorkflowValidate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.WorkflowView, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	var in definitionInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	if err := s.deps.App.Workflows.ValidateDefinition(r.Context(), s.Caller(r), in.Definition); err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, definitionValid{Valid: true})
}

// apiWorkflowGet is GET /api/v1/workflows/{id}: the head with its current definition.
func (s *Handlers) apiWorkflowGet(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var wf app.WorkflowDetail
	if err == nil {
		wf, err = s.deps.App.Workflows.Get(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := workflowOut(wf.Workflow, wf.Definition)
	out.NextRunAt = wf.NextRunAt
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(int(wf.Workflow.Version))))
	httpx.Respond(w, http.StatusOK, out)
}

// apiWorkflowUpdate is PUT /api/v1/workflows/{id} {name?, description?, definition, version}: a new immutable
// version, or 409 naming who saved in between when version is not the head any more.
func (s *Handlers) apiWorkflowUpdate(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.PathWorkflow(w, r, authz.WorkflowEdit) // before reading the body
	if !ok {
		return
	}
	var in workflowInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	if in.Version == nil {
		// If-Match carries the version too, for clients that speak ETags.
		if v, perr := strconv.Unquote(r.Header.Get("If-Match")); perr == nil {
			if n, aerr := strconv.Atoi(v); aerr == nil {
				n32 := int32(n)
				in.Version = &n32
			}
		}
	}
	saved, err := s.deps.App.Workflows.Update(r.Context(), s.Caller(r), wf.ID, in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(int(saved.Workflow.Version))))
	httpx.Respond(w, http.StatusOK, workflowOut(saved.Workflow, saved.Definition))
}

// apiWorkflowDelete is DELETE /api/v1/workflows/{id}: archives it (executions stay readable).
func (s *Handlers) apiWorkflowDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		_, err = s.deps.App.Workflows.Archive(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiWorkflowActivate is POST /api/v1/workflows/{id}/activate and …/deactivate.
func (s *Handlers) apiWorkflowActivate(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := httpx.PathID(r, "id")
		var wf app.WorkflowDetail
		if err == nil {
			wf, err = s.deps.App.Workflows.SetActive(r.Context(), s.Caller(r), id, active)
		}
		if err != nil {
			s.Problem(w, r, err)
			return
		}
		out := workflowOut(wf.Workflow, nil)
		out.NextRunAt = wf.NextRunAt
		httpx.Respond(w, http.StatusOK, out)
	}
}

// apiWorkflowDuplicate is POST /api/v1/workflows/{id}/duplicate {name?}: a new workflow from the current version.
func (s *Handlers) apiWorkflowDuplicate(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil { // before reading the body
		if _, err = s.deps.App.Workflows.Authorized(r.Context(), s.Caller(r), id, authz.WorkflowView); err == nil {
			err = httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID))
		}
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in duplicateInput
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(w, r, &in); err != nil {
			s.Problem(w, r, err)
			return
		}
	}
	created, err := s.deps.App.Workflows.Duplicate(r.Context(), s.Caller(r), id, in.Name)
	s.respondCreatedWorkflow(w, r, created, err)
}

// duplicateInput is the optional body of POST /api/v1/workflows/{id}/duplicate: the copy's name.
type duplicateInput struct {
	Name *string `json:"name" validate:"omitempty,min=1,max=200"` // the tag documents; app validates the name
}

// apiWorkflowImport is POST /api/v1/workflows/import: a document from …/export becomes a new workflow.
func (s *Handlers) apiWorkflowImport(w http.ResponseWriter, r *http.Request) {
	s.apiWorkflowCreate(w, r)
}

// apiWorkflowExport is GET /api/v1/workflows/{id}/export: a self-contained document that import accepts.
func (s *Handlers) apiWorkflowExport(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var wf app.WorkflowDetail
	if err == nil {
		wf, err = s.deps.App.Workflows.Get(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	head := wf.Workflow
	w.Header().Set("Content-Disposition", `attachment; filename="workflow-`+head.ID.String()+`.json"`)
	httpx.Respond(w, http.StatusOK, map[string]any{"name": head.Name, "description": head.Description, "priority": head.Priority,
		"concurrency_limit": head.ConcurrencyLimit, "definition": wf.Definition})
}

// versionJSON is one entry of a workflow's history.
type versionJSON struct {
	Number     int32            `json:"number"`
	AuthorID   *uuid.UUID       `json:"author_id"`
	AuthorName string           `json:"author_name"`
	Message    string           `json:"message"`
	CreatedAt  time.Time        `json:"created_at"`
	Definition *json.RawMessage `json:"definition,omitempty"`
}

// apiWorkflowVersions is GET /api/v1/workflows/{id}/versions: the history, newest first.
func (s *Handlers) apiWorkflowVersions(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var versions []store.WorkflowVersion
	if err == nil {
		versions, err = s.deps.App.Workflows.Versions(r.Context(), s.Caller(r), id, 500)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := make([]versionJSON, len(versions))
	for i, v := range versions {
		out[i] = versionJSON{Number: v.Number, AuthorID: v.AuthorID, AuthorName: v.AuthorName, Message: v.Message,
			CreatedAt: v.CreatedAt}
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": out})
}

// apiWorkflowVersion is GET /api/v1/workflows/{id}/versions/{number}, with its definition.
func (s *Handlers) apiWorkflowVersion(w http.ResponseWriter, r *http.Request) {
	id, number, err := httpx.PathVersion(r)
	var v store.WorkflowVersion
	if err == nil {
		v, err = s.deps.App.Workflows.Version(r.Context(), s.Caller(r), id, number)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, versionJSON{Number: v.Number, AuthorID: v.AuthorID, Message: v.Message,
		CreatedAt: v.CreatedAt, Definition: &v.Definition})
}

// apiWorkflowRestore is POST /api/v1/workflows/{id}/versions/{number}/restore: the old definition becomes a new
// version on top of the head (history is never rewritten).
func (s *Handlers) apiWorkflowRestore(w http.ResponseWriter, r *http.Request) {
	id, number, err := httpx.PathVersion(r)
	var saved app.WorkflowDetail
	if err == nil {
		saved, err = s.deps.App.Workflows.RestoreVersion(r.Context(), s.Caller(r), id, number)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, workflowOut(saved.Workflow, saved.Definition))
}

// apiWorkflowRun is POST /api/v1/workflows/{id}/run?kind=&pins=: a manual run whose JSON body becomes the
// trigger's body (with pins=true, nodes pinned in the editor start with their pinned output instead of running),
// answered 202 {execution_id, run_number} once the execution and its job are committed.
func (s *Handlers) apiWorkflowRun(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.PathWorkflow(w, r, authz.WorkflowRun) // before reading the body
	if !ok {
		return
	}
	var body json.RawMessage
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSONDepth(w, r, &body, validate.MaxTriggerDepth); err != nil {
			s.Problem(w, r, err)
			return
		}
	}
	pinned := r.URL.Query().Get("pins") == "true" // the editor's test run: pinned nodes are not run
	exec, err := s.deps.App.Workflows.RunKind(r.Context(), s.Caller(r), wf.ID, body, runKind(r), pinned)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+exec.ID.String())
	httpx.Respond(w, http.StatusAccepted, ExecutionAccepted{ExecutionID: exec.ID, RunNumber: exec.RunNumber})
}

// runKind is the kind of a manual run: the kind query parameter when given (RunKind validates it), else a test
// run when the editor's canvas asks (its Test run calls the route under UIAPIPrefix) and a production run when a
// client of the API does.
func runKind(r *http.Request) string {
	if k := r.URL.Query().Get("kind"); k != "" {
		return k
	}
	if strings.HasPrefix(r.URL.Path, UIAPIPrefix+"/") {
		return store.KindTest
	}
	return store.KindProduction
}
