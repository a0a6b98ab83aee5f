package pages

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// grantableRoles are the roles the principal may give: owners may make owners, admins only the others.
func grantableRoles(p authz.Principal) []string {
	if authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)) == nil {
		return views.Roles
	}
	return views.Roles[1:]
}

// membersView builds the members page for the request's principal; page carries the messages and forms to show.
func (s *Handlers) membersView(r *http.Request, page views.MembersPage) (views.MembersPage, error) {
	id := httpx.IdentityFrom(r.Context())
	p := id.Principal
	list, err := s.deps.App.Members.List(r.Context(), s.Caller(r))
	if err != nil {
		return page, err
	}
	org := authz.Org(p.OrgID)
	canManage := authz.Authorize(p, authz.MembersManage, org) == nil
	canOwners := authz.Authorize(p, authz.OwnersManage, org) == nil
	page.OrgName = id.Org.Name
	page.CanInvite = authz.Authorize(p, authz.MembersInvite, org) == nil
	page.InviteRoles = grantableRoles(p)
	if page.InviteForm.Values == nil {
		page.InviteForm.Values = map[string]string{"role": "member"}
	}
	page.Members = page.Members[:0]
	owners := 0
	for _, m := range list.Members {
		if m.Role == store.RoleOwner {
			owners++
		}
	}
	for _, m := range list.Members {
		self := m.UserID == p.UserID
		mayTouch := canManage && (m.Role != store.RoleOwner || canOwners)
		page.Members = append(page.Members, views.MemberRow{
			UserID: m.UserID.String(), Name: m.Name, Email: m.Email, Role: string(m.Role), JoinedAt: m.JoinedAt,
			LastLogin: m.LastLoginAt, IsSelf: self, CanChange: mayTouch, Roles: grantableRoles(p),
			// The sole owner cannot leave (the store refuses it), so is not offered to.
			CanRemove: mayTouch && !self, CanLeave: self && (m.Role != store.RoleOwner || owners > 1),
		})
	}
	for _, inv := range list.Invitations {
		page.Invitations = append(page.Invitations, views.InvitationRow{ID: inv.ID.String(), Email: inv.Email,
			Role: string(inv.Role), InvitedBy: inv.InvitedByName, ExpiresAt: inv.ExpiresAt, CanRevoke: true,
			Mail: list.InvitationMails[inv.ID].Status, MailError: list.InvitationMails[inv.ID].LastError})
	}
	return page, nil
}

// renderMembers answers with the members page; err, when set, is a refusal shown on it (with its status).
func (s *Handlers) renderMembers(w http.ResponseWriter, r *http.Request, page views.MembersPage, err error) {
	status := http.StatusOK
	if err != nil {
		switch fault.CodeOf(err) {
		case fault.Conflict, fault.Invalid, fault.RateLimited:
			status = s.classifyStatus(w, r, err)
			if fault.CodeOf(err) != fault.Invalid {
				page.Error = fault.As(err).Message
			}
		default:
			s.PageError(w, r, err)
			return
		}
	}
	page, lerr := s.membersView(r, page)
	if lerr != nil {
		s.PageError(w, r, lerr)
		return
	}
	s.Render(w, r, status, "Members", views.Members(page))
}

// renderNeedsPassword answers a refusal of RequireFreshPassword: the members page, 403, with the refusal and a link
// to re-enter the password.
func (s *Handlers) renderNeedsPassword(w http.ResponseWriter, r *http.Request, page views.MembersPage, err error) {
	page.Error, page.NeedsPassword = fault.As(err).Message, true
	page, lerr := s.membersView(r, page)
	if lerr != nil {
		s.PageError(w, r, lerr)
		return
	}
	s.Render(w, r, http.StatusForbidden, "Members", views.Members(page))
}

func (s *Handlers) classifyStatus(w http.ResponseWriter, r *http.Request, err error) int {
	return httpx.StatusOf(s.Classify(w, r, err).Code)
}

func (s *Handlers) membersPage(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.MembersView, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderMembers(w, r, views.MembersPage{}, nil)
}

// inviteMember creates an invitation link (shown once to the inviter) and e-mails it when SMTP is configured.
// Inviting an owner takes an owner who re-entered their password: the page then offers to re-enter it.
func (s *Handlers) inviteMember(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.MembersInvite, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	in := app.Invitation{Email: strings.TrimSpace(r.PostFormValue("email")), Role: r.PostFormValue("role")}
	invited, err := s.deps.App.Members.Invite(r.Context(), s.Caller(r), in)
	page := views.MembersPage{}
	values := map[string]string{"email": in.Email, "role": in.Role}
	switch {
	case errors.Is(err, authz.ErrStalePassword):
		page.InviteForm = httpx.FormState(values, nil)
		s.renderNeedsPassword(w, r, page, err)
		return
	case fault.CodeOf(err) == fault.Forbidden:
		s.PageError(w, r, err)
		return
	case err != nil:
		page.InviteForm = httpx.FormState(values, err)
		s.renderMembers(w, r, page, err)
		return
	}
	page.InviteLink, page.MailSent, page.InviteEmail = invited.Link, invited.MailSent, invited.Invitation.Email
	s.renderMembers(w, r, page, nil)
}

// memberRefused answers a refused change on the members page: a stale password offers to re-enter it, a refusal
// or a missing member is an error page, anything else (the last owner, bad input) is shown on the page.
func (s *Handlers) memberRefused(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, authz.ErrStalePassword):
		s.renderNeedsPassword(w, r, views.MembersPage{}, err)
	case fault.CodeOf(err) == fault.Forbidden || fault.CodeOf(err) == fault.NotFound:
		s.PageError(w, r, err)
	default:
		s.renderMembers(w, r, views.MembersPage{}, err)
	}
}

// changeMemberRole gives a member another role (see app.Members.ChangeRole for who may do what).
func (s *Handlers) changeMemberRole(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.MembersManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	userID, err := httpx.MemberID(r)
	if err == nil {
		err = httpx.ParseForm(w, r)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	member, err := s.deps.App.Members.ChangeRole(r.Context(), s.Caller(r), userID, r.PostFormValue("role"))
	if err != nil {
		s.memberRefused(w, r, err)
		return
	}
	if id := httpx.IdentityFrom(r.Context()); userID == id.Principal.UserID {
		// The principal's own privileges changed: a new session token, and the page drawn with the new role.
		if err := s.Sessions().RenewToken(r.Context()); err != nil {
			s.PageError(w, r, err)
			return
		}
		id.Principal.Role = authz.Role(member.Role)
	}
	s.renderMembers(w, r, views.MembersPage{Notice: "Role changed."}, nil)
}

// removeMember takes someone out of the organization; removing oneself is leaving.
func (s *Handlers) removeMember(w http.ResponseWriter, r *http.Request) {
	userID, err := httpx.MemberID(r)
	var left bool
	var remaining []store.UserOrganization
	if err == nil {
		left, remaining, err = s.deps.App.Members.Remove(r.Context(), s.Caller(r), userID)
	}
	switch {
	case err != nil:
		s.memberRefused(w, r, err)
	case left:
		s.afterLeaving(w, r, remaining)
	default:
		s.renderMembers(w, r, views.MembersPage{Notice: "Member removed."}, nil)
	}
}

// leaveOrganization takes the principal out of its organization (not the last owner).
func (s *Handlers) leaveOrganization(w http.ResponseWriter, r *http.Request) {
	remaining, err := s.deps.App.Members.Leave(r.Context(), s.Caller(r))
	if err != nil {
		s.memberRefused(w, r, err)
		return
	}
	s.afterLeaving(w, r, remaining)
}

// afterLeaving moves the session to another of the user's organizations, or ends it when none is left.
func (s *Handlers) afterLeaving(w http.ResponseWriter, r *http.Request, remaining []store.UserOrganization) {
	if len(remaining) == 0 {
		if err := s.Sessions().Destroy(r.Context()); err != nil {
			s.PageError(w, r, err)
			return
		}
		s.Redirect(w, r, "/login")
		return
	}
	if err := s.Sessions().RenewToken(r.Context()); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Sessions().Put(r.Context(), httpx.SessionOrgID, remaining[0].ID.String())
	s.Redirect(w, r, "/")
}

// revokeInvitation withdraws a pending invitation of the organization.
func (s *Handlers) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err == nil {
		err = s.deps.App.Members.RevokeInvitation(r.Context(), s.Caller(r), id)
	} else if err = httpx.Authorize(r, authz.MembersInvite, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err == nil {
		err = fault.New(fault.NotFound, "no such invitation")
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderMembers(w, r, views.MembersPage{Notice: "Invitation withdrawn."}, nil)
}

// invitationPage shows an invitation: one button for a signed-in user, an account form for a new one. An unknown,
// used, withdrawn or expired link is one and the same 404.
func (s *Handlers) invitationPage(w http.ResponseWriter, r *http.Request) {
	page, status, err := s.invitationView(r, views.Form{})
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.Render(w, r, status, "Invitation", views.Invitation(page))
}

func (s *Handlers) invitationView(r *http.Request, f views.Form) (views.InvitationPage, int, error) {
	token := r.PathValue("token")
	link, err := s.deps.App.Members.InvitationByToken(r.Context(), token)
	if fault.CodeOf(err) == fault.NotFound {
		return views.InvitationPage{Invalid: true}, http.StatusNotFound, nil
	}
	if err != nil {
		return views.InvitationPage{}, 0, err
	}
	inv := link.Invitation
	page := views.InvitationPage{Token: token, OrgName: inv.OrganizationName, Role: string(inv.Role), Email: inv.Email, Form: f}
	if id := httpx.IdentityFrom(r.Context()); id != nil {
		page.SignedInAs = id.User.Email
	} else {
		page.AccountExists = link.AccountExists
	}
	return page, http.StatusOK, nil
}

// acceptInvitation joins the invitation's organization: as the signed-in user (whose e-mail must be the invited
// one), or as a new account created under the invited e-mail. Either way the link is used up.
func (s *Handlers) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	token := r.PathValue("token")
	fail := func(err error, values map[string]string) {
		if fault.CodeOf(err) == fault.Internal {
			s.PageError(w, r, err)
			return
		}
		page, status, verr := s.invitationView(r, httpx.FormState(values, err))
		if verr != nil {
			s.PageError(w, r, verr)
			return
		}
		if !page.Invalid {
			status = s.FormStatus(w, r, err)
		}
		s.Render(w, r, status, "Invitation", views.Invitation(page))
	}
	if id := httpx.IdentityFrom(r.Context()); id != nil {
		inv, err := s.deps.App.Members.AcceptInvitation(r.Context(), s.Caller(r), token)
		if err != nil {
			fail(err, nil)
			return
		}
		if err := s.Sessions().RenewToken(r.Context()); err != nil {
			s.PageError(w, r, err)
			return
		}
		s.Sessions().Put(r.Context(), httpx.SessionOrgID, inv.OrganizationID.String())
		s.Redirect(w, r, "/")
		return
	}
	in := app.NewAccount{Name: strings.TrimSpace(r.PostFormValue("name")), Password: r.PostFormValue("password")}
	user, inv, err := s.deps.App.Members.AcceptInvitationNewAccount(r.Context(), s.Actor(r), token, in)
	if err != nil {
		fail(err, map[string]string{"name": in.Name})
		return
	}
	if err := s.SignIn(r.Context(), user, inv.OrganizationID); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/")
}
