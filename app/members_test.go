package app_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestMembersUseCases runs the members use cases against a real database, as a page or the API would call them,
// and checks who may do what and which fault a refusal is.
func TestMembersUseCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	a := app.New(app.Config{Store: st, BaseURL: &url.URL{Scheme: "https", Host: "cm.example.com"}, PasswordCost: bcrypt.MinCost})
	member := func(email string, role store.Role) app.Caller {
		u, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: email, Name: email,
			PasswordHash: "x", OrganizationName: "Acme", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: org.ID, Role: authz.Role(role), Session: true},
			Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: org.Name}
	}
	owner := member("owner@example.com", store.RoleOwner)
	viewer := member("viewer@example.com", store.RoleViewer)

	tests := []struct {
		name   string
		caller app.Caller
		in     app.Invitation
		code   fault.Code
		stale  bool
	}{
		{"an owner invites a member", owner, app.Invitation{Email: " new@example.com ", Role: "member"}, "", false},
		{"a viewer may not invite", viewer, app.Invitation{Email: "x@example.com", Role: "member"}, fault.Forbidden, false},
		{"a bad address names its field", owner, app.Invitation{Email: "nope", Role: "member"}, fault.Invalid, false},
		{"inviting an owner takes a re-entered password", owner, app.Invitation{Email: "o2@example.com", Role: "owner"}, fault.Forbidden, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invited, err := a.Members.Invite(ctx, tt.caller, tt.in)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if invited.Invitation.Email != "new@example.com" || invited.MailSent ||
					len(invited.Link) < len("https://cm.example.com/invitations/")+10 {
					t.Fatalf("invited %+v", invited)
				}
				return
			}
			if fault.CodeOf(err) != tt.code || errors.Is(err, authz.ErrStalePassword) != tt.stale {
				t.Fatalf("err %v, want %s (stale password %v)", err, tt.code, tt.stale)
			}
			if tt.code == fault.Invalid && fault.As(err).Fields[0].Field != "email" {
				t.Fatalf("fields %+v", fault.As(err).Fields)
			}
		})
	}

	list, err := a.Members.List(ctx, owner)
	if err != nil || len(list.Members) != 2 || len(list.Invitations) != 1 {
		t.Fatalf("owner's list %+v, %v", list, err)
	}
	if list, err := a.Members.List(ctx, viewer); err != nil || len(list.Invitations) != 0 {
		t.Fatalf("a viewer sees invitations: %+v, %v", list, err)
	}
	if _, err := a.Members.ChangeRole(ctx, owner, viewer.Principal.UserID, "emperor"); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("a bad role: %v", err)
	}
	if m, err := a.Members.ChangeRole(ctx, owner, viewer.Principal.UserID, "admin"); err != nil || m.Role != store.RoleAdmin {
		t.Fatalf("change role: %+v, %v", m, err)
	}
	if _, _, err := a.Members.Remove(ctx, owner, owner.Principal.UserID); fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("the last owner left: %v", err)
	}
}

// newStore returns a store over a fresh migrated database of its own, and the database's pool.
func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	return st, pool
}
