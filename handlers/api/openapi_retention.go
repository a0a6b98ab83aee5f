package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/handlers/api/retention"
)

const tagRetention = "Retention"

// retentionRouteDescriptions describes the routes of an organization's own execution retention
// (handlers/api/retention).
func retentionRouteDescriptions() map[string]apiRoute {
	const st403, st422 = http.StatusForbidden, http.StatusUnprocessableEntity
	return map[string]apiRoute{
		"GET /api/v1/settings/retention": {Tag: tagRetention, Summary: "Read how long executions are kept",
			Description: "The organization's own retention of succeeded and of failed (and canceled) executions in days, null where the instance default applies, beside those defaults (0: kept forever). For anyone who may see executions.",
			Responses:   append([]apiResponse{ok(retention.SettingsJSON{}, "The retention.")}, problems()...)},
		"PUT /api/v1/settings/retention": {Tag: tagRetention, Summary: "Set how long executions are kept",
			Description: "Days from 1 to 3650, or null for the instance default; longer or shorter than the default. Executions still queued, running or waiting are never pruned. Admins and owners; audited as organization.retention_changed.",
			Body:        retention.Input{},
			Responses:   append([]apiResponse{ok(retention.SettingsJSON{}, "The retention now.")}, problems(st403, st422)...)},
	}
}
