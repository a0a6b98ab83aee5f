// Package sharing is the API of a workflow's per-workflow grants (GET, PUT and DELETE under
// /api/v1/workflows/{id}/sharing): an adapter over app.Workflows' Sharing, Share and Unshare, as the sharing page
// (handlers/pages/sharing) is. Package api registers and describes these routes; the handlers live here so that
// package api stays small.
//
// It may import httpx, app and sql/store; it imports no surface.
package sharing

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// GrantJSON is one member's grant on a workflow.
type GrantJSON struct {
	UserID     uuid.UUID `json:"user_id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Permission string    `json:"permission" validate:"oneof=view run edit"` // the tag documents
}

// ListJSON is the answer of GET /api/v1/workflows/{id}/sharing. CanShare says whether the caller may change the
// grants.
type ListJSON struct {
	Items    []GrantJSON `json:"items"`
	CanShare bool        `json:"can_share"`
}

// GrantInput is the body of PUT /api/v1/workflows/{id}/sharing/{userID}.
type GrantInput struct {
	Permission string `json:"permission" validate:"required,oneof=view run edit"` // the tag documents; app validates
}

// Handlers serves the sharing routes over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

func grantJSON(g store.WorkflowGrantee) GrantJSON {
	return GrantJSON{UserID: g.UserID, Email: g.Email, Name: g.Name, Permission: string(g.Permission)}
}

// List is GET /api/v1/workflows/{id}/sharing: the grants on a workflow, for anyone who may see it.
func (s *Handlers) List(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	sh, err := s.App.Workflows.Sharing(r.Context(), s.Caller(r), id)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := ListJSON{Items: make([]GrantJSON, 0, len(sh.Grants)), CanShare: sh.CanShare}
	for _, g := range sh.Grants {
		out.Items = append(out.Items, grantJSON(g))
	}
	httpx.Respond(w, http.StatusOK, out)
}

// Put is PUT /api/v1/workflows/{id}/sharing/{userID} {permission}: grants a member view, run or edit, or changes
// their grant, and answers with the grant.
func (s *Handlers) Put(w http.ResponseWriter, r *http.Request) {
	id, userID, err := ids(r)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in GrantInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	if err := s.App.Workflows.Share(r.Context(), s.Caller(r), id, userID, in.Permission); err != nil {
		s.Problem(w, r, err)
		return
	}
	sh, err := s.App.Workflows.Sharing(r.Context(), s.Caller(r), id)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	for _, g := range sh.Grants {
		if g.UserID == userID {
			httpx.Respond(w, http.StatusOK, grantJSON(g))
			return
		}
	}
	// Granted, then removed from the organization in between: the grant is inert, as if it did not exist.
	s.Problem(w, r, fault.New(fault.NotFound, "member not found"))
}

// Delete is DELETE /api/v1/workflows/{id}/sharing/{userID}: withdraws a member's grant.
func (s *Handlers) Delete(w http.ResponseWriter, r *http.Request) {
	id, userID, err := ids(r)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if err := s.App.Workflows.Unshare(r.Context(), s.Caller(r), id, userID); err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func ids(r *http.Request) (workflow, user uuid.UUID, err error) {
	if workflow, err = httpx.PathID(r, "id"); err != nil {
		return
	}
	user, err = httpx.PathID(r, "userID")
	return
}
