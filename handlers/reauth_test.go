package handlers

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/sql/store"
)

func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /reauth": {get("/reauth?next=%2Fsettings%2Fmembers"), signedIn(200)},
		"POST /reauth": {form("POST", "/reauth", url.Values{"password": {testPassword}, "next": {"/settings/members"}}),
			signedIn(303)},
	})
}

// apiToken creates a personal token with scopes for a fixture user, as the tokens page would.
func (h *harness) apiToken(w *world, who string, scopes ...string) string {
	h.t.Helper()
	token, hash := auth.NewToken(auth.PersonalTokenPrefix)
	if _, err := h.st.APITokenCreate(context.Background(), store.NewAPIToken{OrganizationID: w.orgOf(who),
		UserID: w.users[who].ID, Name: who + " " + strings.Join(scopes, "+"), TokenHash: hash,
		Prefix: auth.DisplayPrefix(token), Scopes: scopes}, store.Actor{}); err != nil {
		h.t.Fatal(err)
	}
	h.remember(token)
	return token
}

// TestMakingSomeoneOwnerNeedsAFreshPassword is the regression test of finding 6: no token (not even an owner's,
// admin-scoped) invites an owner or makes someone owner, and a browser session does so only within five minutes
// of re-entering its password.
func TestMakingSomeoneOwnerNeedsAFreshPassword(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h := newHarness(t, func(d *Deps, _ *harness) { d.Now = func() time.Time { return time.Unix(0, clock.Load()) } })
	w := h.newWorld()

	// The attack of the finding: a leaked personal token invites an owner. Refused, whatever the scopes; so is an
	// owner's own JWT, and a role change to owner.
	pat := h.apiToken(w, "owner", "admin")
	jwt := h.accessToken(w.users["owner"], w.orgA.ID)
	for _, bearer := range []string{pat, jwt} {
		r := h.do(request{Method: "POST", Path: "/api/v1/invitations", Bearer: bearer, JSON: `{"email":"boss@evil.example","role":"owner"}`})
		if r.StatusCode != 403 || !strings.Contains(r.body, "re-enter your password to invite an owner") {
			t.Fatalf("owner invitation over the API = %d %s", r.StatusCode, r.body)
		}
		r = h.do(request{Method: "PUT", Path: "/api/v1/members/" + w.users["admin"].ID.String(), Bearer: bearer, JSON: `{"role":"owner"}`})
		if r.StatusCode != 403 || !strings.Contains(r.body, "re-enter your password to make someone owner") {
			t.Fatalf("promotion over the API = %d %s", r.StatusCode, r.body)
		}
	}
	// An admin-scoped token still does the rest of its owner's work.
	if r := h.do(request{Method: "POST", Path: "/api/v1/invitations", Bearer: pat, JSON: `{"email":"helper@example.com","role":"admin"}`}); r.StatusCode != 201 {
		t.Fatalf("admin invitation with an admin-scoped token = %d %s", r.StatusCode, r.body)
	}

	// The browser: refused with a way to re-enter the password.
	cookie := h.sessionCookie(w.users["owner"], w.orgA.ID)
	promote := func(c string) response {
		return h.do(request{Method: "POST", Path: "/settings/members/" + w.users["admin"].ID.String() + "/role",
			Cookie: sessionCookieOf(c), Form: url.Values{"role": {"owner"}}})
	}
	inviteOwner := func(c string) response {
		return h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: sessionCookieOf(c),
			Form: url.Values{"email": {"second-owner@example.com"}, "role": {"owner"}}})
	}
	for _, r := range []response{promote(cookie.Value), inviteOwner(cookie.Value)} {
		d := r.doc(t)
		if r.StatusCode != 403 || !strings.Contains(d.Find(".alert.error").Text(), "re-enter your password") ||
			d.Find(`.alert.error a[href="/reauth?next=%2Fsettings%2Fmembers"]`).Length() != 1 {
			t.Fatalf("%s without a fresh password = %d: %s", r.Request.URL.Path, r.StatusCode, d.Find(".alert").Text())
		}
	}

	// A wrong password is refused and changes nothing; the right one is good for five minutes.
	if r := h.do(request{Method: "POST", Path: "/reauth", Cookie: cookie, Form: url.Values{"password": {"guess"}, "next": {"/settings/members"}}}); r.StatusCode != 422 ||
		r.doc(t).Find("form[action='/reauth']").Length() != 1 {
		t.Fatalf("wrong password = %d", r.StatusCode)
	}
	if r := promote(cookie.Value); r.StatusCode != 403 {
		t.Fatalf("after a wrong password = %d", r.StatusCode)
	}
	r := h.do(request{Method: "POST", Path: "/reauth", Cookie: cookie, Form: url.Values{"password": {testPassword}, "next": {"/settings/members"}}})
	fresh := sessionFrom(r)
	if r.StatusCode != 303 || r.Header.Get("Location") != "/settings/members" || fresh == nil || fresh.Value == cookie.Value {
		t.Fatalf("re-enter the password = %d %q (a new session token: %v)", r.StatusCode, r.Header.Get("Location"), fresh != nil)
	}
	h.remember(fresh.Value)
	if r := inviteOwner(fresh.Value); r.StatusCode != 200 || r.doc(t).Find(".alert.notice.once").Length() != 1 {
		t.Fatalf("owner invitation with a fresh password = %d", r.StatusCode)
	}
	clock.Add(int64(4 * time.Minute))
	if r := promote(fresh.Value); r.StatusCode != 200 {
		t.Fatalf("promotion with a fresh password = %d", r.StatusCode)
	}
	if role, _ := h.st.MembershipRole(context.Background(), w.orgA.ID, w.users["admin"].ID); role != store.RoleOwner {
		t.Fatalf("the admin is %s, want owner", role)
	}
	clock.Add(int64(time.Minute + time.Second))
	if r := h.do(request{Method: "POST", Path: "/settings/members/" + w.users["member"].ID.String() + "/role",
		Cookie: fresh, Form: url.Values{"role": {"owner"}}}); r.StatusCode != 403 {
		t.Errorf("five minutes later = %d, want 403", r.StatusCode)
	}
	if h.auditCount("session.password_confirmed") != 1 {
		t.Error("re-entering the password is not audited")
	}
}

func sessionCookieOf(value string) *http.Cookie {
	return &http.Cookie{Name: httpx.SessionCookieName, Value: value}
}

// TestOwnerInvitationNeedsItsInviterStillOwner: an owner invitation whose inviter is no longer an owner (a demoted
// owner, or one made from a token before the fix and since cleaned up) cannot be accepted, even anonymously.
func TestOwnerInvitationNeedsItsInviterStillOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	token := h.invitation(w, "heir@example.com", store.RoleOwner) // sent by the owner
	// A second owner, so the first may step down.
	if _, err := h.st.MemberChangeRole(context.Background(), w.orgA.ID, w.users["admin"].ID, store.RoleOwner, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.MemberChangeRole(context.Background(), w.orgA.ID, w.users["owner"].ID, store.RoleMember, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	r := h.do(request{Method: "POST", Path: "/invitations/" + token, Form: url.Values{"name": {"Heir"}, "password": {testPassword}}})
	if r.StatusCode != 403 || sessionFrom(r) != nil {
		t.Fatalf("accepting the demoted owner's owner invitation = %d", r.StatusCode)
	}
	if _, err := h.st.UserGetByEmail(context.Background(), "heir@example.com"); err == nil {
		t.Fatal("the refused acceptance created an account")
	}
	// A member invitation from the same (former owner) inviter still works.
	ok := h.invitation(w, "helper@example.com", store.RoleMember)
	if r := h.do(request{Method: "POST", Path: "/invitations/" + ok, Form: url.Values{"name": {"Helper"}, "password": {testPassword}}}); r.StatusCode != 303 {
		t.Fatalf("member invitation = %d", r.StatusCode)
	}
}

// TestTokenScopes walks the scope ladder: read < run < write < admin, and no scope below admin changes members,
// invites or reads the audit log. Sessions and JWTs carry no scopes.
func TestTokenScopes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	tokens := map[string]string{}
	for _, sc := range []string{"read", "run", "write", "admin"} {
		tokens[sc] = h.apiToken(w, "owner", sc)
	}
	cases := []struct {
		method, path, body string
		need               string // the least scope that may
	}{
		{"GET", "/api/v1/workflows", "", "read"},
		{"GET", "/api/v1/executions", "", "read"},
		{"POST", "/api/v1/workflows", `{"name":"x","definition":{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}}`, "write"},
		{"GET", "/api/v1/me", "", "read"},
		{"GET", "/api/v1/members", "", "read"},
		{"PUT", "/api/v1/members/" + w.users["viewer"].ID.String(), `{"role":"member"}`, "admin"},
		{"POST", "/api/v1/invitations", `{"email":"someone@example.com","role":"viewer"}`, "admin"},
		{"GET", "/api/v1/audit", "", "admin"},
	}
	order := []string{"read", "run", "write", "admin"}
	for _, c := range cases {
		for i, sc := range order {
			allowed := i >= indexOf(order, c.need)
			r := h.do(request{Method: c.method, Path: c.path, Bearer: tokens[sc], JSON: c.body})
			if allowed && r.StatusCode >= 400 || !allowed && r.StatusCode != 403 {
				t.Errorf("%s %s with a %s token = %d %s", c.method, c.path, sc, r.StatusCode, r.body)
			}
			if !allowed && !strings.Contains(r.body, `lacks the \"`+c.need+`\" scope`) {
				t.Errorf("%s %s with a %s token: the refusal does not name the scope: %s", c.method, c.path, sc, r.body)
			}
		}
	}
	// The tokens page offers the scopes and lists each token's.
	cookie := h.sessionCookie(w.users["owner"], w.orgA.ID)
	page := h.do(request{Method: "GET", Path: "/settings/tokens", Cookie: cookie}).doc(t)
	if page.Find("select[name=scopes] option").Length() != 4 || !strings.Contains(page.Find("table.tokens").Text(), "write") {
		t.Errorf("tokens page: %d scope options", page.Find("select[name=scopes] option").Length())
	}
	if r := h.do(request{Method: "POST", Path: "/settings/tokens", Cookie: cookie,
		Form: url.Values{"name": {"x"}, "expires_in_days": {"30"}, "scopes": {"root"}}}); r.StatusCode != 422 ||
		!strings.Contains(strings.ToLower(r.doc(t).Find(".field-error").Text()), "unknown scope") {
		t.Errorf("unknown scope on the page = %d", r.StatusCode)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
