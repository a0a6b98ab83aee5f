package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/handlers/api/sharing"
)

const tagSharing = "Sharing"

// sharingRouteDescriptions describes the routes of a workflow's per-workflow grants (handlers/api/sharing).
func sharingRouteDescriptions() map[string]apiRoute {
	const st403, st404, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	userID := []apiParam{{Name: "userID", In: "path", Type: uuid.UUID{}, Description: "The member's user id."}}
	return map[string]apiRoute{
		"GET /api/v1/workflows/{id}/sharing": {Tag: tagSharing, Summary: "List who a workflow is shared with",
			Description: "Each member's grant (view < run < edit), by name, for anyone who may see the workflow. A grant widens a member's or viewer's access to this one workflow; can_share says whether the caller may change them.",
			Responses:   with(ok(sharing.ListJSON{}, "The grants."), st404)},
		"PUT /api/v1/workflows/{id}/sharing/{userID}": {Tag: tagSharing, Summary: "Share a workflow with a member",
			Description: "Grants view, run or edit, or changes the grant the member holds. Takes admins, owners or the workflow's creator; audited as workflow.grant_changed.",
			Params:      userID, Body: sharing.GrantInput{},
			Responses: with(ok(sharing.GrantJSON{}, "The member's grant."), st403, st404, st422)},
		"DELETE /api/v1/workflows/{id}/sharing/{userID}": {Tag: tagSharing, Summary: "Stop sharing a workflow with a member",
			Description: "Withdraws the member's grant (404 when they hold none); their role alone decides again. Audited.",
			Params:      userID, Responses: with(noContent("Withdrawn."), st403, st404)},
	}
}
