// Package sharing is a workflow's sharing page (/workflows/{id}/sharing): who holds a per-workflow grant (view <
// run < edit) and, for admins, owners and the workflow's creator, the forms to grant, change and withdraw them.
// It is an adapter over app.Workflows' Sharing, Share and Unshare, as the API's twin (handlers/api/sharing) is.
// It lives outside package pages so that package stays small; handlers.routes mounts it next to the pages.
//
// It may import httpx, app, views and platform/*; it imports no other surface and no sql/db.
package sharing

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/views"
)

// Handlers serves the sharing page over the shared kit.
type Handlers struct {
	*httpx.Kit
	App *app.App
}

// Routes registers the sharing page and its forms.
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.Page("GET /workflows/{id}/sharing", s.page)
	rt.Page("POST /workflows/{id}/sharing", s.share)
	rt.Page("POST /workflows/{id}/sharing/{userID}/revoke", s.revoke)
}

// page is GET /workflows/{id}/sharing.
func (s *Handlers) page(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.render(w, r, id, http.StatusOK, views.Form{})
}

// share is POST /workflows/{id}/sharing {user_id, permission}: grants a member access, or changes their grant.
func (s *Handlers) share(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	values := map[string]string{"user_id": strings.TrimSpace(r.PostFormValue("user_id")),
		"permission": r.PostFormValue("permission")}
	userID, err := uuid.Parse(values["user_id"])
	if err != nil {
		err = fault.Fields("choose a member", fault.FieldError{Field: "user_id", Message: "choose a member"})
	} else {
		err = s.App.Workflows.Share(r.Context(), s.Caller(r), id, userID, values["permission"])
	}
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid {
			s.PageError(w, r, err)
			return
		}
		s.render(w, r, id, http.StatusUnprocessableEntity, httpx.FormState(values, err))
		return
	}
	s.render(w, r, id, http.StatusOK, views.Form{Notice: "Sharing saved."})
}

// revoke is POST /workflows/{id}/sharing/{userID}/revoke: withdraws a member's grant.
func (s *Handlers) revoke(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	userID, err := httpx.PathID(r, "userID")
	if err == nil {
		err = s.App.Workflows.Unshare(r.Context(), s.Caller(r), id, userID)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.render(w, r, id, http.StatusOK, views.Form{Notice: "No longer shared with that member."})
}

func (s *Handlers) render(w http.ResponseWriter, r *http.Request, id uuid.UUID, status int, form views.Form) {
	sh, err := s.App.Workflows.Sharing(r.Context(), s.Caller(r), id)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.SharingPage{WorkflowID: sh.Workflow.ID.String(), WorkflowName: sh.Workflow.Name,
		CanShare: sh.CanShare, Form: form}
	for _, g := range sh.Grants {
		page.Grants = append(page.Grants, views.GrantRow{UserID: g.UserID.String(), Name: g.Name, Email: g.Email,
			Permission: string(g.Permission)})
	}
	for _, m := range sh.Candidates {
		page.Candidates = append(page.Candidates, views.Option{Value: m.UserID.String(),
			Label: m.Name + " <" + m.Email + "> (" + string(m.Role) + ")"})
	}
	s.Render(w, r, status, "Sharing of “"+sh.Workflow.Name+"”", views.Sharing(page))
}
