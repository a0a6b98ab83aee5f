package pages

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
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
func (s *Handlers) workflowsPage(w http.ResponseWriter, r *http.Request) {
	s.renderWorkflows(w, r, http.StatusOK, views.Form{})
}

func (s *Handlers) renderWorkflows(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	p := httpx.PrincipalFrom(r.Context())
	if err := httpx.Authorize(r, authz.WorkflowView, authz.Org(p.OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	q := r.URL.Query()
	page := views.WorkflowsPage{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Form: form,
		CanCreate: httpx.Authorize(r, authz.WorkflowCreate, authz.Org(p.OrgID)) == nil}
	f := store.WorkflowFilter{Query: page.Query, Limit: pageListSize}
	switch page.Status {
	case "active":
		f.Active = httpx.Ptr(true)
	case "inactive":
		f.Active = httpx.Ptr(false)
	case "archived":
		f.Archived = true
	default:
		page.Status = ""
	}
	if c := q.Get("cursor"); c != "" {
		at, id, err := httpx.DecodePageCursor(c)
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		f.Before = &store.Workflow{CreatedAt: at, ID: id}
	}
	items, err := s.deps.App.Workflows.List(r.Context(), s.Caller(r), f)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	shared, err := s.deps.App.Workflows.GrantCounts(r.Context(), s.Caller(r), items)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	summaries, err := s.deps.App.Workflows.Summaries(r.Context(), s.Caller(r), items)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, wf := range items {
		page.Items = append(page.Items, s.workflowRow(r, wf, shared[wf.ID], summaries[wf.ID], page.CanCreate))
	}
	if len(items) == pageListSize && f.Query == "" { // a search is one ranked page
		last := items[len(items)-1]
		page.OlderURL = pageURL("/workflows", url.Values{"q": {page.Query}, "status": {page.Status},
			"cursor": {httpx.EncodePageCursor(last.CreatedAt, last.ID)}})
	}
	s.Render(w, r, status, "Workflows", views.Workflows(page))
}

// workflowRow is one row of the workflow list. Archiving needs no per-workflow grant (only the role and
// authorship count). The on/off switch (workflow.edit) is offered by role and authorship alone, so the list asks
// no query per row: a member whose edit right comes from a grant switches it on its own page.
func (s *Handlers) workflowRow(r *http.Request, wf store.Workflow, shared int, sum store.WorkflowSummary, canCreate bool) views.WorkflowRow {
	res := authz.Workflow(wf.OrganizationID, wf.CreatedBy, authz.GrantNone)
	row := views.WorkflowRow{ID: wf.ID.String(), Name: wf.Name, Description: wf.Description,
		Version: wf.Version, Status: workflowStatus(wf), Updated: views.Stamp(wf.UpdatedAt), SharedWith: shared,
		CanDuplicate: canCreate && wf.ArchivedAt == nil,
		CanArchive:   wf.ArchivedAt == nil && httpx.Authorize(r, authz.WorkflowDelete, res) == nil,
		Trigger:      strings.TrimPrefix(sum.TriggerType, "trigger."), LastStatus: sum.LastStatus}
	if sum.LastRunAt != nil {
		row.LastRun, row.LastRunAt = views.RelativeTime(*sum.LastRunAt, s.Now()), views.Stamp(*sum.LastRunAt)
	}
	row.CanToggle = wf.ArchivedAt == nil && httpx.Authorize(r, authz.WorkflowEdit, res) == nil
	return row
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
func (s *Handlers) createWorkflowPage(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	created, err := s.deps.App.Workflows.Create(r.Context(), s.Caller(r),
		app.WorkflowInput{Name: &name, Definition: json.RawMessage(starterDefinition)})
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.PageError(w, r, err)
			return
		}
		s.renderWorkflows(w, r, http.StatusUnprocessableEntity, httpx.FormState(map[string]string{"name": name}, err))
		return
	}
	s.Redirect(w, r, "/workflows/"+created.Workflow.ID.String())
}

// workflowPage is GET /workflows/{id}.
func (s *Handlers) workflowPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderWorkflow(w, r, id, "")
}

// webhookView is the webhook as the workflow's details show it: only when its trigger is a webhook (a schedule or
// a form has no URL to call), with the signing instructions only when the trigger checks signatures; nil (and no
// error) when the workflow's trigger is not a webhook.
func (s *Handlers) webhookView(r *http.Request, id uuid.UUID, hook store.Webhook) (*views.WebhookView, error) {
	d, err := s.deps.App.Workflows.Get(r.Context(), s.Caller(r), id)
	if err != nil {
		return nil, err
	}
	var def struct {
		Nodes []struct {
			Type   string `json:"type"`
			Config struct {
				Auth       string `json:"auth"`
				HeaderName string `json:"header_name"`
			} `json:"config"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(d.Definition, &def); err != nil {
		return nil, fmt.Errorf("workflow %s: definition: %w", id, err)
	}
	for _, n := range def.Nodes {
		if n.Type != "trigger.webhook" {
			continue
		}
		auth := n.Config.Auth
		if auth == "" {
			auth = "hmac"
		}
		return &views.WebhookView{URL: s.WebhookURL(hook), Secret: hook.Secret, SignatureHeader: httpx.SignatureHeader,
			Auth: auth, HeaderName: n.Config.HeaderName}, nil
	}
	return nil, nil
}

// renderWorkflow draws a workflow's page, with notice above it after an action.
func (s *Handlers) renderWorkflow(w http.ResponseWriter, r *http.Request, id uuid.UUID, notice string) {
	o, err := s.deps.App.Workflows.Overview(r.Context(), s.Caller(r), id)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	wf := o.Workflow
	page := views.WorkflowPage{ID: wf.ID.String(), Name: wf.Name, Description: wf.Description, Version: wf.Version,
		Status: workflowStatus(wf), Active: wf.Active, Archived: wf.ArchivedAt != nil, Notice: notice,
		CanEdit: o.Access.Edit, CanRun: o.Access.Run, CanArchive: o.Access.Archive, CanDuplicate: o.Access.Duplicate,
		CanCreateCredentials: o.Access.CreateIntegrations}
	if o.NextRunAt != nil && wf.Active {
		page.NextRun = views.Stamp(*o.NextRunAt)
	}
	canvasFlags, err := json.Marshal(s.deps.App.Workflows.CanvasFlags(r.Context(), s.Caller(r)))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page.CanvasFlags = string(canvasFlags)
	page.DebugExecution = s.debugExecution(r, wf.ID)
	if o.Webhook != nil {
		if page.Webhook, err = s.webhookView(r, id, *o.Webhook); err != nil {
			s.PageError(w, r, err)
			return
		}
	}
	for _, d := range o.Deliveries {
		row := views.DeliveryRow{At: views.Stamp(d.At), Status: d.StatusCode, Size: d.SizeBytes}
		if d.ExecutionID != nil {
			row.ExecutionID = d.ExecutionID.String()
		}
		page.Deliveries = append(page.Deliveries, row)
	}
	for _, v := range o.Versions {
		page.Versions = append(page.Versions, views.VersionRow{Number: v.Number, Author: v.AuthorName,
			Message: v.Message, Created: views.Stamp(v.CreatedAt), Current: v.Number == wf.Version})
	}
	names := map[uuid.UUID]string{wf.ID: wf.Name}
	for _, e := range o.Executions {
		page.Executions = append(page.Executions, executionRow(e, names, s.Now()))
	}
	stats, err := s.deps.App.Workflows.Stats(r.Context(), s.Caller(r), id, app.StatsRange{})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page.Stats = statsCharts("workflow-stats", "Executions in the last hour", stats)
	s.Render(w, r, http.StatusOK, wf.Name, views.Workflow(page))
}

// afterWorkflowAction shows the workflow again: in place for htmx, by a redirect for a plain form (so a reload
// does not post again). In place, the "workflow-changed" event tells the canvas on the page to load the workflow
// anew (its head or active state moved under it).
func (s *Handlers) afterWorkflowAction(w http.ResponseWriter, r *http.Request, wf store.Workflow, notice string) {
	if httpx.IsFragmentRequest(r) {
		w.Header().Set("HX-Trigger", "workflow-changed")
		s.renderWorkflow(w, r, wf.ID, notice)
		return
	}
	s.Redirect(w, r, "/workflows/"+wf.ID.String())
}

// setWorkflowActivePage is POST /workflows/{id}/activate and …/deactivate.
func (s *Handlers) setWorkflowActivePage(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := httpx.PathID(r, "id")
		var wf app.WorkflowDetail
		if err == nil {
			wf, err = s.deps.App.Workflows.SetActive(r.Context(), s.Caller(r), id, active)
		}
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		notice := "Deactivated: its triggers no longer start runs."
		if active {
			notice = "Activated: its triggers start runs."
		}
		if r.PostFormValue("from") == "list" { // the list's toggle: back to the list
			notice = "“" + wf.Workflow.Name + "”: " + notice
			if httpx.IsFragmentRequest(r) {
				s.renderWorkflows(w, r, http.StatusOK, views.Form{Notice: notice})
				return
			}
			s.Redirect(w, r, "/workflows")
			return
		}
		s.afterWorkflowAction(w, r, wf.Workflow, notice)
	}
}

// duplicateWorkflowPage is POST /workflows/{id}/duplicate: a copy of the current version, then the copy's page.
func (s *Handlers) duplicateWorkflowPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var copied app.WorkflowDetail
	if err == nil {
		copied, err = s.deps.App.Workflows.Duplicate(r.Context(), s.Caller(r), id, nil)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/workflows/"+copied.Workflow.ID.String())
}

// archiveWorkflowPage is POST /workflows/{id}/archive: like the API's DELETE, its executions stay readable.
func (s *Handlers) archiveWorkflowPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var wf store.Workflow
	if err == nil {
		wf, err = s.deps.App.Workflows.Archive(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	if httpx.IsFragmentRequest(r) {
		s.renderWorkflows(w, r, http.StatusOK, views.Form{Notice: wf.Name + " archived."})
		return
	}
	s.Redirect(w, r, "/workflows")
}

// restoreWorkflowVersionPage is POST /workflows/{id}/versions/{number}/restore: the old definition becomes a new
// version on top of the head, as the API's restore does.
func (s *Handlers) restoreWorkflowVersionPage(w http.ResponseWriter, r *http.Request) {
	id, number, err := httpx.PathVersion(r)
	var saved app.WorkflowDetail
	if err == nil {
		saved, err = s.deps.App.Workflows.RestoreVersion(r.Context(), s.Caller(r), id, number)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.afterWorkflowAction(w, r, saved.Workflow, "Version "+strconv.Itoa(number)+" restored as version "+
		strconv.Itoa(int(saved.Workflow.Version))+".")
}

// debugExecution is the ?debug=<execution id> of "debug in editor": kept only when it is an execution of this
// workflow the caller may see, so the canvas never asks for one it would be refused (a stale or foreign id is
// dropped quietly; the page is the workflow's either way).
func (s *Handlers) debugExecution(r *http.Request, workflowID uuid.UUID) string {
	raw := r.URL.Query().Get("debug")
	if raw == "" {
		return ""
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return ""
	}
	exec, err := s.deps.App.Executions.Get(r.Context(), s.Caller(r), id, authz.ExecutionView)
	if err != nil || exec.WorkflowID != workflowID {
		return ""
	}
	return exec.ID.String()
}
