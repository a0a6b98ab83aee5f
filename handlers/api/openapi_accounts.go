package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
)

// The descriptions of the members, invitations and personal API token routes (api_members.go, api_tokens.go). As in
// openapi_routes.go, bodies are the very types those handlers decode and encode.

const (
	tagMembers = "Members"
	tagTokens  = "API tokens"
)

// memberRouteDescriptions describes the members, invitations and personal API token routes.
func memberRouteDescriptions() map[string]apiRoute {
	const st403, st404, st409, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
		http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	// once is a 201 whose body carries a secret shown in this answer only; nothing is addressable by a Location.
	once := func(body any, desc string) apiResponse {
		return apiResponse{Status: http.StatusCreated, Description: desc, Body: body}
	}
	userID := []apiParam{{Name: "userID", In: "path", Type: uuid.UUID{}, Description: "The member's user id."}}
	return map[string]apiRoute{
		"GET /api/v1/members": {Tag: tagMembers, Summary: "List members and pending invitations",
			Description: "Members most powerful first. Pending invitations are listed for those who may invite (admins and owners), and are empty for the others.",
			Responses:   with(ok(MemberListJSON{}, "Members and invitations."), st403)},
		"PUT /api/v1/members/{userID}": {Tag: tagMembers, Summary: "Change a member's role",
			Description: "Admins change non-owners; making someone owner, or changing an owner, takes an owner. The last owner cannot be demoted (409).",
			Params:      userID, Body: memberRoleInput{},
			Responses: with(ok(MemberJSON{}, "The member with the new role."), st403, st404, st409, st422)},
		"DELETE /api/v1/members/{userID}": {Tag: tagMembers, Summary: "Remove a member",
			Description: "Admins remove non-owners; removing an owner takes an owner. Removing oneself is leaving; the last owner cannot leave (409).",
			Params:      userID, Responses: with(noContent("Removed."), st403, st404, st409)},
		"POST /api/v1/invitations": {Tag: tagMembers, Summary: "Invite someone by e-mail",
			Description: "The link is in this answer only; it is also e-mailed when the server sends mail (mail_sent). It works once, within 7 days. Inviting an owner takes an owner.",
			Body:        app.Invitation{},
			Responses:   with(once(invitationCreatedJSON{}, "The invitation and its link."), st403, st422)},
		"DELETE /api/v1/invitations/{id}": {Tag: tagMembers, Summary: "Withdraw a pending invitation",
			Responses: with(noContent("Withdrawn: the link no longer works."), st403, st404)},

		"GET /api/v1/tokens": {Tag: tagTokens, Summary: "List the caller's personal API tokens",
			Description: "Name, prefix and dates, never the secret. Not with a personal token (403): a token cannot manage tokens.",
			Responses:   with(ok(APITokenListJSON{}, "The caller's tokens in this organization, live ones first."), st403)},
		"POST /api/v1/tokens": {Tag: tagTokens, Summary: "Create a personal API token",
			Description: "The secret is in this answer only; the server keeps its hash. expires_in_days is 30, 90, 365 or 0 (never). scopes is required: one or more of read, run, write, admin (each includes the ones before it). Not with a personal token (403).",
			Body:        apiTokenInput{},
			Responses:   with(once(APITokenCreatedJSON{}, "The token and its secret."), st403, st422)},
		"DELETE /api/v1/tokens/{id}": {Tag: tagTokens, Summary: "Revoke one of the caller's tokens",
			Description: "Anyone else's token is 404. Not with a personal token (403).",
			Responses:   with(noContent("Revoked: the token is refused from now on."), st403, st404)},
	}
}
