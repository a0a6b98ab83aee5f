package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// starterDefinition is what a workflow created from the list holds until the canvas can draw more: a webhook
// trigger alone, which is valid and does nothing but record the call.
const starterDefinition = `{"nodes":[{"id":"webhook","type":"trigger.webhook","name":"Webhook","position":{"x":0,"y":0},"config":{}}],"edges":[]}`

// pageListSize is how many rows a list page shows before its "Older" link.
const pageListSize = 50

// workflowsPage is GET /workflows?q=&status=&cursor=.
func (s *Server) workflowsPage(w http.ResponseWriter, r *http.Request) {
	s.renderWorkflows(w, r, http.StatusOK, views.Form{})
}

func (s *Server) renderWorkflows(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.WorkflowView, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	q := r.URL.Query()
	page := views.WorkflowsPage{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Form: form,
		CanCreate: authorize(r, authz.WorkflowCreate, authz.Org(p.OrgID)) == nil}
	f := store.WorkflowFilter{Query: page.Query, Limit: pageListSize}
	switch page.Status {
	case "active":
		f.Active = ptr(true)
	case "inactive":
		f.Active = ptr(false)
	case "archived":
		f.Archived = true
	default:
		page.Status = ""
	}
	if c := q.Get("cursor"); c != "" {
		at, id, err := decodePageCursor(c)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		f.Before = &store.Workflow{CreatedAt: at, ID: id}
	}
	items, err := s.deps.Store.WorkflowList(r.Context(), p.OrgID, f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for _, wf := range items {
		// Archiving needs no per-workflow grant (only the role and authorship count), so the list asks no more.
		res := authz.Workflow(wf.OrganizationID, wf.CreatedBy, authz.GrantNone)
		page.Items = append(page.Items, views.WorkflowRow{ID: wf.ID.String(), Name: wf.Name, Description: wf.Description,
			Version: wf.Version, Status: workflowStatus(wf), Updated: views.Stamp(wf.UpdatedAt),
			CanDuplicate: page.CanCreate && wf.ArchivedAt == nil,
			CanArchive:   wf.ArchivedAt == nil && authorize(r, authz.WorkflowDelete, res) == nil})
	}
	if len(items) == pageListSize {
		last := items[len(items)-1]
		page.OlderURL = pageURL("/workflows", url.Values{"q": {page.Query}, "status": {page.Status},
			"cursor": {encodePageCursor(last.CreatedAt, last.ID)}})
	}
	s.render(w, r, status, "Workflows", views.Workflows(page))
}

// pageURL builds a link to path with the non-empty values as its query.
func pageURL(path string, values url.Values) string {
	for k, v := range values {
		if len(v) == 0 || v[0] == "" {
			delete(values, k)
		}
	}
	if len(values) == 0 {
		return path
	}
	return path + "?" + values.Encode()
}

func workflowStatus(wf store.Workflow) string {
	switch {
	case wf.ArchivedAt != nil:
		return "archived"
	case wf.Active:
		return "active"
	}
	return "inactive"
}

// createWorkflowPage is POST /workflows {name}: a new workflow holding the starter definition, then its page.
func (s *Server) createWorkflowPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.WorkflowCreate, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	values := map[string]string{"name": name}
	var err error
	switch {
	case name == "":
		err = fault.Fields("a name is required", fault.FieldError{Field: "name", Message: "is required"})
	case len(name) > 200:
		err = fault.Fields("the name is too long", fault.FieldError{Field: "name", Message: "must be at most 200 characters"})
	}
	var wf store.Workflow
	if err == nil {
		wf, err = s.newWorkflow(r, name, "", json.RawMessage(starterDefinition), nil)
	}
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.pageError(w, r, err)
			return
		}
		s.renderWorkflows(w, r, http.StatusUnprocessableEntity, formState(values, err))
		return
	}
	s.redirect(w, r, "/workflows/"+wf.ID.String())
}

// newWorkflow validates a definition and creates a workflow of the caller's organization from it; from, when set,
// is the workflow it copies priority and concurrency limit from.
func (s *Server) newWorkflow(r *http.Request, name, description string, definition json.RawMessage, from *store.Workflow) (store.Workflow, error) {
	def, err := s.validDefinition(r, definition)
	if err != nil {
		return store.Workflow{}, err
	}
	p := principalFrom(r.Context())
	nw := store.NewWorkflow{OrganizationID: p.OrgID, Name: name, Description: description, Definition: def,
		AuthorID: &p.UserID}
	if from != nil {
		nw.Priority, nw.ConcurrencyLimit = from.Priority, from.ConcurrencyLimit
	}
	return s.deps.Store.WorkflowCreate(r.Context(), s.actor(r), nw)
}

// pageWorkflow loads the {id} workflow for a page action the caller may do, answering the error page when not.
func (s *Server) pageWorkflow(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Workflow, bool) {
	id, err := pathID(r, "id")
	if err == nil {
		var wf store.Workflow
		if wf, err = s.authorizedWorkflow(r, id, a); err == nil {
			return wf, true
		}
	}
	s.pageError(w, r, err)
	return store.Workflow{}, false
}

// workflowPage is GET /workflows/{id}.
func (s *Server) workflowPage(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pageWorkflow(w, r, authz.WorkflowView)
	if !ok {
		return
	}
	s.renderWorkflow(w, r, wf, "")
}

// renderWorkflow draws a workflow's page, with notice above it after an action.
func (s *Server) renderWorkflow(w http.ResponseWriter, r *http.Request, wf store.Workflow, notice string) {
	ctx := r.Context()
	p := principalFrom(ctx)
	grant, err := s.deps.Store.WorkflowGrant(ctx, p.OrgID, wf.ID, p.UserID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	res := authz.Workflow(wf.OrganizationID, wf.CreatedBy, authz.Grant(grant))
	page := views.WorkflowPage{ID: wf.ID.String(), Name: wf.Name, Description: wf.Description, Version: wf.Version,
		Status: workflowStatus(wf), Active: wf.Active, Archived: wf.ArchivedAt != nil, Notice: notice,
		CanEdit:      authorize(r, authz.WorkflowEdit, res) == nil,
		CanRun:       authorize(r, authz.WorkflowRun, res) == nil,
		CanArchive:   authorize(r, authz.WorkflowDelete, res) == nil,
		CanDuplicate: authorize(r, authz.WorkflowCreate, authz.Org(p.OrgID)) == nil}
	next, err := s.deps.Store.WorkflowNextRun(ctx, wf.OrganizationID, wf.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if next != nil && wf.Active {
		page.NextRun = views.Stamp(*next)
	}
	if page.CanEdit && !page.Archived {
		// As the API's GET …/webhook does, the webhook is made the first time an editor looks for it.
		hook, err := s.deps.Store.WebhookEnsure(ctx, s.actor(r), s.deps.WebhookKeys, wf.OrganizationID, wf.ID)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		page.Webhook = &views.WebhookView{URL: s.deps.BaseURL.String() + "/hooks/" + hook.Token, Secret: hook.Secret,
			SignatureHeader: SignatureHeader}
	}
	if hookID, err := s.deps.Store.WebhookIDOf(ctx, wf.OrganizationID, wf.ID); err != nil {
		s.pageError(w, r, err)
		return
	} else if hookID != uuid.Nil {
		deliveries, err := s.deps.Store.WebhookDeliveries(ctx, wf.OrganizationID, hookID, 20)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		for _, d := range deliveries {
			row := views.DeliveryRow{At: views.Stamp(d.At), Status: d.StatusCode, Size: d.SizeBytes}
			if d.ExecutionID != nil {
				row.ExecutionID = d.ExecutionID.String()
			}
			page.Deliveries = append(page.Deliveries, row)
		}
	}
	versions, err := s.deps.Store.WorkflowVersions(ctx, wf.OrganizationID, wf.ID, 50)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for _, v := range versions {
		page.Versions = append(page.Versions, views.VersionRow{Number: v.Number, Author: v.AuthorName,
			Message: v.Message, Created: views.Stamp(v.CreatedAt), Current: v.Number == wf.Version})
	}
	execs, err := s.deps.Store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{WorkflowID: &wf.ID, Limit: 10})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	names := map[uuid.UUID]string{wf.ID: wf.Name}
	for _, e := range execs {
		page.Executions = append(page.Executions, executionRow(e, names))
	}
	s.render(w, r, http.StatusOK, wf.Name, views.Workflow(page))
}

// afterWorkflowAction shows the workflow again: in place for htmx, by a redirect for a plain form (so a reload
// does not post again). In place, the "workflow-changed" event tells the canvas on the page to load the workflow
// anew (its head or active state moved under it).
func (s *Server) afterWorkflowAction(w http.ResponseWriter, r *http.Request, wf store.Workflow, notice string) {
	if isFragmentRequest(r) {
		w.Header().Set("HX-Trigger", "workflow-changed")
		s.renderWorkflow(w, r, wf, notice)
		return
	}
	s.redirect(w, r, "/workflows/"+wf.ID.String())
}

// setWorkflowActivePage is POST /workflows/{id}/activate and …/deactivate.
func (s *Server) setWorkflowActivePage(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wf, ok := s.pageWorkflow(w, r, authz.WorkflowEdit)
		if !ok {
			return
		}
		wf, err := s.setWorkflowActive(r, wf, active)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		notice := "Deactivated: its triggers no longer start runs."
		if active {
			notice = "Activated: its triggers start runs."
		}
		s.afterWorkflowAction(w, r, wf, notice)
	}
}

// setWorkflowActive turns a workflow's triggers on or off as the API's activate does, registering its schedule
// (when its trigger is one) with the scheduler.
func (s *Server) setWorkflowActive(r *http.Request, wf store.Workflow, active bool) (store.Workflow, error) {
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		return store.Workflow{}, err
	}
	return s.deps.Store.WorkflowSetActive(r.Context(), s.actor(r), wf.OrganizationID, wf.ID, active,
		nextScheduledRun(v.Definition, time.Now()))
}

// duplicateWorkflowPage is POST /workflows/{id}/duplicate: a copy of the current version, then the copy's page.
func (s *Server) duplicateWorkflowPage(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pageWorkflow(w, r, authz.WorkflowView)
	if !ok {
		return
	}
	p := principalFrom(r.Context())
	if err := authorize(r, authz.WorkflowCreate, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.deps.Store.WorkflowVersion(r.Context(), wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	copied, err := s.newWorkflow(r, wf.Name+" (copy)", wf.Description, v.Definition, &wf)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, "/workflows/"+copied.ID.String())
}

// archiveWorkflowPage is POST /workflows/{id}/archive: like the API's DELETE, its executions stay readable.
func (s *Server) archiveWorkflowPage(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pageWorkflow(w, r, authz.WorkflowDelete)
	if !ok {
		return
	}
	if _, err := s.deps.Store.WorkflowArchive(r.Context(), s.actor(r), wf.OrganizationID, wf.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	if isFragmentRequest(r) {
		s.renderWorkflows(w, r, http.StatusOK, views.Form{Notice: wf.Name + " archived."})
		return
	}
	s.redirect(w, r, "/workflows")
}

// restoreWorkflowVersionPage is POST /workflows/{id}/versions/{number}/restore: the old definition becomes a new
// version on top of the head, as the API's restore does.
func (s *Server) restoreWorkflowVersionPage(w http.ResponseWriter, r *http.Request) {
	wf, v, err := s.workflowVersionFromPath(r, authz.WorkflowEdit)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	def, err := s.validDefinition(r, v.Definition)
	if err == nil {
		wf, err = s.deps.Store.WorkflowSave(r.Context(), s.actor(r), store.WorkflowUpdate{
			OrganizationID: wf.OrganizationID, ID: wf.ID, BaseVersion: wf.Version, Definition: def,
			AuthorID: ptr(principalFrom(r.Context()).UserID), Message: "restored version " + strconv.Itoa(int(v.Number)),
			NextRun: nextScheduledRun(def, time.Now())})
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.afterWorkflowAction(w, r, wf, "Version "+strconv.Itoa(int(v.Number))+" restored as version "+strconv.Itoa(int(wf.Version))+".")
}
