package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Role is a user's role in one organization, from most to least powerful: owner, admin, member, viewer.
type Role string

// The roles.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleMember, RoleViewer:
		return true
	}
	return false
}

// User is a person who signs in. The password hash stays inside the store and the auth code that checks it.
type User struct {
	ID            uuid.UUID
	Email         string
	Name          string
	PasswordHash  string
	InstanceAdmin bool
	// CredentialsVersion moves on with every password change; sessions and access tokens issued under an older
	// version are refused.
	CredentialsVersion int
	LastLoginAt        *time.Time
	CreatedAt          time.Time
}

// Organization is a tenant: everything a team shares belongs to one.
type Organization struct {
	ID        uuid.UUID
	Name      string
	Slug      string
	CreatedAt time.Time
}

// NewUser is what UserCreateWithOrganization needs.
type NewUser struct {
	Email            string
	Name             string
	PasswordHash     string
	InstanceAdmin    bool
	OrganizationName string
	Role             Role
	// By is who is creating the user, for the audit log; the zero Actor stands for the system.
	By Actor
}

// UserCreateWithOrganization creates a user and gives them Role in the organization named OrganizationName,
// creating that organization when no organization has its slug yet. It all happens in one transaction. It is the
// administrator's command-line path; sign-up never joins an existing organization (see UserSignUp).
func (s *Store) UserCreateWithOrganization(ctx context.Context, in NewUser) (User, Organization, error) {
	by := in.By
	var user User
	var org Organization
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		if user, err = createUser(ctx, q, in.Email, in.Name, in.PasswordHash, in.InstanceAdmin); err != nil {
			return err
		}
		slug := Slugify(in.OrganizationName)
		orgRow, err := q.OrganizationGetBySlug(ctx, slug)
		created := false
		if errors.Is(err, pgx.ErrNoRows) {
			created = true
			orgRow, err = q.OrganizationCreate(ctx, db.OrganizationCreateParams{
				Name: strings.TrimSpace(in.OrganizationName), Slug: slug,
			})
		}
		if err != nil {
			return interpret(err, "organization")
		}
		org = organizationFromRow(orgRow)
		if _, err = q.MembershipUpsert(ctx, db.MembershipUpsertParams{
			OrganizationID: org.ID, UserID: user.ID, Role: string(in.Role),
		}); err != nil {
			return interpret(err, "membership")
		}
		if created {
			if err := audit(ctx, q, by, auditRecord{OrganizationID: &org.ID, Action: "organization.created",
				TargetType: "organization", TargetID: org.ID.String(),
				After: map[string]any{"name": org.Name, "slug": org.Slug}}); err != nil {
				return err
			}
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &org.ID, Action: "user.created",
			TargetType: "user", TargetID: user.ID.String(),
			After: map[string]any{"email": user.Email, "name": user.Name, "role": in.Role,
				"instance_admin": user.InstanceAdmin}})
	})
	return user, org, err
}

// SignUp is what a new person gives on the sign-up page.
type SignUp struct {
	Email            string
	Name             string
	PasswordHash     string
	OrganizationName string
}

// UserSignUp creates a user and a new organization they own. The organization is always new: when its slug is
// taken, a random suffix makes it unique, so signing up can never join someone else's organization.
func (s *Store) UserSignUp(ctx context.Context, in SignUp, by Actor) (User, Organization, error) {
	var user User
	var org Organization
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		if user, err = createUser(ctx, q, in.Email, in.Name, in.PasswordHash, false); err != nil {
			return err
		}
		if org, err = createOrganization(ctx, q, in.OrganizationName); err != nil {
			return err
		}
		if _, err := q.MembershipCreate(ctx, db.MembershipCreateParams{
			OrganizationID: org.ID, UserID: user.ID, Role: string(RoleOwner),
		}); err != nil {
			return interpret(err, "membership")
		}
		by.UserID = &user.ID
		if err := audit(ctx, q, by, auditRecord{OrganizationID: &org.ID, Action: "organization.created",
			TargetType: "organization", TargetID: org.ID.String(),
			After: map[string]any{"name": org.Name, "slug": org.Slug}}); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &org.ID, Action: "user.signed_up",
			TargetType: "user", TargetID: user.ID.String(),
			After: map[string]any{"email": user.Email, "name": user.Name, "role": RoleOwner}})
	})
	return user, org, err
}

func createUser(ctx context.Context, q *db.Queries, email, name, passwordHash string, instanceAdmin bool) (User, error) {
	row, err := q.UserCreate(ctx, db.UserCreateParams{
		Email: strings.TrimSpace(email), Name: strings.TrimSpace(name),
		PasswordHash: passwordHash, InstanceAdmin: instanceAdmin,
	})
	if err != nil {
		return User{}, interpret(err, "user")
	}
	return userFromRow(row), nil
}

// createOrganization adds an organization under a slug derived from name, made unique with a suffix when taken.
func createOrganization(ctx context.Context, q *db.Queries, name string) (Organization, error) {
	name = strings.TrimSpace(name)
	base := Slugify(name)
	if base == "" {
		base = "org"
	}
	slug := base
	for range 8 {
		rows, err := q.OrganizationCreateIfSlugFree(ctx, db.OrganizationCreateIfSlugFreeParams{Name: name, Slug: slug})
		if err != nil {
			return Organization{}, interpret(err, "organization")
		}
		if len(rows) == 1 {
			return organizationFromRow(rows[0]), nil
		}
		var b [3]byte
		_, _ = rand.Read(b[:])
		slug = strings.TrimRight(truncate(base, 56), "-") + "-" + hex.EncodeToString(b[:])
	}
	return Organization{}, fault.New(fault.Conflict, "could not find a free address for the organization")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// UserGet returns a user by id.
func (s *Store) UserGet(ctx context.Context, id uuid.UUID) (User, error) {
	row, err := s.q.UserGet(ctx, id)
	if err != nil {
		return User{}, interpret(err, "user")
	}
	return userFromRow(row), nil
}

// UserGetByEmail finds a user by e-mail address, ignoring case.
func (s *Store) UserGetByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.q.UserGetByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		return User{}, interpret(err, "user")
	}
	return userFromRow(row), nil
}

// UserRecordLogin notes a successful sign-in into org, in the user's row and the audit log.
func (s *Store) UserRecordLogin(ctx context.Context, userID, orgID uuid.UUID, method string, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.UserTouchLogin(ctx, userID); err != nil {
			return interpret(err, "user")
		}
		by.UserID = &userID
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "session.login",
			TargetType: "user", TargetID: userID.String(), After: map[string]any{"method": method}})
	})
}

// AuditLoginFailure records a refused sign-in. The organization is unknown, so the row is instance-level; the
// e-mail is kept only when it belongs to an account (the user id), never the password.
func (s *Store) AuditLoginFailure(ctx context.Context, userID *uuid.UUID, method string, by Actor) error {
	by.UserID = userID
	return audit(ctx, s.q, by, auditRecord{Action: "session.login_failed", TargetType: "user",
		After: map[string]any{"method": method}})
}

// UserUpdateName renames a user.
func (s *Store) UserUpdateName(ctx context.Context, userID uuid.UUID, name string, by Actor) (User, error) {
	var user User
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		before, err := q.UserGet(ctx, userID)
		if err != nil {
			return interpret(err, "user")
		}
		row, err := q.UserUpdateName(ctx, db.UserUpdateNameParams{ID: userID, Name: strings.TrimSpace(name)})
		if err != nil {
			return interpret(err, "user")
		}
		user = userFromRow(row)
		return audit(ctx, q, by, auditRecord{Action: "user.renamed", TargetType: "user", TargetID: userID.String(),
			Before: map[string]any{"name": before.Name}, After: map[string]any{"name": row.Name}})
	})
	return user, err
}

// UserChangePassword replaces a user's password hash. It moves the credentials version on (signing out every
// other session and access token), retires outstanding reset links and revokes every refresh token.
func (s *Store) UserChangePassword(ctx context.Context, userID uuid.UUID, passwordHash string, by Actor) (User, error) {
	var user User
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		user, err = setPassword(ctx, q, userID, passwordHash)
		if err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{Action: "user.password_changed", TargetType: "user",
			TargetID: userID.String()})
	})
	return user, err
}

func setPassword(ctx context.Context, q *db.Queries, userID uuid.UUID, passwordHash string) (User, error) {
	row, err := q.UserSetPassword(ctx, db.UserSetPasswordParams{ID: userID, PasswordHash: passwordHash})
	if err != nil {
		return User{}, interpret(err, "user")
	}
	if err := q.PasswordResetInvalidateForUser(ctx, userID); err != nil {
		return User{}, interpret(err, "password reset")
	}
	if err := q.RefreshTokenRevokeForUser(ctx, userID); err != nil {
		return User{}, interpret(err, "refresh token")
	}
	return userFromRow(row), nil
}

// PasswordResetCreate stores the hash of a new reset link's token for a user.
func (s *Store) PasswordResetCreate(ctx context.Context, userID uuid.UUID, tokenHash []byte, expiresAt time.Time, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.PasswordResetCreate(ctx, db.PasswordResetCreateParams{
			UserID: userID, TokenHash: tokenHash, ExpiresAt: expiresAt,
		}); err != nil {
			return interpret(err, "password reset")
		}
		return audit(ctx, q, by, auditRecord{Action: "user.password_reset_requested", TargetType: "user",
			TargetID: userID.String(), After: map[string]any{"expires_at": expiresAt}})
	})
}

// PasswordResetCheck reports whether a reset link is still usable, without using it up.
func (s *Store) PasswordResetCheck(ctx context.Context, tokenHash []byte) error {
	_, err := s.q.PasswordResetCheck(ctx, tokenHash)
	return interpret(err, "password reset link")
}

// PasswordResetComplete uses a reset link up and sets the new password, all in one transaction: a link works
// once, and only before it expires.
func (s *Store) PasswordResetComplete(ctx context.Context, tokenHash []byte, passwordHash string, by Actor) (User, error) {
	var user User
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		userID, err := q.PasswordResetClaim(ctx, tokenHash)
		if err != nil {
			return interpret(err, "password reset link")
		}
		if user, err = setPassword(ctx, q, userID, passwordHash); err != nil {
			return err
		}
		by.UserID = &userID
		return audit(ctx, q, by, auditRecord{Action: "user.password_reset", TargetType: "user",
			TargetID: userID.String()})
	})
	return user, err
}

// Principal is who an authenticated request acts as: the user and the role they hold in one organization now.
type Principal struct {
	User               User
	Organization       Organization
	Role               Role
	CredentialsVersion int
	// TokenID is set when the request authenticated with a personal API token, and TokenScopes are its scopes.
	TokenID     *uuid.UUID
	TokenScopes []string
}

// PrincipalGet loads the user and their current role in org; NotFound when either is gone or they are no longer a
// member.
func (s *Store) PrincipalGet(ctx context.Context, userID, orgID uuid.UUID) (Principal, error) {
	row, err := s.q.PrincipalGet(ctx, db.PrincipalGetParams{UserID: userID, OrganizationID: orgID})
	if err != nil {
		return Principal{}, interpret(err, "membership")
	}
	return Principal{
		User: User{ID: row.UserID, Email: row.Email, Name: row.Name, InstanceAdmin: row.InstanceAdmin,
			CredentialsVersion: int(row.CredentialsVersion)},
		Organization:       Organization{ID: row.OrganizationID, Name: row.OrganizationName, Slug: row.OrganizationSlug},
		Role:               Role(row.Role),
		CredentialsVersion: int(row.CredentialsVersion),
	}, nil
}

// UserOrganization is one organization a user belongs to, with their role there.
type UserOrganization struct {
	Organization
	Role Role
}

// UserOrganizations lists the organizations a user belongs to, oldest membership first: the first is where a
// sign-in lands.
func (s *Store) UserOrganizations(ctx context.Context, userID uuid.UUID) ([]UserOrganization, error) {
	rows, err := s.q.MembershipListByUser(ctx, userID)
	if err != nil {
		return nil, interpret(err, "memberships")
	}
	out := make([]UserOrganization, len(rows))
	for i, r := range rows {
		out[i] = UserOrganization{Organization: Organization{ID: r.ID, Name: r.Name, Slug: r.Slug}, Role: Role(r.Role)}
	}
	return out, nil
}

// MembershipRole returns the role user holds in org, or a NotFound error when they are not a member.
func (s *Store) MembershipRole(ctx context.Context, orgID, userID uuid.UUID) (Role, error) {
	row, err := s.q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: orgID, UserID: userID})
	if err != nil {
		return "", interpret(err, "membership")
	}
	return Role(row.Role), nil
}

var slugInvalid = regexp.MustCompile(`[^a-z0-9]+`)

// Slugify turns a display name into the lowercase, dash-separated form used in URLs ("Acme Corp." → "acme-corp").
func Slugify(name string) string {
	slug := strings.Trim(slugInvalid.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 63 {
		slug = strings.TrimRight(slug[:63], "-")
	}
	return slug
}

func userFromRow(r db.User) User {
	return User{ID: r.ID, Email: r.Email, Name: r.Name, PasswordHash: r.PasswordHash,
		InstanceAdmin: r.InstanceAdmin, CredentialsVersion: int(r.CredentialsVersion),
		LastLoginAt: r.LastLoginAt, CreatedAt: r.CreatedAt}
}

func organizationFromRow(r db.Organization) Organization {
	return Organization{ID: r.ID, Name: r.Name, Slug: r.Slug, CreatedAt: r.CreatedAt}
}

// SessionDeleteExpired removes ended sessions from PostgreSQL and returns how many. The web server runs it
// periodically (pgxstore's own sweeper is left off: it races with its own StopCleanup).
func (s *Store) SessionDeleteExpired(ctx context.Context) (int64, error) {
	n, err := s.q.SessionDeleteExpired(ctx)
	return n, interpret(err, "sessions")
}
