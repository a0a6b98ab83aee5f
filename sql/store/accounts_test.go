package store_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// accountsSetup is a store with an organization owned by one user and a second user as member.
func accountsSetup(t *testing.T) (*store.Store, *pgxpool.Pool, store.Organization, store.User, store.User) {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owner, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "owner@example.com", Name: "Owner",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner, By: store.SystemActor})
	if err != nil {
		t.Fatal(err)
	}
	member, _, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "member@example.com", Name: "Member",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	return st, pool, org, owner, member
}

func countAudit(t *testing.T, pool *pgxpool.Pool, action string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = $1", action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditRowsShareTheChangesTransaction proves both directions: a change that fails leaves no audit row, and an
// audit row that cannot be written takes the change back with it.
func TestAuditRowsShareTheChangesTransaction(t *testing.T) {
	t.Parallel()
	st, pool, org, owner, member := accountsSetup(t)
	ctx := context.Background()
	by := store.Actor{UserID: &owner.ID, RemoteIP: netip.MustParseAddr("203.0.113.9"), RequestID: "req-1"}

	// A refused change (the last owner) writes nothing.
	if _, err := st.MemberChangeRole(ctx, org.ID, owner.ID, store.RoleAdmin, by); fault.CodeOf(err) != fault.Conflict {
		t.Fatalf("demoting the last owner: %v", err)
	}
	if n := countAudit(t, pool, "member.role_changed"); n != 0 {
		t.Fatalf("%d audit rows for a change that did not happen", n)
	}

	// An audit row that cannot be written (its actor does not exist) rolls the change back.
	ghost := uuid.New()
	if _, err := st.MemberChangeRole(ctx, org.ID, member.ID, store.RoleViewer, store.Actor{UserID: &ghost}); err == nil {
		t.Fatal("the change succeeded although its audit row could not be written")
	}
	if role, _ := st.MembershipRole(ctx, org.ID, member.ID); role != store.RoleMember {
		t.Fatalf("role is %s: the change survived its failed audit row", role)
	}

	// A successful change writes exactly one row, with who, where and what.
	if _, err := st.MemberChangeRole(ctx, org.ID, member.ID, store.RoleViewer, by); err != nil {
		t.Fatal(err)
	}
	entries, next, err := st.AuditList(ctx, store.AuditFilter{OrganizationID: org.ID, ActionPrefix: "member."})
	if err != nil || next != nil || len(entries) != 1 {
		t.Fatalf("audit list: %v %v %d", err, next, len(entries))
	}
	e := entries[0]
	if *e.ActorUserID != owner.ID || e.RemoteIP.String() != "203.0.113.9" || e.RequestID != "req-1" ||
		e.TargetID != member.ID.String() || string(e.Before) != `{"role": "member"}` || string(e.After) != `{"role": "viewer"}` {
		t.Errorf("audit entry %+v before=%s after=%s", e, e.Before, e.After)
	}
	// The command-line set-up was audited too.
	if n := countAudit(t, pool, "user.created"); n != 2 {
		t.Errorf("user.created rows = %d, want 2", n)
	}
}

func TestLastOwnerIsKeptUnderConcurrency(t *testing.T) {
	t.Parallel()
	st, _, org, owner, member := accountsSetup(t)
	ctx := context.Background()
	if _, err := st.MemberChangeRole(ctx, org.ID, member.ID, store.RoleOwner, store.Actor{UserID: &owner.ID}); err != nil {
		t.Fatal(err)
	}
	// Two owners remove each other at once: the organization's lock lets one win, the other hits the rule.
	errs := make(chan error, 2)
	go func() { _, err := st.MemberRemove(ctx, org.ID, owner.ID, store.Actor{UserID: &member.ID}); errs <- err }()
	go func() { _, err := st.MemberRemove(ctx, org.ID, member.ID, store.Actor{UserID: &owner.ID}); errs <- err }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("both or neither removal succeeded: %v, %v", e1, e2)
	}
	members, _ := st.MemberList(ctx, org.ID)
	if len(members) != 1 || members[0].Role != store.RoleOwner {
		t.Fatalf("members left: %+v", members)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	st, pool, org, owner, _ := accountsSetup(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if err := st.APILogin(ctx, owner.ID, org.ID, []byte("h1"), exp, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if g, err := st.RefreshTokenRotate(ctx, []byte("h1"), []byte("h2"), exp, store.Actor{}); err != nil || g.UserID != owner.ID {
		t.Fatalf("rotate: %+v %v", g, err)
	}
	if _, err := st.RefreshTokenRotate(ctx, []byte("h1"), []byte("h3"), exp, store.Actor{}); fault.CodeOf(err) != fault.Unauthorized {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := st.RefreshTokenRotate(ctx, []byte("h2"), []byte("h4"), exp, store.Actor{}); fault.CodeOf(err) != fault.Unauthorized {
		t.Fatalf("the family's live token survived a reuse: %v", err)
	}
	if n := countAudit(t, pool, "session.refresh_reused"); n != 1 {
		t.Errorf("reuse audited %d times", n)
	}
	var live int
	pool.QueryRow(ctx, "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL").Scan(&live)
	if live != 0 {
		t.Errorf("%d refresh tokens still live", live)
	}
}

func TestSignUpNeverJoinsAnExistingOrganization(t *testing.T) {
	t.Parallel()
	st, _, org, _, _ := accountsSetup(t)
	u, org2, err := st.UserSignUp(context.Background(), store.SignUp{Email: "new@example.com", Name: "New",
		PasswordHash: "x", OrganizationName: "Acme"}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if org2.ID == org.ID || org2.Slug == org.Slug || org2.Name != "Acme" {
		t.Fatalf("sign-up landed in %+v (existing %+v)", org2, org)
	}
	if role, err := st.MembershipRole(context.Background(), org2.ID, u.ID); err != nil || role != store.RoleOwner {
		t.Errorf("role %s %v", role, err)
	}
}
