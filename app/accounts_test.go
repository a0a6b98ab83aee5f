package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

const accountPassword = "correct horse battery"

// accountsBundle is a database, the use cases over it on a clock the test moves, and a real SMTP server when
// asked for.
type accountsBundle struct {
	app   *app.App
	st    *store.Store
	clock *atomic.Int64
	mail  *mailtest.Server
}

func setupAccounts(t *testing.T, withMail bool) *accountsBundle {
	t.Helper()
	st, _ := newStore(t)
	b := &accountsBundle{st: st, clock: &atomic.Int64{}}
	b.clock.Store(time.Now().UnixNano())
	cfg := app.Config{Store: st, BaseURL: &url.URL{Scheme: "https", Host: "cm.example.com"},
		Now: func() time.Time { return time.Unix(0, b.clock.Load()) }, PasswordCost: bcrypt.MinCost}
	if withMail {
		b.mail = mailtest.Start(t, mailtest.Options{})
		mcfg, err := mail.ParseURL(b.mail.URL("ConcertMaster%20%3Cnoreply@example.com%3E"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Mailer = mail.NewSender(mcfg)
		if cfg.OutboxKeys, _, err = app.OutboxKeyrings(testSecretKey, ""); err != nil {
			t.Fatal(err)
		}
		startOutbox(t, st, app.OutboxWorkerConfig{Mailer: cfg.Mailer, OutboxKeys: cfg.OutboxKeys})
	}
	b.app = app.New(cfg)
	return b
}

// from is an anonymous request's actor at addr.
func from(addr string) store.Actor { return store.Actor{RemoteIP: netip.MustParseAddr(addr)} }

// signUp creates an account through the use case and returns it as its browser session's caller.
func (b *accountsBundle) signUp(t *testing.T, email string) app.Caller {
	t.Helper()
	u, org, err := b.app.Accounts.SignUp(context.Background(), from("192.0.2.200"), app.Registration{Name: "Ann",
		Email: email, Password: accountPassword, Organization: "Ann's " + uuid.NewString()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	return app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: org.ID, Role: authz.RoleOwner, Session: true},
		Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: org.Name}
}

func TestAccountsSignUp(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, false)
	ctx := context.Background()
	ann := b.signUp(t, "ann@example.com")
	if ann.OrgName == "" {
		t.Fatal("no organization")
	}
	valid := app.Registration{Name: "Bob", Email: "bob@example.com", Password: accountPassword, Organization: "Bob Inc"}
	tests := []struct {
		name   string
		change func(*app.Registration)
		field  string
	}{
		{"an e-mail with an account", func(r *app.Registration) { r.Email = " ANN@example.com " }, "email"},
		{"not an e-mail", func(r *app.Registration) { r.Email = "bob" }, "email"},
		{"a short password", func(r *app.Registration) { r.Password = "short" }, "password"},
		{"an organization without a letter", func(r *app.Registration) { r.Organization = "!!!" }, "organization"},
		{"no name", func(r *app.Registration) { r.Name = "  " }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			tt.change(&in)
			_, _, err := b.app.Accounts.SignUp(ctx, from("192.0.2.1"), in)
			wantFault(t, err, fault.Invalid, tt.field)
		})
	}
	// Sign-ups are limited per address: the taken e-mail (above) counted, the invalid ones did not; other addresses
	// are not affected.
	for i := range 10 - 1 {
		in := valid
		in.Email = "bob" + uuid.NewString()[:8] + "@example.com"
		if _, _, err := b.app.Accounts.SignUp(ctx, from("192.0.2.1"), in); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	_, _, err := b.app.Accounts.SignUp(ctx, from("192.0.2.1"), valid)
	wantFault(t, err, fault.RateLimited, "")
	if _, _, err := b.app.Accounts.SignUp(ctx, from("192.0.2.2"), valid); err != nil {
		t.Fatal(err)
	}
}

// TestAccountsSignInLimits: failures from one address lock that address out of that account (the right password
// included), not the owner elsewhere; successful sign-ins count against nothing; the window ends.
func TestAccountsSignInLimits(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, false)
	ctx := context.Background()
	ann := b.signUp(t, "ann@example.com")
	attacker, home := from("198.51.100.7"), from("203.0.113.9")
	right := app.Credentials{Email: "ann@example.com", Password: accountPassword}
	for i := range app.SignInLimitAccountAddress {
		_, err := b.app.Accounts.SignIn(ctx, attacker, app.Credentials{Email: "ann@example.com", Password: "guess"})
		if fault.CodeOf(err) != fault.Unauthorized {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	_, err := b.app.Accounts.SignIn(ctx, attacker, right)
	if wait, ok := fault.RetryAfter(err); fault.CodeOf(err) != fault.RateLimited || !ok || wait <= 0 || wait > app.SignInWindowAccountAddress {
		t.Fatalf("past the limit: %v", err)
	}
	_, err = b.app.Accounts.SignInAPI(ctx, attacker, right)
	wantFault(t, err, fault.RateLimited, "")
	for i := range app.SignInLimitAccountAddress + 2 {
		signedIn, err := b.app.Accounts.SignIn(ctx, home, right)
		if err != nil || signedIn.User.ID != ann.Principal.UserID || signedIn.OrganizationID != ann.Principal.OrgID {
			t.Fatalf("the owner's sign-in %d from home: %+v, %v", i+1, signedIn, err)
		}
	}
	b.clock.Add(int64(app.SignInWindowAccountAddress))
	if _, err := b.app.Accounts.SignIn(ctx, attacker, right); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	var failures int
	if err := b.st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'session.login_failed'`).Scan(&failures); err != nil {
		t.Fatal(err)
	}
	if failures != app.SignInLimitAccountAddress {
		t.Fatalf("%d failed sign-ins audited", failures)
	}
}

func TestAccountsSignInRefusals(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, false)
	ctx := context.Background()
	b.signUp(t, "ann@example.com")
	other := uuid.New()
	tests := []struct {
		name  string
		in    app.Credentials
		code  fault.Code
		field string
	}{
		{"nothing given", app.Credentials{}, fault.Invalid, "password"},
		{"an unknown e-mail", app.Credentials{Email: "nobody@example.com", Password: accountPassword}, fault.Unauthorized, ""},
		{"a wrong password", app.Credentials{Email: "ann@example.com", Password: "nope"}, fault.Unauthorized, ""},
		{"an organization of someone else", app.Credentials{Email: "ann@example.com", Password: accountPassword,
			OrganizationID: &other}, fault.Invalid, "organization_id"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.app.Accounts.SignInAPI(ctx, from(fmt.Sprintf("192.0.2.%d", i+1)), tt.in)
			wantFault(t, err, tt.code, tt.field)
		})
	}
	// The two wrong answers are one and the same.
	_, unknown := b.app.Accounts.SignIn(ctx, from("192.0.2.50"), tests[1].in)
	_, wrong := b.app.Accounts.SignIn(ctx, from("192.0.2.50"), tests[2].in)
	if unknown.Error() != wrong.Error() {
		t.Fatalf("%q differs from %q", unknown, wrong)
	}
}

// TestAccountsAPITokens signs in through the API, rotates the refresh token, catches a reuse and signs out.
func TestAccountsAPITokens(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, false)
	ctx := context.Background()
	ann := b.signUp(t, "ann@example.com")
	actor := from("192.0.2.10")
	first, err := b.app.Accounts.SignInAPI(ctx, actor, app.Credentials{Email: "ann@example.com", Password: accountPassword,
		OrganizationID: &ann.Principal.OrgID})
	if err != nil || !strings.HasPrefix(first.RefreshToken, auth.RefreshTokenPrefix) || first.OrganizationID != ann.Principal.OrgID {
		t.Fatalf("API sign-in: %+v, %v", first, err)
	}
	_, err = b.app.Accounts.RefreshTokens(ctx, actor, "")
	wantFault(t, err, fault.Invalid, "refresh_token")
	second, err := b.app.Accounts.RefreshTokens(ctx, actor, first.RefreshToken)
	if err != nil || second.RefreshToken == first.RefreshToken || second.User.ID != ann.Principal.UserID {
		t.Fatalf("refresh: %+v, %v", second, err)
	}
	// The rotated token again: its whole family ends, the live one with it.
	_, err = b.app.Accounts.RefreshTokens(ctx, actor, first.RefreshToken)
	wantFault(t, err, fault.Unauthorized, "")
	_, err = b.app.Accounts.RefreshTokens(ctx, actor, second.RefreshToken)
	wantFault(t, err, fault.Unauthorized, "")

	third, err := b.app.Accounts.SignInAPI(ctx, actor, app.Credentials{Email: "ann@example.com", Password: accountPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.app.Accounts.SignOutAPI(ctx, actor, third.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = b.app.Accounts.RefreshTokens(ctx, actor, third.RefreshToken)
	wantFault(t, err, fault.Unauthorized, "")
	if err := b.app.Accounts.SignOutAPI(ctx, actor, third.RefreshToken); err != nil {
		t.Fatalf("signing out twice: %v", err)
	}
}

var resetLink = regexp.MustCompile(`https://cm\.example\.com/reset-password\?token=(cm_lnk_[A-Za-z0-9_-]+)`)

func TestAccountsPasswordReset(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, true)
	ctx := context.Background()
	b.signUp(t, "ann@example.com")
	actor := from("192.0.2.20")
	err := b.app.Accounts.RequestPasswordReset(ctx, actor, "not an address")
	wantFault(t, err, fault.Invalid, "email")
	for _, email := range []string{"nobody@example.com", " ANN@example.com "} {
		if err := b.app.Accounts.RequestPasswordReset(ctx, actor, email); err != nil {
			t.Fatalf("reset for %s: %v", email, err)
		}
	}
	waitFor(t, "the reset mail", func() bool { n, err := b.st.OutgoingMessagesUnsettled(ctx); return err == nil && n == 0 })
	sent := b.mail.Messages()
	if len(sent) != 1 || len(sent[0].Recipients) != 1 || sent[0].Recipients[0] != "ann@example.com" {
		t.Fatalf("%d mails sent (nobody@ must get none), the first to %v", len(sent), sent[0].Recipients)
	}
	_, body := sent[0].Parsed(t)
	text, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	if err != nil || !resetLink.Match(text) {
		t.Fatalf("no link in the mail (%v):\n%s", err, text)
	}
	token := string(resetLink.FindSubmatch(text)[1])
	if err := b.app.Accounts.CheckPasswordReset(ctx, token); err != nil {
		t.Fatal(err)
	}
	const newPassword = "a brand new password"
	_, err = b.app.Accounts.ResetPassword(ctx, actor, app.PasswordReset{Token: token, Password: newPassword, Confirm: "typo"})
	wantFault(t, err, fault.Invalid, "confirm")
	if _, err := b.app.Accounts.ResetPassword(ctx, actor, app.PasswordReset{Token: token, Password: newPassword,
		Confirm: newPassword}); err != nil {
		t.Fatal(err)
	}
	_, err = b.app.Accounts.ResetPassword(ctx, actor, app.PasswordReset{Token: token, Password: newPassword, Confirm: newPassword})
	wantFault(t, err, fault.NotFound, "")
	wantFault(t, b.app.Accounts.CheckPasswordReset(ctx, token), fault.NotFound, "")
	if _, err := b.app.Accounts.SignIn(ctx, actor, app.Credentials{Email: "ann@example.com", Password: newPassword}); err != nil {
		t.Fatalf("sign-in with the new password: %v", err)
	}
	// Three requests an hour per account, whatever the address.
	for range 2 {
		_ = b.app.Accounts.RequestPasswordReset(ctx, from("192.0.2.21"), "ann@example.com")
	}
	err = b.app.Accounts.RequestPasswordReset(ctx, from("192.0.2.22"), "ann@example.com")
	wantFault(t, err, fault.RateLimited, "")
}

// TestAccountsOwnAccount: the use cases of a signed-in person's own account, and their refusals.
func TestAccountsOwnAccount(t *testing.T) {
	t.Parallel()
	b := setupAccounts(t, false)
	ctx := context.Background()
	ann := b.signUp(t, "ann@example.com")
	var anonymous app.Caller

	_, err := b.app.Accounts.UpdateProfile(ctx, anonymous, "Mallory")
	wantFault(t, err, fault.Unauthorized, "")
	_, err = b.app.Accounts.UpdateProfile(ctx, ann, " ")
	wantFault(t, err, fault.Invalid, "name")
	if u, err := b.app.Accounts.UpdateProfile(ctx, ann, " Ann B. "); err != nil || u.Name != "Ann B." {
		t.Fatalf("rename: %+v, %v", u, err)
	}

	err = b.app.Accounts.ConfirmPassword(ctx, ann, "wrong")
	wantFault(t, err, fault.Invalid, "password")
	if err := b.app.Accounts.ConfirmPassword(ctx, ann, accountPassword); err != nil {
		t.Fatal(err)
	}

	const next = "another long password"
	_, err = b.app.Accounts.ChangePassword(ctx, anonymous, app.PasswordChange{Current: accountPassword, Password: next, Confirm: next})
	wantFault(t, err, fault.Unauthorized, "")
	_, err = b.app.Accounts.ChangePassword(ctx, ann, app.PasswordChange{Current: "wrong", Password: next, Confirm: next})
	wantFault(t, err, fault.Invalid, "current_password")
	_, err = b.app.Accounts.ChangePassword(ctx, ann, app.PasswordChange{Password: "short", Confirm: "shirt"})
	wantFault(t, err, fault.Invalid, "current_password")
	if fields := fault.As(err).Fields; len(fields) != 3 {
		t.Fatalf("every field at once: %+v", fields)
	}
	before, err := b.st.UserGet(ctx, ann.Principal.UserID)
	if err != nil {
		t.Fatal(err)
	}
	after, err := b.app.Accounts.ChangePassword(ctx, ann, app.PasswordChange{Current: accountPassword, Password: next, Confirm: next})
	if err != nil || after.CredentialsVersion == before.CredentialsVersion {
		t.Fatalf("change: %+v, %v", after, err)
	}

	// Another organization: NotFound until Ann is a member.
	bob := newCaller(t, b.st, "bob@example.com", "Bob Inc", store.RoleOwner)
	wantFault(t, b.app.Accounts.SwitchOrganization(ctx, ann, bob.Principal.OrgID), fault.NotFound, "")
	if err := b.app.Accounts.SwitchOrganization(ctx, ann, ann.Principal.OrgID); err != nil {
		t.Fatal(err)
	}
	if err := b.app.Accounts.SignOut(ctx, ann); err != nil {
		t.Fatal(err)
	}
}
