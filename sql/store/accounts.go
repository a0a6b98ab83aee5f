package store

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/sql/db"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	LastLoginAt   *time.Time
	CreatedAt     time.Time
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
}

// UserCreateWithOrganization creates a user and gives them Role in the organization named OrganizationName,
// creating that organization when no organization has its slug yet. It all happens in one transaction.
func (s *Store) UserCreateWithOrganization(ctx context.Context, in NewUser) (User, Organization, error) {
	var user User
	var org Organization
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.UserCreate(ctx, db.UserCreateParams{
			Email: strings.TrimSpace(in.Email), Name: strings.TrimSpace(in.Name),
			PasswordHash: in.PasswordHash, InstanceAdmin: in.InstanceAdmin,
		})
		if err != nil {
			return interpret(err, "user")
		}
		user = userFromRow(row)

		slug := Slugify(in.OrganizationName)
		orgRow, err := q.OrganizationGetBySlug(ctx, slug)
		if err == pgx.ErrNoRows {
			orgRow, err = q.OrganizationCreate(ctx, db.OrganizationCreateParams{
				Name: strings.TrimSpace(in.OrganizationName), Slug: slug,
			})
		}
		if err != nil {
			return interpret(err, "organization")
		}
		org = organizationFromRow(orgRow)

		_, err = q.MembershipUpsert(ctx, db.MembershipUpsertParams{
			OrganizationID: org.ID, UserID: user.ID, Role: string(in.Role),
		})
		return interpret(err, "membership")
	})
	return user, org, err
}

// UserGetByEmail finds a user by e-mail address, ignoring case.
func (s *Store) UserGetByEmail(ctx context.Context, email string) (User, error) {
	row, err := s.q.UserGetByEmail(ctx, email)
	if err != nil {
		return User{}, interpret(err, "user")
	}
	return userFromRow(row), nil
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
		InstanceAdmin: r.InstanceAdmin, LastLoginAt: r.LastLoginAt, CreatedAt: r.CreatedAt}
}

func organizationFromRow(r db.Organization) Organization {
	return Organization{ID: r.ID, Name: r.Name, Slug: r.Slug, CreatedAt: r.CreatedAt}
}
