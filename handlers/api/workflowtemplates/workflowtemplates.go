// Package workflowtemplates is the API of the workflow templates shipped in the binary (app/templates): GET
// /api/v1/workflow-templates lists them, POST /api/v1/workflows/from-template creates a workflow from one. It is
// an adapter over app.Workflows' Templates and CreateFromTemplate, as the New workflow page
// (handlers/pages/newworkflow) is. Package api registers and describes these routes; the handlers live here so
// that package api stays small.
//
// It may import httpx, app and app/templates; it imports no surface.
package workflowtemplates

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/templates"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// ListJSON is the answer of GET /api/v1/workflow-templates.
type ListJSON struct {
	Items []templates.Template `json:"items"`
}

// Handlers serves the template routes over the shared kit. RespondCreated answers a creation as POST
// /api/v1/workflows does (package api owns the workflow's JSON shape).
type Handlers struct {
	*httpx.Kit
	App            *app.App
	RespondCreated func(w http.ResponseWriter, r *http.Request, created app.WorkflowDetail, err error)
}

// List is GET /api/v1/workflow-templates: the templates the caller's organization can use.
func (s *Handlers) List(w http.ResponseWriter, r *http.Request) {
	items, err := s.App.Workflows.Templates(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if items == nil {
		items = []templates.Template{}
	}
	httpx.Respond(w, http.StatusOK, ListJSON{Items: items})
}

// Create is POST /api/v1/workflows/from-template {template, placeholders, name?, description?}: a new, inactive
// workflow from a template with the caller's picks.
func (s *Handlers) Create(w http.ResponseWriter, r *http.Request) {
	// Authorized before the body is read, as every API route.
	if err := httpx.Authorize(r, authz.WorkflowCreate, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	var in app.TemplateInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	created, err := s.App.Workflows.CreateFromTemplate(r.Context(), s.Caller(r), in)
	s.RespondCreated(w, r, created, err)
}
