package api

// integrationKindRouteDescriptions describes the catalogue of integration kinds (integrations.go).
func integrationKindRouteDescriptions() map[string]apiRoute {
	return map[string]apiRoute{
		"GET /api/v1/integration-kinds": {Tag: tagIntegrations, Summary: "List the kinds of integration and their settings",
			Description: "Each kind's settings in form order (label, type, choices, required, secret, help) and as a JSON Schema object whose secret properties are writeOnly: they are accepted by POST /api/v1/integrations and never returned.",
			Responses:   []apiResponse{ok(integrationKindList{}, "The kinds.")}},
	}
}
