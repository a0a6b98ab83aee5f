package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// integrationKinds are the kinds the page offers, with example settings. Settings are typed as JSON on purpose:
// one form serves every kind, and the examples show each kind's fields (the canvas editor will bring per-kind
// forms generated from the same definitions).
var integrationKinds = []views.IntegrationKind{
	{Kind: actions.KindSMTP, Example: `{"host":"smtp.example.com","port":587,"tls":"starttls","username":"bot","password":"…","from":"Bot <bot@example.com>"}`},
	{Kind: actions.KindHTTP, Example: `{"auth":"bearer","token":"…","base_url":"https://api.example.com","test_url":"https://api.example.com/health"}`},
	{Kind: actions.KindPostgres, Example: `{"host":"db.example.com","port":5432,"database":"app","user":"reader","password":"…"}`},
}

func init() {
	for i := range integrationKinds {
		integrationKinds[i].SecretFields = actions.SecretFields(integrationKinds[i].Kind)
	}
}

// integrationsPage is GET /integrations.
func (s *Server) integrationsPage(w http.ResponseWriter, r *http.Request) {
	s.renderIntegrations(w, r, http.StatusOK, views.Form{})
}

func (s *Server) renderIntegrations(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.IntegrationsView, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	items, err := s.deps.Integrations.List(r.Context(), p.OrgID, "")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	page := views.IntegrationsPage{Form: form, Kinds: integrationKinds,
		CanManage: authorize(r, authz.IntegrationsManage, authz.Org(p.OrgID)) == nil}
	for _, it := range items {
		row := views.IntegrationRow{ID: it.ID.String(), Name: it.Name, Kind: it.Kind, Settings: string(it.Config),
			HasSecrets: it.HasSecrets, RateLimit: "none", Created: views.Stamp(it.CreatedAt)}
		if it.RateLimit > 0 {
			row.RateLimit = strconv.Itoa(it.RateLimit) + " per " + it.RateInterval.String()
		}
		page.Items = append(page.Items, row)
	}
	s.render(w, r, status, "Integrations", views.Integrations(page))
}

// createIntegration is POST /integrations: the form's fields, settings as a JSON object.
func (s *Server) createIntegration(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	// Only the name and kind are typed back into a failed form: the settings may hold a password.
	values := map[string]string{"name": r.PostFormValue("name"), "kind": r.PostFormValue("kind")}
	settings := json.RawMessage(r.PostFormValue("settings"))
	var err error
	if !json.Valid(settings) {
		err = fault.Fields("the settings are not JSON", fault.FieldError{Field: "settings", Message: "must be a JSON object"})
	} else {
		in := integrationInput{Name: strings.TrimSpace(values["name"]), Kind: values["kind"], Settings: settings}
		config, secrets, serr := actions.SplitSettings(in.Kind, in.Settings)
		var verr error
		if serr == nil {
			verr = actions.ValidateIntegration(in.Kind, in.Settings)
		}
		if err = mergeInvalid(validate.Struct(in), serr, verr); err == nil {
			_, err = s.deps.Integrations.Create(r.Context(), store.NewIntegration{OrganizationID: p.OrgID, Name: in.Name,
				Kind: in.Kind, Config: config, Secrets: secrets, CreatedBy: ptr(p.UserID)}, s.actor(r))
		}
	}
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.pageError(w, r, err)
			return
		}
		s.renderIntegrations(w, r, http.StatusUnprocessableEntity, formState(values, settingsFieldErrors(err)))
		return
	}
	s.renderIntegrations(w, r, http.StatusOK, views.Form{Notice: "Integration added."})
}

// settingsFieldErrors folds errors about fields inside the settings ("settings.port", "port") onto the settings
// field the form has.
func settingsFieldErrors(err error) error {
	e := fault.As(err)
	if e.Code != fault.Invalid {
		return err
	}
	fields := make([]fault.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = f
		if f.Field != "name" && f.Field != "kind" && f.Field != "settings" {
			fields[i] = fault.FieldError{Field: "settings", Message: f.Field + ": " + f.Message}
		}
	}
	return fault.Fields(e.Message, fields...)
}

// pageIntegration loads the {id} integration for a page action the caller may do.
func (s *Server) pageIntegration(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Integration, bool) {
	p := principalFrom(r.Context())
	id, err := pathID(r, "id")
	if err == nil {
		if err = authorize(r, a, authz.Org(p.OrgID)); err == nil {
			var in store.Integration
			if in, err = s.deps.Integrations.Get(r.Context(), p.OrgID, id); err == nil {
				return in, true
			}
		}
	}
	s.pageError(w, r, err)
	return store.Integration{}, false
}

// testIntegrationPage is POST /integrations/{id}/test: the result as a fragment (or the page without JavaScript).
func (s *Server) testIntegrationPage(w http.ResponseWriter, r *http.Request) {
	in, ok := s.pageIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	result := views.IntegrationTestResult{OK: true}
	resolved, err := s.deps.Integrations.IntegrationForRun(r.Context(), in.OrganizationID, in.ID)
	if err == nil {
		err = s.deps.ConnectionTester.Test(r.Context(), resolved)
	}
	if err != nil {
		result = views.IntegrationTestResult{Error: fault.As(err).Message}
	}
	if isFragmentRequest(r) {
		s.render(w, r, http.StatusOK, "Integrations", views.IntegrationTest(result))
		return
	}
	form := views.Form{Notice: in.Name + ": connected."}
	if !result.OK {
		form = views.Form{Error: in.Name + ": " + result.Error}
	}
	s.renderIntegrations(w, r, http.StatusOK, form)
}

// deleteIntegrationPage is POST /integrations/{id}/delete.
func (s *Server) deleteIntegrationPage(w http.ResponseWriter, r *http.Request) {
	in, ok := s.pageIntegration(w, r, authz.IntegrationsManage)
	if !ok {
		return
	}
	if err := s.deps.Integrations.Delete(r.Context(), in.OrganizationID, in.ID, s.actor(r)); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderIntegrations(w, r, http.StatusOK, views.Form{Notice: in.Name + " deleted."})
}

// usePolicy is an integration's use policy as authz reads it; nil when unrestricted.
func usePolicy(in store.Integration) *authz.UsePolicy {
	if !in.Use.Restricted {
		return nil
	}
	p := &authz.UsePolicy{Users: in.Use.UserIDs}
	for _, r := range in.Use.Roles {
		p.Roles = append(p.Roles, authz.Role(r))
	}
	return p
}

// checkIntegrationUse refuses a definition naming an integration the saver may not use (authz.IntegrationsUse),
// naming the node and the integration, and an integration_id that is not an id at all. An id that names no
// integration of the organization is left to the run (a workflow may be imported before its integrations exist),
// which fails that node with "not found".
func (s *Server) checkIntegrationUse(ctx context.Context, p authz.Principal, def *engine.Definition) error {
	var problems []fault.FieldError
	for _, n := range def.Nodes {
		var cfg struct {
			IntegrationID string `json:"integration_id"`
		}
		if json.Unmarshal(n.Config, &cfg) != nil || cfg.IntegrationID == "" {
			continue
		}
		id, err := uuid.Parse(cfg.IntegrationID)
		if err != nil {
			// Never an integration's id: a placeholder left behind (${SMTP_INTEGRATION_ID}) or a name. Said now,
			// rather than by the node's first run.
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "config.integration_id",
				Message: "is not an integration's id (a UUID, from /api/v1/integrations)"})
			continue
		}
		in, err := s.deps.Integrations.Get(ctx, p.OrgID, id)
		if fault.CodeOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		if authz.Authorize(p, authz.IntegrationsUse, authz.Integration(p.OrgID, usePolicy(in))) != nil {
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "integration_id",
				Message: fmt.Sprintf("you may not use integration %q: an admin restricted who may use it", in.Name)})
		}
	}
	if len(problems) > 0 {
		return fault.Fields("the definition names integrations you may not use, or ids that are not integrations' ids", problems...)
	}
	return nil
}

// IntegrationUseChecker is the workers' run-time check (actions.ServicesConfig.MayUse): the member who saved the
// running version must still be allowed to use the integration, by the same rule as saving. A version whose
// author left the organization (or is unknown) keeps the unrestricted integrations and loses the restricted ones.
func IntegrationUseChecker(is *store.IntegrationStore) func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error {
	return func(ctx context.Context, orgID, versionID, integrationID uuid.UUID) error {
		in, err := is.Get(ctx, orgID, integrationID)
		if err != nil {
			return err
		}
		author, role, err := is.VersionAuthor(ctx, orgID, versionID)
		if err != nil {
			return err
		}
		p := authz.Principal{UserID: author, OrgID: orgID, Role: authz.Role(role)}
		if author == uuid.Nil || role == "" {
			if in.Use.Restricted {
				return fault.New(fault.Forbidden, "integration %q is restricted, and whoever saved this workflow version "+
					"is no longer a member of the organization; save the workflow again as someone who may use it", in.Name)
			}
			return nil
		}
		if authz.Authorize(p, authz.IntegrationsUse, authz.Integration(orgID, usePolicy(in))) != nil {
			return fault.New(fault.Forbidden, "integration %q may no longer be used by the member who saved this "+
				"workflow version; an admin can allow them, or someone allowed can save the workflow again", in.Name)
		}
		return nil
	}
}
