package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The integrations API: an adapter over app.Integrations, as the integrations page (integrations.go) is. Every
// route that reads a body authorizes first, so a refused caller's body is never read.

// apiIntegrationList is GET /api/v1/integrations?kind=&q=: settings without secrets.
func (s *Handlers) apiIntegrationList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	items, err := s.deps.App.Integrations.List(r.Context(), s.Caller(r),
		store.IntegrationFilter{Kind: q.Get("kind"), Query: q.Get("q")})
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if items == nil {
		items = []store.Integration{}
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"items": items})
}

// apiIntegrationCreate is POST /api/v1/integrations {name, kind, settings, rate_limit?, rate_interval?}.
func (s *Handlers) apiIntegrationCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	var in app.IntegrationInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	created, err := s.deps.App.Integrations.Create(r.Context(), s.Caller(r), in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/integrations/"+created.ID.String())
	httpx.Respond(w, http.StatusCreated, created)
}

// integrationBody reads the {id} of the path and, once the caller is seen to hold a, the JSON body into in.
func (s *Handlers) integrationBody(w http.ResponseWriter, r *http.Request, a authz.Action, in any) (uuid.UUID, bool) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		if err = httpx.Authorize(r, a, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err == nil {
			err = httpx.DecodeJSON(w, r, in)
		}
	}
	if err != nil {
		s.Problem(w, r, err)
		return uuid.Nil, false
	}
	return id, true
}

// apiIntegrationGet is GET /api/v1/integrations/{id}.
func (s *Handlers) apiIntegrationGet(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var in store.Integration
	if err == nil {
		in, err = s.deps.App.Integrations.Get(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, in)
}

// apiIntegrationUpdate is PUT /api/v1/integrations/{id}: name, settings (secrets merged) and rate limit.
func (s *Handlers) apiIntegrationUpdate(w http.ResponseWriter, r *http.Request) {
	var in app.IntegrationInput
	id, ok := s.integrationBody(w, r, authz.IntegrationsManage, &in)
	if !ok {
		return
	}
	updated, err := s.deps.App.Integrations.Update(r.Context(), s.Caller(r), id, in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, updated)
}

// apiIntegrationDelete is DELETE /api/v1/integrations/{id}.
func (s *Handlers) apiIntegrationDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		_, err = s.deps.App.Integrations.Delete(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiIntegrationTest is POST /api/v1/integrations/{id}/test: connects with the stored settings (see
// app.Integrations.Test). A failed connection is an answer, not an API error.
func (s *Handlers) apiIntegrationTest(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var test app.ConnectionTest
	if err == nil {
		test, err = s.deps.App.Integrations.Test(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if test.Problem != "" {
		httpx.Respond(w, http.StatusOK, map[string]any{"ok": false, "error": test.Problem})
		return
	}
	httpx.Respond(w, http.StatusOK, map[string]any{"ok": true})
}

// apiExecutionFile is GET /api/v1/executions/{id}/files/{fileID}: a file the execution exported, streamed, for
// anyone who may see the execution; with ?presign=1 and S3 storage, a 302 to a 60-second link to the store.
func (s *Handlers) apiExecutionFile(w http.ResponseWriter, r *http.Request) {
	exec, err := s.PathExecution(r, authz.ExecutionView)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	file, err := s.ExecutionFile(r, exec)
	if err == nil {
		err = s.SendFile(w, r, httpx.Download{File: file, ContentType: file.ContentType})
	}
	if err != nil {
		s.Problem(w, r, err)
	}
}

// apiIntegrationSetUse is PUT /api/v1/integrations/{id}/use: restricted false lets everyone in the organization
// use the integration; true only admins, owners, the roles listed and the members listed.
func (s *Handlers) apiIntegrationSetUse(w http.ResponseWriter, r *http.Request) {
	var in app.IntegrationUseInput
	id, ok := s.integrationBody(w, r, authz.IntegrationsManage, &in)
	if !ok {
		return
	}
	updated, err := s.deps.App.Integrations.SetUse(r.Context(), s.Caller(r), id, in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, updated)
}

// privilegedRoleInput is the body of PUT /api/v1/integrations/{id}/privileged-role.
type privilegedRoleInput struct {
	Allowed bool `json:"allowed"`
}

// apiIntegrationPrivilegedRole is PUT /api/v1/integrations/{id}/privileged-role: an instance administrator lets a
// PostgreSQL integration (of any organization) connect as a superuser or a member of pg_read_server_files,
// pg_write_server_files or pg_execute_server_program, or stops it.
func (s *Handlers) apiIntegrationPrivilegedRole(w http.ResponseWriter, r *http.Request) {
	var in privilegedRoleInput
	id, ok := s.integrationBody(w, r, authz.IntegrationsPrivilegedRole, &in)
	if !ok {
		return
	}
	updated, err := s.deps.App.Integrations.SetPrivilegedRole(r.Context(), s.Caller(r), id, in.Allowed)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, updated)
}

// integrationKindJSON is one kind of integration: its settings as a form lists them, and as a JSON Schema object
// (secret settings writeOnly), for clients that build a "create credential" form.
type integrationKindJSON struct {
	actions.IntegrationKind
	Schema map[string]any `json:"schema"`
}

// integrationKindList is the answer of GET /api/v1/integration-kinds.
type integrationKindList struct {
	Items []integrationKindJSON `json:"items"`
}

// apiIntegrationKinds is GET /api/v1/integration-kinds: the same description the integrations page's forms are
// generated from. It holds no organization's data, but is asked like the rest of the API, signed in.
func (s *Handlers) apiIntegrationKinds(w http.ResponseWriter, r *http.Request) {
	out := integrationKindList{}
	for _, k := range actions.IntegrationKinds() {
		out.Items = append(out.Items, integrationKindJSON{IntegrationKind: k, Schema: k.JSONSchema()})
	}
	httpx.Respond(w, http.StatusOK, out)
}
