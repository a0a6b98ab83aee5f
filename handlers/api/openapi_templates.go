package api

import (
	"net/http"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/api/workflowtemplates"
)

// templateRouteDescriptions describes the workflow template routes (handlers/api/workflowtemplates).
func templateRouteDescriptions() map[string]apiRoute {
	const st403, st422 = http.StatusForbidden, http.StatusUnprocessableEntity
	return map[string]apiRoute{
		"GET /api/v1/workflow-templates": {Tag: tagWorkflows, Summary: "List the workflow templates",
			Description: "The templates shipped with ConcertMaster that the caller's organization can use (one whose node type a feature flag switches off is left out): the trigger choices (category start) first, then the gallery. Each names its placeholders: an integration of a kind, or a form, that the creator picks.",
			Responses:   append([]apiResponse{ok(workflowtemplates.ListJSON{}, "The templates.")}, problems(st403)...)},
		"POST /api/v1/workflows/from-template": {Tag: tagWorkflows, Summary: "Create a workflow from a template",
			Description: "Creates an inactive workflow from the template named template, named after it unless name is given. placeholders maps each placeholder's key to the id of an integration of its kind, or of a form, of the caller's organization; a missing or wrong pick gets 422 naming placeholders.<key>. The definition is then checked as any save.",
			Body:        app.TemplateInput{},
			Responses:   append([]apiResponse{created(WorkflowJSON{}, "The new workflow.")}, problems(st403, st422)...)},
	}
}
