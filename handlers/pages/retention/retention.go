// Package retention is the retention settings page (/settings/retention): how long the organization's succeeded
// and failed executions are kept, each its own number of days or the instance's default. An adapter over
// app.Retention (the same use case as GET and PUT /api/v1/settings/retention), which validates, naming the field,
// and audits (organization.retention_changed). Owners and admins only: the page shows nothing to anyone else.
//
// It may import httpx, app, views and platform/*; it imports no other surface and no sql/db.
package retention

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/views"
)

// Handlers serves the retention page over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Routes registers the page and its form.
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.Page("GET /settings/retention", s.page)
	rt.Page("POST /settings/retention", s.save)
}

// fields are the form's fields, named as the API names them so that an error names the same field on both.
var fields = []string{"succeeded_days", "failed_days"}

// page is GET /settings/retention: the form with the organization's days (empty: the instance default).
func (s *Handlers) page(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		s.PageError(w, r, err)
		return
	}
	settings, err := s.App.Retention.Get(r.Context(), s.Caller(r))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, settings, views.Form{Values: values(settings)})
}

// save is POST /settings/retention {succeeded_days, failed_days}: a whole number of days from 1 to 3650 each, or
// empty for the instance default. The page again, with the saved values or each field's message.
func (s *Handlers) save(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	form := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	days := make([]*int, len(fields))
	for i, name := range fields {
		text := strings.TrimSpace(r.PostForm.Get(name))
		form.Values[name] = text
		if text == "" {
			continue
		}
		n, err := strconv.Atoi(text)
		if err != nil || len(text) > 5 {
			form.Errors[name] = "Must be a whole number of days from 1 to 3650, or empty for the instance default"
			continue
		}
		days[i] = &n
	}
	if len(form.Errors) > 0 {
		s.renderError(w, r, form, fault.New(fault.Invalid, "retention is not valid"))
		return
	}
	settings, err := s.App.Retention.Set(r.Context(), s.Caller(r), days[0], days[1])
	if err != nil {
		s.renderError(w, r, form, err)
		return
	}
	s.render(w, r, http.StatusOK, settings, views.Form{Values: values(settings), Notice: "Retention saved."})
}

// authorize lets owners and admins in (retention.manage), before anything is read.
func (s *Handlers) authorize(r *http.Request) error {
	c := s.Caller(r)
	return httpx.Authorize(r, authz.RetentionManage, authz.Org(c.Principal.OrgID))
}

// renderError shows the form again with err: each field's message beside its field, the rest above the form.
func (s *Handlers) renderError(w http.ResponseWriter, r *http.Request, form views.Form, err error) {
	f := fault.As(err)
	if f.Code != fault.Invalid {
		s.PageError(w, r, err)
		return
	}
	for _, fe := range f.Fields {
		form.Errors[fe.Field] = httpx.Capitalize(fe.Message)
	}
	form.Error = httpx.Capitalize(f.Message)
	settings, getErr := s.App.Retention.Get(r.Context(), s.Caller(r))
	if getErr != nil {
		s.PageError(w, r, getErr)
		return
	}
	s.render(w, r, s.FormStatus(w, r, err), settings, form)
}

func (s *Handlers) render(w http.ResponseWriter, r *http.Request, status int, settings app.RetentionSettings, form views.Form) {
	s.Render(w, r, status, "Retention", views.Retention(views.RetentionPage{Form: form,
		DefaultSucceeded: defaultText(settings.DefaultSucceededDays),
		DefaultFailed:    defaultText(settings.DefaultFailedDays)}))
}

// values are the form's values of saved settings: the days, or empty for the default.
func values(s app.RetentionSettings) map[string]string {
	out := map[string]string{}
	for i, d := range []*int{s.SucceededDays, s.FailedDays} {
		if d != nil {
			out[fields[i]] = strconv.Itoa(*d)
		}
	}
	return out
}

// defaultText names an instance default: its days, or that executions are kept forever (0).
func defaultText(days int) string {
	if days <= 0 {
		return "kept forever"
	}
	if days == 1 {
		return "1 day"
	}
	return strconv.Itoa(days) + " days"
}
