package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// workflowJSON is a workflow as the API shows it.
type workflowJSON struct {
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

// nextScheduledRun is when a definition's schedule trigger fires next after now; nil when its trigger is not a
// schedule.
func nextScheduledRun(definition json.RawMessage, now time.Time) *time.Time {
	next, err := nodes.NextScheduledRun(definition, now)
	if err != nil {
		return nil
	}
	return &next
}

func workflowOut(w store.Workflow, def json.RawMessage) workflowJSON {
	out := workflowJSON{ID: w.ID, Name: w.Name, Description: w.Description, Version: w.Version, Active: w.Active,
		Archived: w.ArchivedAt != nil, Priority: w.Priority, ConcurrencyLimit: w.ConcurrencyLimit,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if def != nil {
		out.Definition = &def
	}
	return out
}

// workflowInput is the body of POST /workflows and PUT /workflows/{id}.
type workflowInput struct {
	Name        *string         `json:"name" validate:"omitempty,min=1,max=200"`
	Description *string         `json:"description" validate:"omitempty,max=5000"`
	Definition  json.RawMessage `json:"definition"`
	// Version is the version an update edits (PUT only): a newer head makes the save a conflict.
	Version          *int32 `json:"version"`
	Priority         *int16 `json:"priority" validate:"omitempty,min=1,max=4"`
	ConcurrencyLimit *int32 `json:"concurrency_limit" validate:"omitempty,min=1,max=10000"`
	Message          string `json:"message" validate:"max=500"`
}

// validDefinition parses and validates a definition, naming every problem's node and field, and checks that
// the caller may use every integration it names.
func (s *Server) validDefinition(r *http.Request, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fault.Fields("a definition is required", fault.FieldError{Field: "definition", Message: "is required"})
	}
	def, err := engine.ParseDefinition(raw)
	if err != nil {
		return nil, fault.Fields("the definition is not valid", fault.FieldError{Field: "definition", Message: err.Error()})
	}
	if problems := s.deps.Registry.Validate(def); len(problems) > 0 {
		fields := make([]fault.FieldError, len(problems))
		for i, p := range problems {
			fields[i] = fault.FieldError{NodeID: p.NodeID, Field: p.Field, Message: p.Message}
		}
		return nil, fault.Fields("the definition is not valid", fields...)
	}
	if err := s.checkIntegrationUse(r.Context(), principalFrom(r.Context()), def); err != nil {
		return nil, err
	}
	// Stored as given, so the editor gets back exactly what it saved (positions, names, key order).
	return raw, nil
}

// authorizedWorkflow loads a workflow of the caller's organization and checks that the caller may do a to it.
func (s *Server) authorizedWorkflow(r *http.Request, id uuid.UUID, a authz.Action) (store.Workflow, error) {
	return s.deps.App.Workflows.Authorized(r.Context(), s.caller(r), id, a)
}

// pathWorkflow loads the workflow named by the {id} path segment and checks that the caller may do a to it,
// answering the problem itself when not.
func (s *Server) pathWorkflow(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Workflow, bool) {
	id, err := pathID(r, "id")
	if err == nil {
		var wf store.Workflow
		if wf, err = s.authorizedWorkflow(r, id, a); err == nil {
			return wf, true
		}
	}
	s.problem(w, r, err)
	return store.Workflow{}, false
}

// pathID reads a {name} path segment as a UUID; a malformed one is simply not found.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, fault.New(fault.NotFound, "not found")
	}
	return id, nil
}

// apiNodeTypes is GET /api/v1/node-types: the registry, the one source of the palette, the config forms and this.
func (s *Server) apiNodeTypes(w http.ResponseWriter, r *http.Request) {
	respond(w, http.StatusOK, map[string]any{"items": s.deps.Registry.Types()})
}

// apiWorkflowList is GET /api/v1/workflows?q=&active=&archived=&cursor=&limit=.
func (s *Server) apiWorkflowList(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.WorkflowView, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	q := r.URL.Query()
	f := store.WorkflowFilter{Query: strings.TrimSpace(q.Get("q")), Archived: q.Get("archived") == "true"}
	var err error
	if f.Limit, err = queryLimit(q.Get("limit")); err != nil {
		s.problem(w, r, err)
		return
	}
	if v := q.Get("active"); v != "" {
		active, perr := strconv.ParseBool(v)
		if perr != nil {
			s.problem(w, r, fault.Fields("bad filter", fault.FieldError{Field: "active", Message: "must be true or false"}))
			return
		}
		f.Active = &active
	}
	if c := q.Get("cursor"); c != "" {
		at, id, cerr := decodePageCursor(c)
		if cerr != nil {
			s.problem(w, r, cerr)
			return
		}
		f.Before = &store.Workflow{CreatedAt: at, ID: id}
	}
	items, err := s.deps.Store.WorkflowList(r.Context(), p.OrgID, f)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	out := make([]workflowJSON, len(items))
	for i, wf := range items {
		out[i] = workflowOut(wf, nil)
	}
	next := ""
	if len(items) > 0 && len(items) == clampedLimit(f.Limit) {
		last := items[len(items)-1]
		next = encodePageCursor(last.CreatedAt, last.ID)
	}
	respond(w, http.StatusOK, map[string]any{"items": out, "next_cursor": next})
}

// apiWorkflowCreate is POST /api/v1/workflows {name, description?, definition, priority?, concurrency_limit?}.
func (s *Server) apiWorkflowCreate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.WorkflowCreate, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	var in workflowInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	s.createWorkflow(w, r, in)
}

func (s *Server) createWorkflow(w http.ResponseWriter, r *http.Request, in workflowInput) {
	p := principalFrom(r.Context())
	err := validate.Struct(in)
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		err = errors.Join(err, fault.Fields("a name is required", fault.FieldError{Field: "name", Message: "is required"}))
	}
	def, defErr := s.validDefinition(r, in.Definition)
	if err = mergeInvalid(err, defErr); err != nil {
		s.problem(w, r, err)
		return
	}
	nw := store.NewWorkflow{OrganizationID: p.OrgID, Name: strings.TrimSpace(*in.Name), Definition: def,
		AuthorID: &p.UserID, ConcurrencyLimit: in.ConcurrencyLimit}
	if in.Description != nil {
		nw.Description = *in.Description
	}
	if in.Priority != nil {
		nw.Priority = *in.Priority
	}
	wf, err := s.deps.Store.WorkflowCreate(r.Context(), s.actor(r), nw)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/workflows/"+wf.ID.String())
	respond(w, http.StatusCreated, workflowOut(wf, def))
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
func (s *Server) apiWorkflowValidate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.WorkflowView, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	var in definitionInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	if _, err := s.validDefinition(r, in.Definition); err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, definitionValid{Valid: true})
}

// apiWorkflowGet is GET /api/v1/workflows/{id}: the head with its current definition.
func (s *Server) apiWorkflowGet(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowView)
	if !ok {
		return
	}
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	out := workflowOut(wf, v.Definition)
	if out.NextRunAt, err = s.deps.Store.WorkflowNextRun(r.Context(), wf.OrganizationID, wf.ID); err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(int(wf.Version))))
	respond(w, http.StatusOK, out)
}

// apiWorkflowUpdate is PUT /api/v1/workflows/{id} {name?, description?, definition, version}: a new immutable
// version, or 409 naming who saved in between when version is not the head any more.
func (s *Server) apiWorkflowUpdate(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowEdit)
	if !ok {
		return
	}
	var in workflowInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	err := validate.Struct(in)
	if in.Version == nil {
		// If-Match carries the version too, for clients that speak ETags.
		if v, perr := strconv.Unquote(r.Header.Get("If-Match")); perr == nil {
			if n, aerr := strconv.Atoi(v); aerr == nil {
				n32 := int32(n)
				in.Version = &n32
			}
		}
	}
	if in.Version == nil {
		err = errors.Join(err, fault.Fields("the version edited is required", fault.FieldError{Field: "version",
			Message: "is required: the version this edit started from"}))
	}
	def, defErr := s.validDefinition(r, in.Definition)
	if err = mergeInvalid(err, defErr); err != nil {
		s.problem(w, r, err)
		return
	}
	upd := store.WorkflowUpdate{OrganizationID: wf.OrganizationID, ID: wf.ID, BaseVersion: *in.Version,
		Name: in.Name, Description: in.Description, Priority: in.Priority, Definition: def,
		AuthorID: ptr(principalFrom(r.Context()).UserID), Message: in.Message, NextRun: nextScheduledRun(def, time.Now())}
	if in.ConcurrencyLimit != nil {
		upd.ConcurrencyLimit = &in.ConcurrencyLimit
	}
	saved, err := s.deps.Store.WorkflowSave(r.Context(), s.actor(r), upd)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(int(saved.Version))))
	respond(w, http.StatusOK, workflowOut(saved, def))
}

// apiWorkflowDelete is DELETE /api/v1/workflows/{id}: archives it (executions stay readable).
func (s *Server) apiWorkflowDelete(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowDelete)
	if !ok {
		return
	}
	if _, err := s.deps.Store.WorkflowArchive(r.Context(), s.actor(r), wf.OrganizationID, wf.ID); err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiWorkflowActivate is POST /api/v1/workflows/{id}/activate and …/deactivate.
func (s *Server) apiWorkflowActivate(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wf, ok := s.pathWorkflow(w, r, authz.WorkflowEdit)
		if !ok {
			return
		}
		wf, err := s.setWorkflowActive(r, wf, active)
		if err != nil {
			s.problem(w, r, err)
			return
		}
		out := workflowOut(wf, nil)
		out.NextRunAt, _ = s.deps.Store.WorkflowNextRun(r.Context(), wf.OrganizationID, wf.ID)
		respond(w, http.StatusOK, out)
	}
}

// apiWorkflowDuplicate is POST /api/v1/workflows/{id}/duplicate {name?}: a new workflow from the current version.
func (s *Server) apiWorkflowDuplicate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.problem(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	wf, err := s.authorizedWorkflow(r, id, authz.WorkflowView)
	if err == nil {
		err = authz.Authorize(p, authz.WorkflowCreate, authz.Org(p.OrgID))
	}
	if err != nil {
		s.problem(w, r, err)
		return
	}
	var in duplicateInput
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	name := wf.Name + " (copy)"
	if in.Name != nil {
		name = *in.Name
	}
	s.createWorkflow(w, r, workflowInput{Name: &name, Description: &wf.Description, Definition: v.Definition,
		Priority: &wf.Priority, ConcurrencyLimit: wf.ConcurrencyLimit})
}

// duplicateInput is the optional body of POST /api/v1/workflows/{id}/duplicate: the copy's name.
type duplicateInput struct {
	Name *string `json:"name" validate:"omitempty,min=1,max=200"`
}

// apiWorkflowImport is POST /api/v1/workflows/import: a document from …/export becomes a new workflow.
func (s *Server) apiWorkflowImport(w http.ResponseWriter, r *http.Request) {
	s.apiWorkflowCreate(w, r)
}

// apiWorkflowExport is GET /api/v1/workflows/{id}/export: a self-contained document that import accepts.
func (s *Server) apiWorkflowExport(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowView)
	if !ok {
		return
	}
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="workflow-`+wf.ID.String()+`.json"`)
	respond(w, http.StatusOK, map[string]any{"name": wf.Name, "description": wf.Description, "priority": wf.Priority,
		"concurrency_limit": wf.ConcurrencyLimit, "definition": v.Definition})
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
func (s *Server) apiWorkflowVersions(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowView)
	if !ok {
		return
	}
	versions, err := s.deps.Store.WorkflowVersions(r.Context(), wf.OrganizationID, wf.ID, 500)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	out := make([]versionJSON, len(versions))
	for i, v := range versions {
		out[i] = versionJSON{Number: v.Number, AuthorID: v.AuthorID, AuthorName: v.AuthorName, Message: v.Message,
			CreatedAt: v.CreatedAt}
	}
	respond(w, http.StatusOK, map[string]any{"items": out})
}

// apiWorkflowVersion is GET /api/v1/workflows/{id}/versions/{number}, with its definition.
func (s *Server) apiWorkflowVersion(w http.ResponseWriter, r *http.Request) {
	wf, v, err := s.workflowVersionFromPath(r, authz.WorkflowView)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	_ = wf
	respond(w, http.StatusOK, versionJSON{Number: v.Number, AuthorID: v.AuthorID, Message: v.Message,
		CreatedAt: v.CreatedAt, Definition: &v.Definition})
}

// apiWorkflowRestore is POST /api/v1/workflows/{id}/versions/{number}/restore: the old definition becomes a new
// version on top of the head (history is never rewritten).
func (s *Server) apiWorkflowRestore(w http.ResponseWriter, r *http.Request) {
	wf, v, err := s.workflowVersionFromPath(r, authz.WorkflowEdit)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	def, err := s.validDefinition(r, v.Definition)
	if err != nil {
		// A version saved before a node type changed may no longer validate; it cannot become the head.
		s.problem(w, r, err)
		return
	}
	saved, err := s.deps.Store.WorkflowSave(r.Context(), s.actor(r), store.WorkflowUpdate{
		OrganizationID: wf.OrganizationID, ID: wf.ID, BaseVersion: wf.Version, Definition: def,
		AuthorID: ptr(principalFrom(r.Context()).UserID), Message: "restored version " + strconv.Itoa(int(v.Number)),
		NextRun: nextScheduledRun(def, time.Now())})
	if err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, workflowOut(saved, def))
}

func (s *Server) workflowVersionFromPath(r *http.Request, a authz.Action) (store.Workflow, store.WorkflowVersion, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Workflow{}, store.WorkflowVersion{}, err
	}
	number, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || number < 1 {
		return store.Workflow{}, store.WorkflowVersion{}, fault.New(fault.NotFound, "no such version")
	}
	wf, err := s.authorizedWorkflow(r, id, a)
	if err != nil {
		return store.Workflow{}, store.WorkflowVersion{}, err
	}
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, int32(number))
	return wf, v, err
}

// apiWorkflowRun is POST /api/v1/workflows/{id}/run: a manual run whose JSON body becomes the trigger's body,
// answered 202 {execution_id} once the execution and its job are committed.
func (s *Server) apiWorkflowRun(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowRun)
	if !ok {
		return
	}
	var body json.RawMessage
	if r.ContentLength != 0 {
		if err := decodeJSONDepth(w, r, &body, validate.MaxTriggerDepth); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	if len(body) == 0 {
		body = json.RawMessage(`{}`)
	}
	trigger, err := json.Marshal(map[string]any{"body": body, "headers": map[string]string{}, "query": map[string]string{},
		"method": "MANUAL"})
	if err != nil {
		s.problem(w, r, err)
		return
	}
	head, err := s.deps.Store.WorkflowHeadForRun(r.Context(), wf.OrganizationID, wf.ID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if err := s.deps.App.Triggers.Admit(r.Context(), head.OrganizationID); err != nil {
		s.problem(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	exec, err := s.deps.Store.ExecutionCreate(r.Context(), s.actor(r), store.NewExecution{
		OrganizationID: head.OrganizationID, WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID,
		Version: head.Version, TriggerKind: "manual", TriggerData: trigger, Priority: head.Priority, CreatedBy: &p.UserID})
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+exec.ID.String())
	respond(w, http.StatusAccepted, map[string]any{"execution_id": exec.ID})
}

// mergeInvalid joins two validation results into one Invalid fault listing every field, so a caller learns all
// that is wrong at once; any other error wins as it is.
func mergeInvalid(errs ...error) error {
	var fields []fault.FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, e := range unwrapAll(err) {
			f := fault.As(e)
			if f.Code != fault.Invalid {
				return e
			}
			fields = append(fields, f.Fields...)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return fault.Fields("some fields need attention", fields...)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

const defaultPageSize = 50

func queryLimit(v string) (int, error) {
	if v == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, fault.Fields("bad limit", fault.FieldError{Field: "limit", Message: "must be a number from 1 to 500"})
	}
	return n, nil
}

func clampedLimit(n int) int {
	if n <= 0 {
		return defaultPageSize
	}
	return min(n, 500)
}
