// Package integrations is the integrations page (/integrations): the list (kind, host, latest connection test;
// never the settings as JSON) and, for admins, a form per kind generated from the kind's fields
// (actions.IntegrationKinds, the same description the API serves as JSON Schema), a test button and deletion.
// Secret settings are typed into password inputs and never rendered back, not even after a failed submission.
//
// It may import httpx, app, views, engine and platform/*; it imports no other surface and no sql/db.
package integrations

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// Handlers serves the integrations page over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Routes registers the page and its forms.
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.Page("GET /integrations", s.page)
	rt.Page("POST /integrations", s.create)
	rt.Page("POST /integrations/{id}/test", s.test)
	rt.Page("POST /integrations/{id}/delete", s.delete)
}

// fieldPrefix names a kind's setting in the form ("settings.host"), apart from the integration's own fields.
const fieldPrefix = "settings."

// page is GET /integrations?kind=&q=: the list (searched by q), and the form for kind (the first kind by default).
func (s *Handlers) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.render(w, r, http.StatusOK, views.Form{Values: map[string]string{"kind": q.Get("kind"), "name": q.Get("name")}})
}

func (s *Handlers) render(w http.ResponseWriter, r *http.Request, status int, form views.Form) {
	c := s.Caller(r)
	query := strings.TrimSpace(r.URL.Query().Get("q"))
	items, err := s.App.Integrations.List(r.Context(), c, store.IntegrationFilter{Query: query})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	tests, err := s.App.Integrations.TestResults(r.Context(), c)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	kind, ok := actions.KindOf(form.Value("kind"))
	if !ok {
		kind = actions.IntegrationKinds()[0]
		if form.Values == nil {
			form.Values = map[string]string{}
		}
		form.Values["kind"] = kind.Kind
	}
	page := views.IntegrationsPage{Form: form, Kind: kindView(kind), Query: query,
		CanManage: httpx.Authorize(r, authz.IntegrationsManage, authz.Org(c.Principal.OrgID)) == nil}
	for _, k := range actions.IntegrationKinds() {
		page.Kinds = append(page.Kinds, views.Option{Value: k.Kind, Label: k.Label})
	}
	for _, it := range items {
		page.Items = append(page.Items, row(it, tests))
	}
	s.Render(w, r, status, "Integrations", views.Integrations(page))
}

func kindView(k actions.IntegrationKind) views.IntegrationKind {
	out := views.IntegrationKind{Kind: k.Kind, Label: k.Label}
	for _, f := range k.Fields {
		field := views.SettingField{Name: fieldPrefix + f.Name, Label: f.Label, Type: f.Type,
			Enum: f.Enum, Required: f.Required, Secret: f.Secret, Help: f.Help}
		if f.ShownWhen != nil {
			field.ShownWhen, field.ShownIn = fieldPrefix+f.ShownWhen.Field, f.ShownWhen.In
		}
		out.Fields = append(out.Fields, field)
	}
	return out
}

// row is one integration as the list shows it: its kind by name, the host its settings point at, and its latest
// connection test.
func row(it store.Integration, tests map[uuid.UUID]store.IntegrationTestResult) views.IntegrationRow {
	out := views.IntegrationRow{ID: it.ID.String(), Name: it.Name, Kind: it.Kind, Host: host(it),
		HasSecrets: it.HasSecrets, RateLimit: "none", Created: views.Stamp(it.CreatedAt)}
	if k, ok := actions.KindOf(it.Kind); ok {
		out.Kind = k.Label
	}
	if it.RateLimit > 0 {
		out.RateLimit = strconv.Itoa(it.RateLimit) + " per " + it.RateInterval.String()
	}
	if t, ok := tests[it.ID]; ok {
		out.TestedAt, out.TestOK, out.TestProblem = views.Stamp(t.At), t.Problem == "", t.Problem
	}
	return out
}

// host is where an integration connects: host[:port] of a mail or database server, the base URL's host of HTTP
// credentials; "" when its settings name none.
func host(it store.Integration) string {
	var cfg struct {
		Host    string `json:"host"`
		Port    int    `json:"port"`
		BaseURL string `json:"base_url"`
	}
	if json.Unmarshal(it.Config, &cfg) != nil {
		return ""
	}
	switch {
	case cfg.Host != "" && cfg.Port != 0:
		return cfg.Host + ":" + strconv.Itoa(cfg.Port)
	case cfg.Host != "":
		return cfg.Host
	case cfg.BaseURL != "":
		if u, err := url.Parse(cfg.BaseURL); err == nil {
			return u.Host
		}
	}
	return ""
}

// create is POST /integrations: name, kind and the kind's settings as "settings.<name>" fields.
func (s *Handlers) create(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err) // before reading the form
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	values := map[string]string{"name": r.PostFormValue("name"), "kind": r.PostFormValue("kind")}
	kind, ok := actions.KindOf(values["kind"])
	var err error
	if !ok {
		err = fault.Fields("choose a kind", fault.FieldError{Field: "kind", Message: "choose one of the kinds offered"})
	} else {
		var settings json.RawMessage
		if settings, err = settingsFrom(r, kind, values); err == nil {
			_, err = s.App.Integrations.Create(r.Context(), s.Caller(r), app.IntegrationInput{Name: values["name"],
				Kind: kind.Kind, Settings: settings})
		}
	}
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.PageError(w, r, err)
			return
		}
		s.render(w, r, http.StatusUnprocessableEntity, httpx.FormState(values, onFormFields(err, kind)))
		return
	}
	s.render(w, r, http.StatusOK, views.Form{Notice: "Integration added."})
}

// settingsFrom reads kind's settings from the form into the JSON object the integration stores; empty fields are
// left out (the kind's defaults apply). values gets the plain settings typed, to fill a failed form again; secret
// ones are never kept there.
func settingsFrom(r *http.Request, kind actions.IntegrationKind, values map[string]string) (json.RawMessage, error) {
	settings := map[string]any{}
	var bad []fault.FieldError
	for _, f := range kind.Fields {
		name := fieldPrefix + f.Name
		v := r.PostFormValue(name)
		if !f.Secret {
			values[name] = v
		}
		if f.Type != actions.FieldList {
			v = strings.TrimSpace(v)
		}
		if v == "" {
			continue
		}
		switch f.Type {
		case actions.FieldInteger:
			n, err := strconv.Atoi(v)
			if err != nil {
				bad = append(bad, fault.FieldError{Field: name, Message: "must be a whole number"})
			}
			settings[f.Name] = n
		case actions.FieldBoolean:
			settings[f.Name] = v == "true"
		case actions.FieldList:
			var items []string
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					items = append(items, line)
				}
			}
			settings[f.Name] = items
		default:
			settings[f.Name] = v
		}
	}
	if len(bad) > 0 {
		return nil, fault.Fields("some settings need attention", bad...)
	}
	b, err := json.Marshal(settings)
	return b, err
}

// onFormFields names each field error after the form's input: a kind's setting ("port", "settings.port") becomes
// "settings.port"; anything else about the settings is shown above the form.
func onFormFields(err error, kind actions.IntegrationKind) error {
	e := fault.As(err)
	if e.Code != fault.Invalid {
		return err
	}
	settings := map[string]bool{}
	for _, f := range kind.Fields {
		settings[f.Name] = true
	}
	var fields []fault.FieldError
	for _, f := range e.Fields {
		name := strings.TrimPrefix(f.Field, fieldPrefix)
		switch {
		case f.Field == "name" || f.Field == "kind":
			fields = append(fields, f)
		case settings[name]:
			fields = append(fields, fault.FieldError{Field: fieldPrefix + name, Message: f.Message})
		default:
			return fault.New(fault.Invalid, "%s: %s %s", e.Message, f.Field, f.Message)
		}
	}
	return fault.Fields(e.Message, fields...)
}

// test is POST /integrations/{id}/test: the result as a fragment (or the page without JavaScript).
func (s *Handlers) test(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var test app.ConnectionTest
	if err == nil {
		test, err = s.App.Integrations.Test(r.Context(), s.Caller(r), id)
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
	s.render(w, r, http.StatusOK, form)
}

// delete is POST /integrations/{id}/delete.
func (s *Handlers) delete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var deleted store.Integration
	if err == nil {
		deleted, err = s.App.Integrations.Delete(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.Form{Notice: deleted.Name + " deleted."})
}
