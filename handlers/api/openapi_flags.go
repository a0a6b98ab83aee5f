package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
)

const tagAdmin = "Administration"

// flagRouteDescriptions describes the feature-flag administration routes (flags.go), open to instance
// administrators only.
func flagRouteDescriptions() map[string]apiRoute {
	name := apiParam{Name: "name", In: "path", Type: "", Description: "The flag's name, as the code defines it (node.trigger.error)."}
	org := apiParam{Name: "id", In: "path", Type: pathParamDefaults["id"].Type, Description: "The organization's id."}
	const st403, st404, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	return map[string]apiRoute{
		"GET /api/v1/admin/flags": {Tag: tagAdmin, Summary: "Every feature flag (instance administrators)",
			Description: "Each flag the code defines: its type, defaults per mode, owner and expiry, the instance value and rollout set, every organization's override, and how many subjects saw each variant.",
			Responses:   with(ok(flagList{}, "The flags."), st403)},
		"PUT /api/v1/admin/flags/{name}": {Tag: tagAdmin, Summary: "Set a flag's instance value and rollout (instance administrators)",
			Description: "value null returns to the default. rollout gives shares of the subjects, by a stable hash of the organization's (or user's) id, values; shares sum to at most 100. reason is required and audited. Every process sees the change within seconds.",
			Params:      []apiParam{name}, Body: app.FlagInput{},
			Responses: with(ok(app.FlagView{}, "The flag as it now stands."), st403, st404, st422)},
		"PUT /api/v1/admin/flags/{name}/overrides/{id}": {Tag: tagAdmin, Summary: "Set or remove an organization's override (instance administrators)",
			Description: "The override beats the rollout and the instance value for that organization; value null removes it. reason is required and audited.",
			Params:      []apiParam{name, org}, Body: app.FlagOverrideInput{},
			Responses: with(ok(app.FlagView{}, "The flag as it now stands."), st403, st404, st422)},
	}
}
