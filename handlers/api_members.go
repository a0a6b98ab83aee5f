package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/handlers/auth"
	"github.com/concertmaster/concertmaster/handlers/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The members and invitations API: the twin of the members page (members.go), with the same authorization and the
// same store calls. The store enforces the rule about owners itself (an organization keeps one); who may touch an
// owner is checked here as on the page.

// memberJSON is one member of the organization.
type memberJSON struct {
	UserID      uuid.UUID  `json:"user_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	JoinedAt    time.Time  `json:"joined_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

func memberFrom(m store.Member) memberJSON {
	return memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: string(m.Role), JoinedAt: m.JoinedAt,
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

// memberListJSON is the answer of GET /api/v1/members. Invitations is empty for callers who may not invite, as the
// page does not show them either.
type memberListJSON struct {
	Members     []memberJSON     `json:"members"`
	Invitations []invitationJSON `json:"invitations"`
}

// invitationInput is the body of POST /api/v1/invitations.
type invitationInput struct {
	Email string `json:"email" validate:"required,email,max=254"`
	Role  string `json:"role" validate:"required,oneof=owner admin member viewer"`
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
	Role string `json:"role" validate:"required,oneof=owner admin member viewer"`
}

// apiMemberList is GET /api/v1/members: the members, most powerful first, and the pending invitations.
func (s *Server) apiMemberList(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	members, err := s.deps.Store.MemberList(r.Context(), p.OrgID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	out := memberListJSON{Members: make([]memberJSON, 0, len(members)), Invitations: []invitationJSON{}}
	for _, m := range members {
		out.Members = append(out.Members, memberFrom(m))
	}
	if authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)) == nil {
		invs, err := s.deps.Store.InvitationList(r.Context(), p.OrgID)
		if err != nil {
			s.problem(w, r, err)
			return
		}
		for _, inv := range invs {
			out.Invitations = append(out.Invitations, invitationFrom(inv))
		}
	}
	respond(w, http.StatusOK, out)
}

// apiInvitationCreate is POST /api/v1/invitations {email, role}: an invitation link, answered once and e-mailed when
// a mailer is configured. Inviting an owner takes an owner in a browser session that re-entered its password, so
// over the API it is always refused.
func (s *Server) apiInvitationCreate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	var in invitationInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	in.Email = strings.TrimSpace(in.Email)
	if err := validate.Struct(in); err != nil {
		s.problem(w, r, err)
		return
	}
	if in.Role == string(store.RoleOwner) {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.problem(w, r, err)
			return
		}
		// Never true of an API caller: inviting an owner is done in the browser (RequireFreshPassword).
		if err := authz.RequireFreshPassword(p, "invite an owner"); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	inv, err := s.deps.Store.InvitationCreate(r.Context(), store.NewInvitation{
		OrganizationID: p.OrgID, Email: in.Email, Role: store.Role(in.Role), TokenHash: hash, InvitedBy: p.UserID,
		ExpiresAt: time.Now().Add(invitationLifetime),
	}, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	id := identityFrom(r.Context())
	if inv.InvitedByName == "" {
		inv.InvitedByName = id.user.Name
	}
	link, sent := s.sendInvitation(r, inv.Email, in.Role, token)
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusCreated, invitationCreatedJSON{invitationJSON: invitationFrom(inv), Link: link, MailSent: sent})
}

// apiInvitationRevoke is DELETE /api/v1/invitations/{id}: withdraws a pending invitation.
func (s *Server) apiInvitationRevoke(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err == nil {
		err = s.deps.Store.InvitationRevoke(r.Context(), p.OrgID, id, s.actor(r))
	}
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMemberChangeRole is PUT /api/v1/members/{userID} {role}. Admins manage non-owners; changing an owner takes an
// owner; making someone owner is refused (it takes a browser session that re-entered its password); the store
// refuses to demote the last owner (409).
func (s *Server) apiMemberChangeRole(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	userID, current, err := s.memberTarget(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	var in memberRoleInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	if err := validate.Struct(in); err != nil {
		s.problem(w, r, err)
		return
	}
	role := store.Role(in.Role)
	if current == store.RoleOwner || role == store.RoleOwner {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	// Never true of an API caller: making someone owner is done in the browser (RequireFreshPassword).
	if role == store.RoleOwner && current != store.RoleOwner {
		if err := authz.RequireFreshPassword(p, "make someone owner"); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	if _, err := s.deps.Store.MemberChangeRole(r.Context(), p.OrgID, userID, role, s.actor(r)); err != nil {
		s.problem(w, r, err)
		return
	}
	members, err := s.deps.Store.MemberList(r.Context(), p.OrgID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	for _, m := range members {
		if m.UserID == userID {
			respond(w, http.StatusOK, memberFrom(m))
			return
		}
	}
	s.problem(w, r, fault.New(fault.NotFound, "no such member"))
}

// apiMemberRemove is DELETE /api/v1/members/{userID}. As on the page, it takes MembersManage; removing oneself is
// leaving the organization, and the store refuses to remove the last owner (409).
func (s *Server) apiMemberRemove(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	userID, current, err := s.memberTarget(r)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if current == store.RoleOwner && userID != p.UserID {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	if _, err := s.deps.Store.MemberRemove(r.Context(), p.OrgID, userID, s.actor(r)); err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
