package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/handlers/auth"
	"github.com/concertmaster/concertmaster/handlers/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// invitationLifetime is how long an invitation link stays usable.
const invitationLifetime = 7 * 24 * time.Hour

// grantableRoles are the roles the principal may give: owners may make owners, admins only the others.
func grantableRoles(p authz.Principal) []string {
	if authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)) == nil {
		return views.Roles
	}
	return views.Roles[1:]
}

// membersView builds the members page for the request's principal; page carries the messages and forms to show.
func (s *Server) membersView(r *http.Request, page views.MembersPage) (views.MembersPage, error) {
	id := identityFrom(r.Context())
	p := id.principal
	members, err := s.deps.Store.MemberList(r.Context(), p.OrgID)
	if err != nil {
		return page, err
	}
	org := authz.Org(p.OrgID)
	canManage := authz.Authorize(p, authz.MembersManage, org) == nil
	canOwners := authz.Authorize(p, authz.OwnersManage, org) == nil
	page.OrgName = id.org.Name
	page.CanInvite = authz.Authorize(p, authz.MembersInvite, org) == nil
	page.InviteRoles = grantableRoles(p)
	if page.InviteForm.Values == nil {
		page.InviteForm.Values = map[string]string{"role": "member"}
	}
	page.Members = page.Members[:0]
	for _, m := range members {
		self := m.UserID == p.UserID
		mayTouch := canManage && (m.Role != store.RoleOwner || canOwners)
		page.Members = append(page.Members, views.MemberRow{
			UserID: m.UserID.String(), Name: m.Name, Email: m.Email, Role: string(m.Role), JoinedAt: m.JoinedAt,
			LastLogin: m.LastLoginAt, IsSelf: self, CanChange: mayTouch, Roles: grantableRoles(p),
			CanRemove: mayTouch && !self, CanLeave: self,
		})
	}
	if page.CanInvite {
		invs, err := s.deps.Store.InvitationList(r.Context(), p.OrgID)
		if err != nil {
			return page, err
		}
		for _, inv := range invs {
			page.Invitations = append(page.Invitations, views.InvitationRow{ID: inv.ID.String(), Email: inv.Email,
				Role: string(inv.Role), InvitedBy: inv.InvitedByName, ExpiresAt: inv.ExpiresAt, CanRevoke: true})
		}
	}
	return page, nil
}

// renderMembers answers with the members page; err, when set, is a refusal shown on it (with its status).
func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, page views.MembersPage, err error) {
	status := http.StatusOK
	if err != nil {
		switch fault.CodeOf(err) {
		case fault.Conflict, fault.Invalid, fault.RateLimited:
			status = s.classifyStatus(w, r, err)
			if fault.CodeOf(err) != fault.Invalid {
				page.Error = fault.As(err).Message
			}
		default:
			s.pageError(w, r, err)
			return
		}
	}
	page, lerr := s.membersView(r, page)
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	s.render(w, r, status, "Members", views.Members(page))
}

// renderNeedsPassword answers a refusal of RequireFreshPassword: the members page, 403, with the refusal and a link
// to re-enter the password.
func (s *Server) renderNeedsPassword(w http.ResponseWriter, r *http.Request, page views.MembersPage, err error) {
	page.Error, page.NeedsPassword = fault.As(err).Message, true
	page, lerr := s.membersView(r, page)
	if lerr != nil {
		s.pageError(w, r, lerr)
		return
	}
	s.render(w, r, http.StatusForbidden, "Members", views.Members(page))
}

func (s *Server) classifyStatus(w http.ResponseWriter, r *http.Request, err error) int {
	return statusOf(s.classify(w, r, err).Code)
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) {
	if err := authorize(r, authz.MembersView, authz.Org(principalFrom(r.Context()).OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderMembers(w, r, views.MembersPage{}, nil)
}

// inviteMember creates an invitation link (shown once to the inviter) and e-mails it when SMTP is configured.
// Inviting an owner takes an owner who re-entered their password (RequireFreshPassword).
func (s *Server) inviteMember(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	in := struct {
		Email string `form:"email" validate:"required,email,max=254"`
		Role  string `form:"role" validate:"required,oneof=owner admin member viewer"`
	}{strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("role")}
	page := views.MembersPage{}
	fail := func(err error) {
		page.InviteForm = formState(map[string]string{"email": in.Email, "role": in.Role}, err)
		s.renderMembers(w, r, page, err)
	}
	if err := validate.Struct(in); err != nil {
		fail(err)
		return
	}
	if in.Role == string(store.RoleOwner) {
		if err := authorize(r, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.pageError(w, r, err)
			return
		}
		if err := requireFreshPassword(r, "invite an owner"); err != nil {
			page.InviteForm = formState(map[string]string{"email": in.Email, "role": in.Role}, nil)
			s.renderNeedsPassword(w, r, page, err)
			return
		}
	}
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	inv, err := s.deps.Store.InvitationCreate(r.Context(), store.NewInvitation{
		OrganizationID: p.OrgID, Email: in.Email, Role: store.Role(in.Role), TokenHash: hash, InvitedBy: p.UserID,
		ExpiresAt: time.Now().Add(invitationLifetime),
	}, s.actor(r))
	if err != nil {
		fail(err)
		return
	}
	page.InviteLink, page.MailSent = s.sendInvitation(r, inv.Email, in.Role, token)
	page.InviteEmail = inv.Email
	s.renderMembers(w, r, page, nil)
}

// sendInvitation e-mails an invitation link (when a mailer is configured) and returns the link, which the inviter
// is shown once, and whether a mail is on its way. The members page and the API both invite through it.
func (s *Server) sendInvitation(r *http.Request, email, role, token string) (link string, mailSent bool) {
	id := identityFrom(r.Context())
	link = s.absoluteURL("/invitations/" + token)
	mailSent = s.sendMailLater(r, "invitation", mail.Message{
		To:      []string{email},
		Subject: id.user.Name + " invited you to " + id.org.Name + " on ConcertMaster",
		Text: "Hello,\n\n" + id.user.Name + " invited you to join " + id.org.Name + " on ConcertMaster as " +
			role + ".\n\nTo accept, open this link within 7 days:\n\n" + link + "\n\nThe link works once.\n",
	})
	return link, mailSent
}

// memberTarget reads the {userID} of a member route and returns the member's current role, NotFound when the user
// is not a member of the principal's organization (whether or not they exist elsewhere).
func (s *Server) memberTarget(r *http.Request) (uuid.UUID, store.Role, error) {
	userID, err := uuid.Parse(r.PathValue("userID"))
	if err != nil {
		return uuid.Nil, "", fault.New(fault.NotFound, "no such member")
	}
	role, err := s.deps.Store.MembershipRole(r.Context(), principalFrom(r.Context()).OrgID, userID)
	return userID, role, err
}

// changeMemberRole gives a member another role. Admins manage non-owners; making someone owner, or changing an
// owner, takes an owner; making someone owner also takes a freshly re-entered password (RequireFreshPassword); the
// last owner cannot be demoted.
func (s *Server) changeMemberRole(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	userID, current, err := s.memberTarget(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	role := store.Role(r.PostFormValue("role"))
	if !role.Valid() {
		s.renderMembers(w, r, views.MembersPage{}, fault.Fields("bad role",
			fault.FieldError{Field: "role", Message: "choose owner, admin, member or viewer"}))
		return
	}
	if current == store.RoleOwner || role == store.RoleOwner {
		if err := authorize(r, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.pageError(w, r, err)
			return
		}
	}
	if role == store.RoleOwner && current != store.RoleOwner {
		if err := requireFreshPassword(r, "make someone owner"); err != nil {
			s.renderNeedsPassword(w, r, views.MembersPage{}, err)
			return
		}
	}
	if _, err := s.deps.Store.MemberChangeRole(r.Context(), p.OrgID, userID, role, s.actor(r)); err != nil {
		s.renderMembers(w, r, views.MembersPage{}, err)
		return
	}
	if userID == p.UserID {
		// The principal's own privileges changed: a new session token, and the page drawn with the new role.
		if err := s.sessions.RenewToken(r.Context()); err != nil {
			s.pageError(w, r, err)
			return
		}
		identityFrom(r.Context()).principal.Role = authz.Role(role)
	}
	s.renderMembers(w, r, views.MembersPage{Notice: "Role changed."}, nil)
}

// removeMember takes someone out of the organization; removing oneself is leaving.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	userID, current, err := s.memberTarget(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if userID == p.UserID {
		s.leaveOrganization(w, r)
		return
	}
	if current == store.RoleOwner {
		if err := authorize(r, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			s.pageError(w, r, err)
			return
		}
	}
	if _, err := s.deps.Store.MemberRemove(r.Context(), p.OrgID, userID, s.actor(r)); err != nil {
		s.renderMembers(w, r, views.MembersPage{}, err)
		return
	}
	s.renderMembers(w, r, views.MembersPage{Notice: "Member removed."}, nil)
}

// leaveOrganization takes the principal out of its organization (not the last owner) and moves the session to
// another of their organizations, or ends it.
func (s *Server) leaveOrganization(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if _, err := s.deps.Store.MemberRemove(r.Context(), p.OrgID, p.UserID, s.actor(r)); err != nil {
		s.renderMembers(w, r, views.MembersPage{}, err)
		return
	}
	orgs, err := s.deps.Store.UserOrganizations(r.Context(), p.UserID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if len(orgs) == 0 {
		if err := s.sessions.Destroy(r.Context()); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.redirect(w, r, "/login")
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionOrgID, orgs[0].ID.String())
	s.redirect(w, r, "/")
}

// revokeInvitation withdraws a pending invitation of the organization.
func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err == nil {
		err = s.deps.Store.InvitationRevoke(r.Context(), p.OrgID, id, s.actor(r))
	} else {
		err = fault.New(fault.NotFound, "no such invitation")
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderMembers(w, r, views.MembersPage{Notice: "Invitation withdrawn."}, nil)
}

// invitationPage shows an invitation: one button for a signed-in user, an account form for a new one. An unknown,
// used, withdrawn or expired link is one and the same 404.
func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) {
	page, status, err := s.invitationView(r, views.Form{})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, status, "Invitation", views.Invitation(page))
}

func (s *Server) invitationView(r *http.Request, f views.Form) (views.InvitationPage, int, error) {
	token := r.PathValue("token")
	inv, err := s.deps.Store.InvitationByToken(r.Context(), auth.HashToken(token))
	if fault.CodeOf(err) == fault.NotFound {
		return views.InvitationPage{Invalid: true}, http.StatusNotFound, nil
	}
	if err != nil {
		return views.InvitationPage{}, 0, err
	}
	page := views.InvitationPage{Token: token, OrgName: inv.OrganizationName, Role: string(inv.Role), Email: inv.Email, Form: f}
	if id := identityFrom(r.Context()); id != nil {
		page.SignedInAs = id.user.Email
	} else if _, err := s.deps.Store.UserGetByEmail(r.Context(), inv.Email); err == nil {
		page.AccountExists = true
	}
	return page, http.StatusOK, nil
}

// acceptInvitation joins the invitation's organization: as the signed-in user (whose e-mail must be the invited
// one), or as a new account created under the invited e-mail. Either way the link is used up.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	hash := auth.HashToken(r.PathValue("token"))
	fail := func(err error, values map[string]string) {
		if fault.CodeOf(err) == fault.Internal {
			s.pageError(w, r, err)
			return
		}
		page, status, verr := s.invitationView(r, formState(values, err))
		if verr != nil {
			s.pageError(w, r, verr)
			return
		}
		if !page.Invalid {
			status = s.formStatus(w, r, err)
		}
		s.render(w, r, status, "Invitation", views.Invitation(page))
	}
	if id := identityFrom(r.Context()); id != nil {
		inv, err := s.deps.Store.InvitationAcceptExisting(r.Context(), hash, id.user.ID, s.actor(r))
		if err != nil {
			fail(err, nil)
			return
		}
		if err := s.sessions.RenewToken(r.Context()); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.sessions.Put(r.Context(), sessionOrgID, inv.OrganizationID.String())
		s.redirect(w, r, "/")
		return
	}
	name, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	values := map[string]string{"name": name}
	if err := validate.Join(validate.Struct(struct {
		Name string `form:"name" validate:"required,max=200"`
	}{name}), checkPassword("password", password)); err != nil {
		fail(err, values)
		return
	}
	passwordHash, err := auth.HashPassword(password)
	if err != nil {
		fail(err, values)
		return
	}
	user, inv, err := s.deps.Store.InvitationAcceptNew(r.Context(), hash, name, passwordHash, s.actor(r))
	if err != nil {
		fail(err, values)
		return
	}
	if err := s.signIn(r.Context(), user, inv.OrganizationID); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, "/")
}
