package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
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

// flagsPage is GET /admin/flags: every feature flag with its defaults, setting, overrides and exposures, and the
// forms that change them (instance administrators; the twin of GET /api/v1/admin/flags).
func (s *Handlers) flagsPage(w http.ResponseWriter, r *http.Request) {
	s.renderFlags(w, r, http.StatusOK, views.FlagsAdminPage{})
}

func (s *Handlers) renderFlags(w http.ResponseWriter, r *http.Request, status int, page views.FlagsAdminPage) {
	list, err := s.deps.App.FeatureFlags.List(r.Context(), s.Caller(r))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, f := range list {
		page.Flags = append(page.Flags, flagRow(f))
	}
	page.Mode = string(s.deps.App.FeatureFlags.Mode())
	s.Render(w, r, status, "Feature flags", views.FlagsAdmin(page))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func flagRow(f app.FlagView) views.FlagRow {
	row := views.FlagRow{Name: f.Name, Description: f.Description, Type: string(f.Type), Owner: f.Owner, Expires: f.Expires,
		DevDefault: jsonText(f.Defaults["development"]), ProdDefault: jsonText(f.Defaults["production"]),
		Default: jsonText(f.Default), Value: string(f.Value), RolloutBy: f.RolloutBy, Reason: f.Reason}
	if f.UpdatedAt != nil {
		row.UpdatedAt = views.Stamp(*f.UpdatedAt)
	}
	var shares []string
	for _, b := range f.Rollout {
		shares = append(shares, fmt.Sprintf("%d%% %s", b.Percent, b.Value))
	}
	row.Rollout = strings.Join(shares, ", ")
	if f.Type == "boolean" {
		row.Choices = []string{"true", "false"}
	}
	for _, v := range f.Variants {
		row.Choices = append(row.Choices, jsonText(v))
	}
	for _, o := range f.Overrides {
		row.Overrides = append(row.Overrides, views.FlagOverrideRow{OrgID: o.OrganizationID.String(), OrgName: o.OrganizationName,
			Value: string(o.Value), UpdatedAt: views.Stamp(o.UpdatedAt), Reason: o.Reason})
	}
	for _, e := range f.Exposures {
		row.Exposures = append(row.Exposures, views.FlagExposureRow{Variant: e.Variant, Subjects: e.Subjects, Since: views.Stamp(e.FirstSeenAt)})
	}
	return row
}

// flagForm authorizes an instance administrator, then parses the form.
func (s *Handlers) flagForm(w http.ResponseWriter, r *http.Request) bool {
	err := httpx.Authorize(r, authz.FlagsAdmin, authz.Instance)
	if err == nil {
		err = httpx.ParseForm(w, r)
	}
	if err != nil {
		s.PageError(w, r, err)
		return false
	}
	return true
}

// formValue is a choice of the page's selects (a JSON text) as a value; "" is none.
func formValue(v string) json.RawMessage {
	if v == "" {
		return nil
	}
	return json.RawMessage(v)
}

// setFlag is POST /admin/flags/{name}: the instance value and a one-share rollout.
func (s *Handlers) setFlag(w http.ResponseWriter, r *http.Request) {
	if !s.flagForm(w, r) {
		return
	}
	name := r.PathValue("name")
	in := app.FlagInput{Value: formValue(r.PostFormValue("value")), RolloutBy: r.PostFormValue("rollout_by"),
		Reason: r.PostFormValue("reason")}
	percent, perr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("rollout_percent")))
	var err error
	switch {
	case perr != nil && r.PostFormValue("rollout_percent") != "":
		err = fault.Fields("the flag's setting is not valid", fault.FieldError{Field: "rollout_percent", Message: "must be a whole number from 0 to 100"})
	case percent != 0:
		in.Rollout = []store.RolloutBucket{{Value: formValue(r.PostFormValue("rollout_value")), Percent: percent}}
	}
	if err == nil {
		_, err = s.deps.App.FeatureFlags.Set(r.Context(), s.Caller(r), name, in)
	}
	s.afterFlagChange(w, r, name, err)
}

// setFlagOverride is POST /admin/flags/{name}/overrides: set or remove one organization's value.
func (s *Handlers) setFlagOverride(w http.ResponseWriter, r *http.Request) {
	if !s.flagForm(w, r) {
		return
	}
	name := r.PathValue("name")
	orgID, err := uuid.Parse(strings.TrimSpace(r.PostFormValue("organization_id")))
	if err != nil {
		err = fault.Fields("the override is not valid", fault.FieldError{Field: "organization_id", Message: "must be an organization's id"})
	} else {
		_, err = s.deps.App.FeatureFlags.SetOverride(r.Context(), s.Caller(r), name, orgID,
			app.FlagOverrideInput{Value: formValue(r.PostFormValue("value")), Reason: r.PostFormValue("reason")})
	}
	s.afterFlagChange(w, r, name, err)
}

func (s *Handlers) afterFlagChange(w http.ResponseWriter, r *http.Request, name string, err error) {
	if code := fault.CodeOf(err); code == fault.Invalid || (code == fault.NotFound && r.PostFormValue("organization_id") != "") {
		s.renderFlags(w, r, s.FormStatus(w, r, err), views.FlagsAdminPage{FormFlag: name, Form: httpx.FormState(nil, err)})
		return
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderFlags(w, r, http.StatusOK, views.FlagsAdminPage{Saved: name})
}
