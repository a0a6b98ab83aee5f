package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The members and invitations API: an adapter over app.Members, as the members page (members.go) is.

// MemberJSON is one member of the organization.
type MemberJSON struct {
	UserID      uuid.UUID  `json:"user_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	JoinedAt    time.Time  `json:"joined_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

func memberFrom(m store.Member) MemberJSON {
	return MemberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), JoinedAt: m.JoinedAt,
		LastLoginAt: m.LastLoginAt}
}

// invitationJSON is one pending invitation; its link is never shown again after it was created.
type invitationJSON struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

func invitationFrom(inv store.Invitation) invitationJSON {
	return invitationJSON{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), InvitedBy: inv.InvitedByName,
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt}
}

// MemberListJSON is the answer of GET /api/v1/members. Invitations is empty for callers who may not invite, as the
// page does not show them either.
type MemberListJSON struct {
	Members     []MemberJSON     `json:"members"`
	Invitations []invitationJSON `json:"invitations"`
}

// invitationCreatedJSON is the answer of POST /api/v1/invitations: the link is in this answer only (the database
// keeps its hash); MailSent says whether an e-mail carrying it was queued.
type invitationCreatedJSON struct {
	invitationJSON
	Link     string `json:"link"`
	MailSent bool   `json:"mail_sent"`
}

// memberRoleInput is the body of PUT /api/v1/members/{userID}.
type memberRoleInput struct {
	Role string `json:"role" validate:"required,oneof=owner admin member viewer"` // the tag documents; app validates
}

// apiMemberList is GET /api/v1/members: the members, most powerful first, and the pending invitations.
func (s *Handlers) apiMemberList(w http.ResponseWriter, r *http.Request) {
	list, err := s.deps.App.Members.List(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := MemberListJSON{Members: make([]MemberJSON, 0, len(list.Members)), Invitations: []invitationJSON{}}
	for _, m := range list.Members {
		out.Members = append(out.Members, memberFrom(m))
	}
	for _, inv := range list.Invitations {
		out.Invitations = append(out.Invitations, invitationFrom(inv))
	}
	httpx.Respond(w, http.StatusOK, out)
}

// apiInvitationCreate is POST /api/v1/invitations {email, role}: an invitation link, answered once and e-mailed when
// a mailer is configured. Inviting an owner takes an owner in a browser session that re-entered its password, so
// over the API it is always refused.
func (s *Handlers) apiInvitationCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.MembersInvite, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err) // before reading the body, as every API route
		return
	}
	var in app.Invitation
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	invited, err := s.deps.App.Members.Invite(r.Context(), s.Caller(r), in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.Respond(w, http.StatusCreated, invitationCreatedJSON{invitationJSON: invitationFrom(invited.Invitation),
		Link: invited.Link, MailSent: invited.MailSent})
}

// apiInvitationRevoke is DELETE /api/v1/invitations/{id}: withdraws a pending invitation.
func (s *Handlers) apiInvitationRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Members.RevokeInvitation(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMemberChangeRole is PUT /api/v1/members/{userID} {role}: see app.Members.ChangeRole for who may do what.
// Making someone owner is always refused here: it takes a browser session that re-entered its password.
func (s *Handlers) apiMemberChangeRole(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.MembersManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	userID, err := httpx.MemberID(r)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	var in memberRoleInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	member, err := s.deps.App.Members.ChangeRole(r.Context(), s.Caller(r), userID, in.Role)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, memberFrom(member))
}

// apiMemberRemove is DELETE /api/v1/members/{userID}. As on the page, it takes MembersManage; removing oneself is
// leaving the organization, and the store refuses to remove the last owner (409).
func (s *Handlers) apiMemberRemove(w http.ResponseWriter, r *http.Request) {
	userID, err := httpx.MemberID(r)
	if err == nil {
		_, _, err = s.deps.App.Members.Remove(r.Context(), s.Caller(r), userID)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
