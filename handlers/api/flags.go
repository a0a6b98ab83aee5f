package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// flagList is the answer of GET /api/v1/admin/flags.
type flagList struct {
	Items []app.FlagView `json:"items"`
}

// apiFlagList is GET /api/v1/admin/flags: every feature flag with its defaults, setting, overrides and exposures
// (instance administrators).
func (s *Handlers) apiFlagList(w http.ResponseWriter, r *http.Request) {
	items, err := s.deps.App.FeatureFlags.List(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, flagList{Items: items})
}

// flagBody authorizes an instance administrator, then decodes the body: nobody else learns anything from its errors.
func (s *Handlers) flagBody(w http.ResponseWriter, r *http.Request, in any) bool {
	err := httpx.Authorize(r, authz.FlagsAdmin, authz.Instance)
	if err == nil {
		err = httpx.DecodeJSON(w, r, in)
	}
	if err != nil {
		s.Problem(w, r, err)
		return false
	}
	return true
}

// apiFlagSet is PUT /api/v1/admin/flags/{name}: a flag's instance value and rollout, audited with the reason.
func (s *Handlers) apiFlagSet(w http.ResponseWriter, r *http.Request) {
	var in app.FlagInput
	if !s.flagBody(w, r, &in) {
		return
	}
	out, err := s.deps.App.FeatureFlags.Set(r.Context(), s.Caller(r), r.PathValue("name"), in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, out)
}

// apiFlagOverride is PUT /api/v1/admin/flags/{name}/overrides/{id}: one organization's own value of a flag (a
// null value removes it), audited with the reason.
func (s *Handlers) apiFlagOverride(w http.ResponseWriter, r *http.Request) {
	var in app.FlagOverrideInput
	if !s.flagBody(w, r, &in) {
		return
	}
	orgID, err := httpx.PathID(r, "id")
	var out app.FlagView
	if err == nil {
		out, err = s.deps.App.FeatureFlags.SetOverride(r.Context(), s.Caller(r), r.PathValue("name"), orgID, in)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, out)
}
