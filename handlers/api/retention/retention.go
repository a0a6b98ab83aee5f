// Package retention is the API of an organization's own execution retention (GET and PUT
// /api/v1/settings/retention): an adapter over app.Retention. Package api registers and describes these routes; the
// handlers live here so that package api stays small.
//
// It may import httpx and app; it imports no surface.
package retention

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// SettingsJSON is an organization's retention: its own days (null keeps the instance default) and the instance's
// defaults (0: kept forever).
type SettingsJSON struct {
	SucceededDays        *int `json:"succeeded_days"`
	FailedDays           *int `json:"failed_days"`
	DefaultSucceededDays int  `json:"default_succeeded_days"`
	DefaultFailedDays    int  `json:"default_failed_days"`
}

// Input is the body of PUT /api/v1/settings/retention: days from 1 to 3650, or null for the instance default.
type Input struct {
	SucceededDays *int `json:"succeeded_days" validate:"omitempty,min=1,max=3650"` // the tag documents; app validates
	FailedDays    *int `json:"failed_days" validate:"omitempty,min=1,max=3650"`
}

// Handlers serves the retention routes over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

func settingsJSON(s app.RetentionSettings) SettingsJSON {
	return SettingsJSON{SucceededDays: s.SucceededDays, FailedDays: s.FailedDays,
		DefaultSucceededDays: s.DefaultSucceededDays, DefaultFailedDays: s.DefaultFailedDays}
}

// Get is GET /api/v1/settings/retention.
func (h *Handlers) Get(w http.ResponseWriter, r *http.Request) {
	s, err := h.App.Retention.Get(r.Context(), h.Caller(r))
	if err != nil {
		h.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, settingsJSON(s))
}

// Put is PUT /api/v1/settings/retention {succeeded_days, failed_days}: admins and owners; audited.
func (h *Handlers) Put(w http.ResponseWriter, r *http.Request) {
	var in Input
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		h.Problem(w, r, err)
		return
	}
	s, err := h.App.Retention.Set(r.Context(), h.Caller(r), in.SucceededDays, in.FailedDays)
	if err != nil {
		h.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, settingsJSON(s))
}
