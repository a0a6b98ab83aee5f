package app

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// InvitationLifetime is how long an invitation link stays usable.
const InvitationLifetime = 7 * 24 * time.Hour

// Members are the use cases of an organization's members and invitations. The store enforces that an
// organization keeps an owner; who may touch an owner, and that making someone owner takes a freshly re-entered
// password (a browser session, never an API token), is decided here.
type Members struct {
	store     *store.Store
	passwords *passwords
	outbox    *Outbox
	now       func() time.Time
	baseURL   string
}

// MemberList is an organization's members, most powerful first, and its pending invitations — empty for a caller
// who may not invite, who does not see them.
type MemberList struct {
	Members     []store.Member
	Invitations []store.Invitation
	// InvitationMails is the status of each invitation's latest e-mail, by invitation (none when no mail was sent).
	InvitationMails map[uuid.UUID]store.MailStatus
}

// List lists the caller's organization's members and, for callers who may invite, its pending invitations.
func (m *Members) List(ctx context.Context, c Caller) (MemberList, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return MemberList{}, err
	}
	members, err := m.store.MemberList(ctx, p.OrgID)
	if err != nil {
		return MemberList{}, err
	}
	out := MemberList{Members: members}
	if authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)) == nil {
		if out.Invitations, err = m.store.InvitationList(ctx, p.OrgID); err != nil {
			return MemberList{}, err
		}
		ids := make([]uuid.UUID, len(out.Invitations))
		for i, inv := range out.Invitations {
			ids[i] = inv.ID
		}
		if out.InvitationMails, err = m.store.InvitationMailStatus(ctx, p.OrgID, ids); err != nil {
			return MemberList{}, err
		}
	}
	return out, nil
}

// Invitation is what an inviter asks for.
type Invitation struct {
	Email string `json:"email" form:"email" validate:"required,email,max=254"`
	Role  string `json:"role" form:"role" validate:"required,oneof=owner admin member viewer"`
}

// Invited is a new invitation with its link, which exists only in this answer (the database keeps its hash), and
// whether an e-mail carrying it is on its way.
type Invited struct {
	Invitation store.Invitation
	Link       string
	MailSent   bool
}

// Invite invites an address into the caller's organization and e-mails the link when a mailer is configured.
// Inviting an owner takes an owner who re-entered their password (authz.RequireFreshPassword).
func (m *Members) Invite(ctx context.Context, c Caller, in Invitation) (Invited, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		return Invited{}, err
	}
	in.Email = strings.TrimSpace(in.Email)
	if err := validate.Struct(in); err != nil {
		return Invited{}, err
	}
	if in.Role == string(store.RoleOwner) {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			return Invited{}, err
		}
		if err := authz.RequireFreshPassword(p, "invite an owner"); err != nil {
			return Invited{}, err
		}
	}
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	inv, err := m.store.InvitationCreate(ctx, store.NewInvitation{
		OrganizationID: p.OrgID, Email: in.Email, Role: store.Role(in.Role), TokenHash: hash, InvitedBy: p.UserID,
		ExpiresAt: m.now().Add(InvitationLifetime),
	}, c.Actor)
	if err != nil {
		return Invited{}, err
	}
	if inv.InvitedByName == "" {
		inv.InvitedByName = c.UserName
	}
	link := m.baseURL + "/invitations/" + token
	sent := m.outbox.Send(ctx, "invitation", &p.OrgID, &inv.ID, mail.Message{
		To:      []string{inv.Email},
		Subject: c.UserName + " invited you to " + c.OrgName + " on ConcertMaster",
		Text: "Hello,\n\n" + c.UserName + " invited you to join " + c.OrgName + " on ConcertMaster as " +
			in.Role + ".\n\nTo accept, open this link within 7 days:\n\n" + link + "\n\nThe link works once.\n",
	})
	return Invited{Invitation: inv, Link: link, MailSent: sent}, nil
}

// RevokeInvitation withdraws a pending invitation of the caller's organization.
func (m *Members) RevokeInvitation(ctx context.Context, c Caller, id uuid.UUID) error {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersInvite, authz.Org(p.OrgID)); err != nil {
		return err
	}
	return m.store.InvitationRevoke(ctx, p.OrgID, id, c.Actor)
}

// target returns the current role of a member of the caller's organization; NotFound when the user is not one
// (whether or not they exist elsewhere).
func (m *Members) target(ctx context.Context, c Caller, userID uuid.UUID) (store.Role, error) {
	return m.store.MembershipRole(ctx, c.Principal.OrgID, userID)
}

// ChangeRole gives a member another role and returns the member as they now are. Admins manage non-owners;
// making someone owner, or changing an owner, takes an owner; making someone owner also takes a freshly
// re-entered password; the store refuses to demote the last owner (Conflict).
func (m *Members) ChangeRole(ctx context.Context, c Caller, userID uuid.UUID, role string) (store.Member, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		return store.Member{}, err
	}
	current, err := m.target(ctx, c, userID)
	if err != nil {
		return store.Member{}, err
	}
	if err := validate.Struct(struct {
		Role string `json:"role" form:"role" validate:"required,oneof=owner admin member viewer"`
	}{role}); err != nil {
		return store.Member{}, err
	}
	newRole := store.Role(role)
	if current == store.RoleOwner || newRole == store.RoleOwner {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			return store.Member{}, err
		}
	}
	if newRole == store.RoleOwner && current != store.RoleOwner {
		if err := authz.RequireFreshPassword(p, "make someone owner"); err != nil {
			return store.Member{}, err
		}
	}
	if _, err := m.store.MemberChangeRole(ctx, p.OrgID, userID, newRole, c.Actor); err != nil {
		return store.Member{}, err
	}
	members, err := m.store.MemberList(ctx, p.OrgID)
	if err != nil {
		return store.Member{}, err
	}
	for _, mem := range members {
		if mem.UserID == userID {
			return mem, nil
		}
	}
	return store.Member{}, fault.New(fault.NotFound, "no such member")
}

// Remove takes a member out of the caller's organization. It takes MembersManage; removing an owner takes an
// owner; removing oneself is leaving (see Leave). The store refuses to remove the last owner (Conflict). It
// returns the organizations the caller still belongs to when they left, nil otherwise.
func (m *Members) Remove(ctx context.Context, c Caller, userID uuid.UUID) (left bool, remaining []store.UserOrganization, err error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersManage, authz.Org(p.OrgID)); err != nil {
		return false, nil, err
	}
	current, err := m.target(ctx, c, userID)
	if err != nil {
		return false, nil, err
	}
	if userID == p.UserID {
		remaining, err := m.Leave(ctx, c)
		return true, remaining, err
	}
	if current == store.RoleOwner {
		if err := authz.Authorize(p, authz.OwnersManage, authz.Org(p.OrgID)); err != nil {
			return false, nil, err
		}
	}
	_, err = m.store.MemberRemove(ctx, p.OrgID, userID, c.Actor)
	return false, nil, err
}

// Leave takes the caller out of their organization (unless they are its last owner) and returns the
// organizations they still belong to, oldest membership first.
func (m *Members) Leave(ctx context.Context, c Caller) ([]store.UserOrganization, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return nil, err
	}
	if _, err := m.store.MemberRemove(ctx, p.OrgID, p.UserID, c.Actor); err != nil {
		return nil, err
	}
	return m.store.UserOrganizations(ctx, p.UserID)
}

// InvitationLink is the invitation a link carries, and whether its e-mail already has an account (the page then
// asks that person to sign in rather than to create one).
type InvitationLink struct {
	Invitation    store.Invitation
	AccountExists bool
}

// InvitationByToken reads the invitation a link carries. An unknown, used, withdrawn or expired link is one and
// the same NotFound.
func (m *Members) InvitationByToken(ctx context.Context, token string) (InvitationLink, error) {
	inv, err := m.store.InvitationByToken(ctx, auth.HashToken(token))
	if err != nil {
		return InvitationLink{}, err
	}
	_, err = m.store.UserGetByEmail(ctx, inv.Email)
	if err != nil && fault.CodeOf(err) != fault.NotFound {
		return InvitationLink{}, err
	}
	return InvitationLink{Invitation: inv, AccountExists: err == nil}, nil
}

// AcceptInvitation joins the invitation's organization as the signed-in caller, whose e-mail must be the invited
// one. The link is used up.
func (m *Members) AcceptInvitation(ctx context.Context, c Caller, token string) (store.Invitation, error) {
	return m.store.InvitationAcceptExisting(ctx, auth.HashToken(token), c.Principal.UserID, c.Actor)
}

// NewAccount is what someone without an account gives to accept an invitation.
type NewAccount struct {
	Name     string `form:"name" json:"name" validate:"required,max=200"`
	Password string `form:"-" json:"-"`
}

// AcceptInvitationNewAccount creates an account under the invited e-mail and joins the invitation's organization
// with it. The link is used up. actor is the anonymous request's.
func (m *Members) AcceptInvitationNewAccount(ctx context.Context, actor store.Actor, token string, in NewAccount) (store.User, store.Invitation, error) {
	in.Name = strings.TrimSpace(in.Name)
	if err := validate.Join(validate.Struct(in), CheckPassword("password", in.Password)); err != nil {
		return store.User{}, store.Invitation{}, err
	}
	passwordHash, err := m.passwords.hash(in.Password)
	if err != nil {
		return store.User{}, store.Invitation{}, err
	}
	return m.store.InvitationAcceptNew(ctx, auth.HashToken(token), in.Name, passwordHash, actor)
}

// CheckPassword returns the password policy's complaint about password as a field error of field, nil when the
// password is acceptable.
func CheckPassword(field, password string) *fault.FieldError {
	if err := auth.CheckPasswordPolicy(password); err != nil {
		if e := fault.As(err); len(e.Fields) > 0 {
			return &fault.FieldError{Field: field, Message: e.Fields[0].Message}
		}
	}
	return nil
}
