package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Member is one person in an organization, as the members page lists them.
type Member struct {
	UserID      uuid.UUID
	Email       string
	Name        string
	Role        Role
	JoinedAt    time.Time
	LastLoginAt *time.Time
}

// MemberList lists an organization's members, most powerful first.
func (s *Store) MemberList(ctx context.Context, orgID uuid.UUID) ([]Member, error) {
	rows, err := s.q.MembershipListByOrganization(ctx, orgID)
	if err != nil {
		return nil, interpret(err, "members")
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{UserID: r.UserID, Email: r.Email, Name: r.Name, Role: Role(r.Role), JoinedAt: r.CreatedAt,
			LastLoginAt: r.LastLoginAt}
	}
	return out, nil
}

// errLastOwner is the one rule about owners that the store enforces itself: an organization always keeps one.
var errLastOwner = fault.New(fault.Conflict, "an organization needs at least one owner: make someone else owner first")

// lockOwners takes the organization's lock and returns how many owners it has. Every membership change that could
// remove an owner runs after it, so concurrent changes cannot both remove "one of two" owners.
func lockOwners(ctx context.Context, q *db.Queries, orgID uuid.UUID) (int64, error) {
	if _, err := q.OrganizationLock(ctx, orgID); err != nil {
		return 0, interpret(err, "organization")
	}
	n, err := q.MembershipCountOwners(ctx, orgID)
	return n, interpret(err, "membership")
}

// MemberChangeRole gives a member another role and returns the role they had. Demoting the last owner is a
// Conflict. Who may change which role is the caller's authorization, not the store's.
func (s *Store) MemberChangeRole(ctx context.Context, orgID, userID uuid.UUID, role Role, by Actor) (Role, error) {
	if !role.Valid() {
		return "", fault.Fields("role is not valid", fault.FieldError{Field: "role", Message: "choose owner, admin, member or viewer"})
	}
	var before Role
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		owners, err := lockOwners(ctx, q, orgID)
		if err != nil {
			return err
		}
		m, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: orgID, UserID: userID})
		if err != nil {
			return interpret(err, "member")
		}
		before = Role(m.Role)
		if before == role {
			return nil
		}
		if before == RoleOwner && owners <= 1 {
			return errLastOwner
		}
		if _, err := q.MembershipUpdateRole(ctx, db.MembershipUpdateRoleParams{
			OrganizationID: orgID, UserID: userID, Role: string(role),
		}); err != nil {
			return interpret(err, "member")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "member.role_changed",
			TargetType: "user", TargetID: userID.String(),
			Before: map[string]any{"role": before}, After: map[string]any{"role": role}})
	})
	return before, err
}

// MemberRemove takes a user out of an organization (a removal, or leaving when by is the user). Removing the last
// owner is a Conflict. The user's personal API tokens and refresh tokens for the organization stop working at once,
// since both are checked against the membership on every use.
func (s *Store) MemberRemove(ctx context.Context, orgID, userID uuid.UUID, by Actor) (Role, error) {
	var before Role
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		owners, err := lockOwners(ctx, q, orgID)
		if err != nil {
			return err
		}
		m, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: orgID, UserID: userID})
		if err != nil {
			return interpret(err, "member")
		}
		before = Role(m.Role)
		if before == RoleOwner && owners <= 1 {
			return errLastOwner
		}
		if _, err := q.MembershipDelete(ctx, db.MembershipDeleteParams{OrganizationID: orgID, UserID: userID}); err != nil {
			return interpret(err, "member")
		}
		action := "member.removed"
		if by.UserID != nil && *by.UserID == userID {
			action = "member.left"
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: action, TargetType: "user",
			TargetID: userID.String(), Before: map[string]any{"role": before}})
	})
	return before, err
}

// Invitation is a pending invitation to join an organization. Its token is never stored, only its hash.
type Invitation struct {
	ID               uuid.UUID
	OrganizationID   uuid.UUID
	OrganizationName string
	Email            string
	Role             Role
	InvitedByName    string
	ExpiresAt        time.Time
	CreatedAt        time.Time
}

// NewInvitation is what InvitationCreate needs; TokenHash is the SHA-256 of the link's token.
type NewInvitation struct {
	OrganizationID uuid.UUID
	Email          string
	Role           Role
	TokenHash      []byte
	InvitedBy      uuid.UUID
	ExpiresAt      time.Time
}

// InvitationCreate invites an address into an organization, retiring its earlier pending invitations there. An
// address that already belongs to a member is a Conflict.
func (s *Store) InvitationCreate(ctx context.Context, in NewInvitation, by Actor) (Invitation, error) {
	var inv Invitation
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		email := strings.TrimSpace(in.Email)
		if u, err := q.UserGetByEmail(ctx, email); err == nil {
			if _, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: in.OrganizationID, UserID: u.ID}); err == nil {
				return fault.Fields("already a member", fault.FieldError{Field: "email", Message: "is already a member of this organization"})
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return interpret(err, "membership")
			}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return interpret(err, "user")
		}
		if err := q.InvitationRevokePendingForEmail(ctx, db.InvitationRevokePendingForEmailParams{
			OrganizationID: in.OrganizationID, Email: email,
		}); err != nil {
			return interpret(err, "invitation")
		}
		invitedBy := in.InvitedBy
		row, err := q.InvitationCreate(ctx, db.InvitationCreateParams{
			OrganizationID: in.OrganizationID, Email: email, Role: string(in.Role), TokenHash: in.TokenHash,
			InvitedBy: &invitedBy, ExpiresAt: in.ExpiresAt,
		})
		if err != nil {
			return interpret(err, "invitation")
		}
		inv = invitationFromRow(row, "")
		return audit(ctx, q, by, auditRecord{OrganizationID: &in.OrganizationID, Action: "invitation.created",
			TargetType: "invitation", TargetID: row.ID.String(),
			After: map[string]any{"email": email, "role": in.Role, "expires_at": in.ExpiresAt}})
	})
	return inv, err
}

// InvitationByToken finds a usable invitation by its token's hash; an unknown, used, revoked or expired one is
// NotFound, all alike.
func (s *Store) InvitationByToken(ctx context.Context, tokenHash []byte) (Invitation, error) {
	row, err := s.q.InvitationGetByTokenHash(ctx, tokenHash)
	if err != nil {
		return Invitation{}, interpret(err, "invitation")
	}
	inv := invitationFromRow(db.Invitation{ID: row.ID, OrganizationID: row.OrganizationID, Email: row.Email,
		Role: row.Role, ExpiresAt: row.ExpiresAt, CreatedAt: row.CreatedAt}, row.OrganizationName)
	return inv, nil
}

// InvitationList lists an organization's pending invitations, newest first.
func (s *Store) InvitationList(ctx context.Context, orgID uuid.UUID) ([]Invitation, error) {
	rows, err := s.q.InvitationListPending(ctx, orgID)
	if err != nil {
		return nil, interpret(err, "invitations")
	}
	out := make([]Invitation, len(rows))
	for i, r := range rows {
		out[i] = Invitation{ID: r.ID, OrganizationID: orgID, Email: r.Email, Role: Role(r.Role),
			InvitedByName: r.InvitedByName, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// InvitationRevoke withdraws a pending invitation of org.
func (s *Store) InvitationRevoke(ctx context.Context, orgID, id uuid.UUID, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.InvitationRevoke(ctx, db.InvitationRevokeParams{ID: id, OrganizationID: orgID})
		if err != nil {
			return interpret(err, "invitation")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "invitation.revoked",
			TargetType: "invitation", TargetID: id.String(), Before: map[string]any{"email": row.Email, "role": row.Role}})
	})
}

// InvitationAcceptExisting lets a signed-in user join the organization of an invitation addressed to their own
// e-mail. The invitation is used up in the same transaction; a link addressed to someone else is Forbidden.
func (s *Store) InvitationAcceptExisting(ctx context.Context, tokenHash []byte, userID uuid.UUID, by Actor) (Invitation, error) {
	var inv Invitation
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := claimInvitation(ctx, q, tokenHash)
		if err != nil {
			return err
		}
		user, err := q.UserGet(ctx, userID)
		if err != nil {
			return interpret(err, "user")
		}
		if !strings.EqualFold(user.Email, row.Email) {
			return fault.New(fault.Forbidden, "this invitation is addressed to another e-mail address")
		}
		if _, err := q.MembershipCreate(ctx, db.MembershipCreateParams{
			OrganizationID: row.OrganizationID, UserID: userID, Role: row.Role,
		}); err != nil {
			if fault.CodeOf(interpret(err, "membership")) == fault.Conflict {
				return fault.New(fault.Conflict, "you are already a member of this organization")
			}
			return interpret(err, "membership")
		}
		inv = invitationFromRow(row, "")
		by.UserID = &userID
		return audit(ctx, q, by, auditRecord{OrganizationID: &row.OrganizationID, Action: "invitation.accepted",
			TargetType: "user", TargetID: userID.String(),
			After: map[string]any{"invitation_id": row.ID, "email": row.Email, "role": row.Role}})
	})
	return inv, err
}

// InvitationAcceptNew creates the account of an invited person (under the invitation's e-mail) and their
// membership, using the invitation up, in one transaction.
func (s *Store) InvitationAcceptNew(ctx context.Context, tokenHash []byte, name, passwordHash string, by Actor) (User, Invitation, error) {
	var user User
	var inv Invitation
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := claimInvitation(ctx, q, tokenHash)
		if err != nil {
			return err
		}
		if user, err = createUser(ctx, q, row.Email, name, passwordHash, false); err != nil {
			if fault.CodeOf(err) == fault.Conflict {
				return fault.New(fault.Conflict, "an account with this e-mail exists: sign in to accept the invitation")
			}
			return err
		}
		if _, err := q.MembershipCreate(ctx, db.MembershipCreateParams{
			OrganizationID: row.OrganizationID, UserID: user.ID, Role: row.Role,
		}); err != nil {
			return interpret(err, "membership")
		}
		inv = invitationFromRow(row, "")
		by.UserID = &user.ID
		return audit(ctx, q, by, auditRecord{OrganizationID: &row.OrganizationID, Action: "invitation.accepted",
			TargetType: "user", TargetID: user.ID.String(),
			After: map[string]any{"invitation_id": row.ID, "email": row.Email, "role": row.Role, "new_user": true}})
	})
	return user, inv, err
}

// claimInvitation uses an invitation up. An owner invitation whose inviter is no longer an owner is refused (and,
// the transaction rolling back, left unused): making someone owner is the act of a current owner, so demoting or
// removing an owner also withdraws the owners they invited.
func claimInvitation(ctx context.Context, q *db.Queries, tokenHash []byte) (db.Invitation, error) {
	row, err := q.InvitationClaim(ctx, tokenHash)
	if err != nil {
		return row, interpret(err, "invitation")
	}
	if Role(row.Role) == RoleOwner {
		ok, err := q.InvitationInviterIsOwner(ctx, db.InvitationInviterIsOwnerParams{
			OrganizationID: row.OrganizationID, InvitedBy: row.InvitedBy})
		if err != nil {
			return row, interpret(err, "invitation")
		}
		if !ok {
			return row, fault.New(fault.Forbidden, "whoever sent this owner invitation is no longer an owner: ask an owner for a new one")
		}
	}
	return row, nil
}

func invitationFromRow(r db.Invitation, orgName string) Invitation {
	return Invitation{ID: r.ID, OrganizationID: r.OrganizationID, OrganizationName: orgName, Email: r.Email,
		Role: Role(r.Role), ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}

// Permission is a per-workflow grant: view < run < edit.
type Permission string

// The grants.
const (
	PermissionNone Permission = ""
	PermissionView Permission = "view"
	PermissionRun  Permission = "run"
	PermissionEdit Permission = "edit"
)

// WorkflowGrant returns user's grant on one workflow of org, PermissionNone when there is none.
func (s *Store) WorkflowGrant(ctx context.Context, orgID, workflowID, userID uuid.UUID) (Permission, error) {
	p, err := s.q.WorkflowPermissionGet(ctx, db.WorkflowPermissionGetParams{
		OrganizationID: orgID, WorkflowID: workflowID, UserID: userID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return PermissionNone, nil
	}
	if err != nil {
		return PermissionNone, interpret(err, "workflow permission")
	}
	return Permission(p), nil
}

// WorkflowGrantSet grants a member view, run or edit on one workflow of org (PermissionNone removes the grant).
func (s *Store) WorkflowGrantSet(ctx context.Context, orgID, workflowID, userID uuid.UUID, perm Permission, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if _, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: orgID, UserID: userID}); err != nil {
			return interpret(err, "member")
		}
		if perm == PermissionNone {
			n, err := q.WorkflowPermissionDelete(ctx, db.WorkflowPermissionDeleteParams{
				OrganizationID: orgID, WorkflowID: workflowID, UserID: userID})
			if err != nil {
				return interpret(err, "workflow permission")
			}
			if n == 0 {
				return fault.New(fault.NotFound, "this member holds no grant on this workflow")
			}
		} else if _, err := q.WorkflowPermissionUpsert(ctx, db.WorkflowPermissionUpsertParams{
			OrganizationID: orgID, WorkflowID: workflowID, UserID: userID, Permission: string(perm),
		}); err != nil {
			return interpret(err, "workflow permission")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "workflow.grant_changed",
			TargetType: "workflow", TargetID: workflowID.String(),
			After: map[string]any{"user_id": userID, "permission": perm}})
	})
}

// WorkflowGrantee is a member holding a grant on one workflow.
type WorkflowGrantee struct {
	UserID     uuid.UUID
	Email      string
	Name       string
	Permission Permission
}

// WorkflowGrantList lists the grants on one workflow of org, by the grantee's name.
func (s *Store) WorkflowGrantList(ctx context.Context, orgID, workflowID uuid.UUID) ([]WorkflowGrantee, error) {
	rows, err := s.q.WorkflowPermissionList(ctx, db.WorkflowPermissionListParams{OrganizationID: orgID, WorkflowID: workflowID})
	if err != nil {
		return nil, interpret(err, "workflow permissions")
	}
	out := make([]WorkflowGrantee, len(rows))
	for i, r := range rows {
		out[i] = WorkflowGrantee{UserID: r.UserID, Email: r.Email, Name: r.Name, Permission: Permission(r.Permission)}
	}
	return out, nil
}

// WorkflowGrantCounts counts the grants on each of workflowIDs (all of org); a workflow without any is absent.
func (s *Store) WorkflowGrantCounts(ctx context.Context, orgID uuid.UUID, workflowIDs []uuid.UUID) (map[uuid.UUID]int, error) {
	rows, err := s.q.WorkflowPermissionCounts(ctx, db.WorkflowPermissionCountsParams{OrganizationID: orgID, WorkflowIds: workflowIDs})
	if err != nil {
		return nil, interpret(err, "workflow permissions")
	}
	out := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		out[r.WorkflowID] = int(r.Grants)
	}
	return out, nil
}
