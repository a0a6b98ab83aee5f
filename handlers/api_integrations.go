package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// integrationInput is the body of POST /integrations and PUT /integrations/{id}. Settings mixes plain settings and
// secrets; the kind's secret fields (actions.SecretFields) are sealed and never shown back. On update, a settings
// object without a secret field keeps the stored secret.
type integrationInput struct {
	Name     string          `json:"name" validate:"required,min=1,max=200"`
	Kind     string          `json:"kind"`
	Settings json.RawMessage `json:"settings"`
	// RateLimit requests per RateInterval (a Go duration such as "1m"), shared by every worker; 0 is unlimited.
	RateLimit    int    `json:"rate_limit" validate:"min=0,max=1000000"`
	RateInterval string `json:"rate_interval"`
}

func (in integrationInput) interval() (time.Duration, error) {
	if in.RateLimit == 0 && in.RateInterval == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(in.RateInterval)
	if err != nil || d <= 0 {
		return 0, fault.Fields("bad rate interval", fault.FieldError{Field: "rate_interval",
			Message: `must be a duration such as "1s" or "1m" when rate_limit is set`})
	}
	return d, nil
}

// apiIntegrationList is GET /api/v1/integrations?kind=: settings without secrets.
func (s *Server) apiIntegrationList(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.IntegrationsView, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	items, err := s.deps.Integrations.List(r.Context(), p.OrgID, r.URL.Query().Get("kind"))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if items == nil {
		items = []store.Integration{}
	}
	respond(w, http.StatusOK, map[string]any{"items": items})
}

// apiIntegrationCreate is POST /api/v1/integrations {name, kind, settings, rate_limit?, rate_interval?}.
func (s *Server) apiIntegrationCreate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	var in integrationInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	interval, ierr := in.interval()
	config, secrets, serr := actions.SplitSettings(in.Kind, in.Settings)
	verr := error(nil)
	if serr == nil {
		verr = actions.ValidateIntegration(in.Kind, in.Settings)
	}
	if err := mergeInvalid(validate.Struct(in), ierr, serr, verr); err != nil {
		s.problem(w, r, err)
		return
	}
	created, err := s.deps.Integrations.Create(r.Context(), store.NewIntegration{OrganizationID: p.OrgID,
		Name: strings.TrimSpace(in.Name), Kind: in.Kind, Config: config, Secrets: secrets, RateLimit: in.RateLimit,
		RateInterval: interval, CreatedBy: ptr(p.UserID)}, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/integrations/"+created.ID.String())
	respond(w, http.StatusCreated, created)
}

// pathIntegration loads the {id} integration of the caller's organization after checking a.
func (s *Server) pathIntegration(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Integration, bool) {
	p := principalFrom(r.Context())
	id, err := pathID(r, "id")
	if err == nil {
		if err = authz.Authorize(p, a, authz.Org(p.OrgID)); err == nil {
			var in store.Integration
			if in, err = s.deps.Integrations.Get(r.Context(), p.OrgID, id); err == nil {
				return in, true
			}
		}
	}
	s.problem(w, r, err)
	return store.Integration{}, false
}

// apiIntegrationGet is GET /api/v1/integrations/{id}.
func (s *Server) apiIntegrationGet(w http.ResponseWriter, r *http.Request) {
	if in, ok := s.pathIntegration(w, r, authz.IntegrationsView); ok {
		respond(w, http.StatusOK, in)
	}
}

// apiIntegrationUpdate is PUT /api/v1/integrations/{id}: name, settings (secrets merged) and rate limit.
func (s *Server) apiIntegrationUpdate(w http.ResponseWriter, r *http.Request) {
	current, ok := s.pathIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	var in integrationInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	in.Kind = current.Kind
	interval, ierr := in.interval()
	config, secrets, serr := actions.SplitSettings(current.Kind, in.Settings)
	if err := mergeInvalid(validate.Struct(in), ierr, serr); err != nil {
		s.problem(w, r, err)
		return
	}
	var noSecrets map[string]json.RawMessage
	if json.Unmarshal(secrets, &noSecrets) == nil && len(noSecrets) == 0 {
		secrets = nil // keep the stored ones
	}
	updated, err := s.deps.Integrations.Update(r.Context(), store.IntegrationUpdate{OrganizationID: current.OrganizationID,
		ID: current.ID, Name: strings.TrimSpace(in.Name), Config: config, Secrets: secrets, RateLimit: in.RateLimit,
		RateInterval: interval}, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, updated)
}

// apiIntegrationDelete is DELETE /api/v1/integrations/{id}.
func (s *Server) apiIntegrationDelete(w http.ResponseWriter, r *http.Request) {
	current, ok := s.pathIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	if err := s.deps.Integrations.Delete(r.Context(), current.OrganizationID, current.ID, s.actor(r)); err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiIntegrationTest is POST /api/v1/integrations/{id}/test: connects with the stored settings (SMTP: EHLO and
// AUTH; HTTP: a GET of its test URL; PostgreSQL: SELECT 1). A failed connection is an answer, not an API error.
func (s *Server) apiIntegrationTest(w http.ResponseWriter, r *http.Request) {
	current, ok := s.pathIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	resolved, err := s.deps.Integrations.IntegrationForRun(r.Context(), current.OrganizationID, current.ID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if err := s.deps.ConnectionTester.Test(r.Context(), resolved); err != nil {
		respond(w, http.StatusOK, map[string]any{"ok": false, "error": fault.As(err).Message})
		return
	}
	respond(w, http.StatusOK, map[string]any{"ok": true})
}

// apiExecutionFile is GET /api/v1/executions/{id}/files/{fileID}: a file the execution exported, streamed, for
// anyone who may see the execution.
func (s *Server) apiExecutionFile(w http.ResponseWriter, r *http.Request) {
	exec, err := s.authorizedExecution(r, authz.ExecutionView)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	file, body, err := s.openExecutionFile(r, exec)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", file.ContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(file.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFilename(file.Filename)+`"`)
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = io.Copy(w, body)
}

// safeFilename keeps a download name from breaking out of its header quotes.
func safeFilename(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}

// integrationUseInput is the body of PUT /api/v1/integrations/{id}/use: restricted false lets everyone in the
// organization use the integration; true only admins, owners, the roles listed and the members listed.
type integrationUseInput struct {
	Restricted bool        `json:"restricted"`
	Roles      []string    `json:"roles" validate:"max=4"`
	UserIDs    []uuid.UUID `json:"user_ids" validate:"max=1000"`
}

// apiIntegrationSetUse is PUT /api/v1/integrations/{id}/use.
func (s *Server) apiIntegrationSetUse(w http.ResponseWriter, r *http.Request) {
	current, ok := s.pathIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	var in integrationUseInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	if err := validate.Struct(in); err != nil {
		s.problem(w, r, err)
		return
	}
	updated, err := s.deps.Integrations.SetUse(r.Context(), current.OrganizationID, current.ID,
		store.IntegrationUse{Restricted: in.Restricted, Roles: in.Roles, UserIDs: in.UserIDs}, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, updated)
}

// privilegedRoleInput is the body of PUT /api/v1/integrations/{id}/privileged-role.
type privilegedRoleInput struct {
	Allowed bool `json:"allowed"`
}

// apiIntegrationPrivilegedRole is PUT /api/v1/integrations/{id}/privileged-role: an instance administrator lets a
// PostgreSQL integration (of any organization) connect as a superuser or a member of pg_read_server_files,
// pg_write_server_files or pg_execute_server_program, or stops it.
func (s *Server) apiIntegrationPrivilegedRole(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.IntegrationsPrivilegedRole, authz.Instance); err != nil {
		s.problem(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.problem(w, r, err)
		return
	}
	var in privilegedRoleInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	updated, err := s.deps.Integrations.SetPrivilegedRole(r.Context(), id, in.Allowed, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, updated)
}
