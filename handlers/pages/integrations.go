package pages

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// integrationKinds are the kinds the page offers, with example settings and the settings that are secrets. Settings
// are typed as JSON on purpose: one form serves every kind, and the examples show each kind's fields (the canvas
// editor will bring per-kind forms generated from the same definitions).
func integrationKinds() []views.IntegrationKind {
	kinds := []views.IntegrationKind{
		{Kind: actions.KindSMTP, Example: `{"host":"smtp.example.com","port":587,"tls":"starttls","username":"bot","password":"…","from":"Bot <bot@example.com>"}`},
		{Kind: actions.KindHTTP, Example: `{"auth":"bearer","token":"…","base_url":"https://api.example.com","test_url":"https://api.example.com/health"}`},
		{Kind: actions.KindPostgres, Example: `{"host":"db.example.com","port":5432,"database":"app","user":"reader","password":"…"}`},
	}
	for i := range kinds {
		kinds[i].SecretFields = actions.SecretFields(kinds[i].Kind)
	}
	return kinds
}

// integrationsPage is GET /integrations?q=.
func (s *Handlers) integrationsPage(w http.ResponseWriter, r *http.Request) {
	s.renderIntegrations(w, r, http.StatusOK, views.Form{})
}

func (s *Handlers) renderIntegrations(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	query := strings.TrimSpace(r.URL.Query().Get("q"))
	items, err := s.deps.App.Integrations.List(r.Context(), s.Caller(r), store.IntegrationFilter{Query: query})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.IntegrationsPage{Form: form, Kinds: integrationKinds(), Query: query,
		CanManage: httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)) == nil}
	for _, it := range items {
		row := views.IntegrationRow{ID: it.ID.String(), Name: it.Name, Kind: it.Kind, Settings: string(it.Config),
			HasSecrets: it.HasSecrets, RateLimit: "none", Created: views.Stamp(it.CreatedAt)}
		if it.RateLimit > 0 {
			row.RateLimit = strconv.Itoa(it.RateLimit) + " per " + it.RateInterval.String()
		}
		page.Items = append(page.Items, row)
	}
	s.Render(w, r, status, "Integrations", views.Integrations(page))
}

// createIntegration is POST /integrations: the form's fields, settings as a JSON object.
func (s *Handlers) createIntegration(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err) // before reading the form
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	// Only the name and kind are typed back into a failed form: the settings may hold a password.
	values := map[string]string{"name": r.PostFormValue("name"), "kind": r.PostFormValue("kind")}
	_, err := s.deps.App.Integrations.Create(r.Context(), s.Caller(r), app.IntegrationInput{Name: values["name"],
		Kind: values["kind"], Settings: json.RawMessage(r.PostFormValue("settings"))})
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.PageError(w, r, err)
			return
		}
		s.renderIntegrations(w, r, http.StatusUnprocessableEntity, httpx.FormState(values, settingsFieldErrors(err)))
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

// testIntegrationPage is POST /integrations/{id}/test: the result as a fragment (or the page without JavaScript).
func (s *Handlers) testIntegrationPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var test app.ConnectionTest
	if err == nil {
		test, err = s.deps.App.Integrations.Test(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	if httpx.IsFragmentRequest(r) {
		s.Render(w, r, http.StatusOK, "Integrations",
			views.IntegrationTest(views.IntegrationTestResult{OK: test.Problem == "", Error: test.Problem}))
		return
	}
	form := views.Form{Notice: test.Integration.Name + ": connected."}
	if test.Problem != "" {
		form = views.Form{Error: test.Integration.Name + ": " + test.Problem}
	}
	s.renderIntegrations(w, r, http.StatusOK, form)
}

// deleteIntegrationPage is POST /integrations/{id}/delete.
func (s *Handlers) deleteIntegrationPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var deleted store.Integration
	if err == nil {
		deleted, err = s.deps.App.Integrations.Delete(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderIntegrations(w, r, http.StatusOK, views.Form{Notice: deleted.Name + " deleted."})
}
