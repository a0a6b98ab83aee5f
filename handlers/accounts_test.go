package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

// fromIP makes a request come from addr through the trusted proxy (the harness trusts 127.0.0.0/8).
func fromIP(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

func (h *harness) login(email, password, ip string) response {
	h.t.Helper()
	return h.do(request{Method: "POST", Path: "/login", Form: url.Values{"email": {email}, "password": {password}},
		Header: fromIP(ip)})
}

func TestSignUpSignInAndOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	// Inline field errors, the typed values kept, and never the password.
	resp := h.do(request{Method: "POST", Path: "/signup", Form: url.Values{"name": {"Ada"}, "email": {"not-an-email"},
		"password": {"short"}, "organization": {"!!!"}}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad sign-up = %d", resp.StatusCode)
	}
	doc := resp.doc(t)
	for _, field := range []string{"email", "password", "organization"} {
		if doc.Find("#"+field+"-error").Text() == "" || doc.Find("#"+field).AttrOr("aria-invalid", "") != "true" {
			t.Errorf("no inline error for %s", field)
		}
	}
	if v, _ := doc.Find("#name").Attr("value"); v != "Ada" {
		t.Errorf("name not kept: %q", v)
	}
	if _, has := doc.Find("#password").Attr("value"); has || strings.Contains(resp.body, "short") {
		t.Error("the password was echoed back")
	}

	resp = h.do(request{Method: "POST", Path: "/signup", Form: url.Values{"name": {"Ada"}, "email": {"ada@example.com"},
		"password": {testPassword}, "organization": {"Ada's Lab"}}})
	cookie := sessionFrom(resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || cookie == nil {
		t.Fatalf("sign-up = %d %q cookie %v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	var hash string
	if err := h.pool.QueryRow(context.Background(), "SELECT password_hash FROM users WHERE email = 'ada@example.com'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	// At the cost the server was given (the harness lowers it; auth's own test checks the default).
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.MinCost || strings.Contains(hash, testPassword) {
		t.Errorf("stored password %q is not a bcrypt hash at the configured cost", hash)
	}

	dash := h.do(request{Method: "GET", Path: "/", Cookie: cookie})
	d := dash.doc(t)
	if dash.StatusCode != 200 || !strings.Contains(d.Find("main#content h1").Text(), "Ada") ||
		d.Find(`header nav a[aria-current="page"]`).Text() != "Dashboard" || d.Find(".account .org").Text() != "Ada's Lab" {
		t.Errorf("dashboard: %d %q", dash.StatusCode, d.Find("header").Text())
	}
	if d.Find(`script[src^="/static/js/htmx.min.js?v="]`).Length() != 1 || d.Find("script:not([src])").Length() != 0 {
		t.Error("htmx must come from /static and no inline script may exist (CSP)")
	}

	// Taken e-mail: a field error.
	resp = h.do(request{Method: "POST", Path: "/signup", Form: url.Values{"name": {"Ada"}, "email": {"ADA@example.com"},
		"password": {testPassword}, "organization": {"Other"}}})
	if resp.StatusCode != 422 || !strings.Contains(resp.doc(t).Find("#email-error").Text(), "exists") {
		t.Errorf("duplicate e-mail = %d", resp.StatusCode)
	}

	out := h.do(request{Method: "POST", Path: "/logout", Form: url.Values{}, Cookie: cookie})
	if out.StatusCode != 303 || out.Header.Get("Location") != "/login" {
		t.Fatalf("logout = %d", out.StatusCode)
	}
	if again := h.do(request{Method: "GET", Path: "/", Cookie: cookie}); again.StatusCode != 303 ||
		!strings.HasPrefix(again.Header.Get("Location"), "/login") {
		t.Errorf("the session outlived sign-out: %d", again.StatusCode)
	}
	if h.auditCount("user.signed_up") != 1 || h.auditCount("session.logout") != 1 {
		t.Error("sign-up or sign-out not audited")
	}
}

// randomIP is a random private address, so the counts an earlier run left in Redis never meet this run's.
func randomIP() string {
	b := uuid.New()
	return fmt.Sprintf("10.%d.%d.%d", b[0], b[1], b[2]|1)
}

// TestLoginLimitsCountFailuresWhereTheyHappen is the regression test of finding 9: guesses from one address lock
// that address out of that account, not the owner signing in from elsewhere; successful sign-ins count against
// nothing; a per-account ceiling stops a guesser spread over many addresses and a per-address limit one address
// trying many accounts. It runs over both limiters.
func TestLoginLimitsCountFailuresWhereTheyHappen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		limiter func(t *testing.T) ratelimit.Limiter // nil: the in-process one, on the harness's clock
	}{
		{"memory", nil},
		{"redis", func(t *testing.T) ratelimit.Limiter {
			url := os.Getenv("TEST_REDIS_URL")
			if url == "" {
				t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis")
			}
			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opts)
			t.Cleanup(func() { c.Close() })
			return ratelimit.NewRedis(c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			h := newHarness(t, func(d *Deps, h *harness) {
				d.Now = func() time.Time { return time.Unix(0, clock.Load()) }
				if tc.limiter != nil {
					d.Limiter = tc.limiter(h.t)
				}
			})
			w := h.newWorld()
			owner := w.users["owner"].Email
			attacker, home := randomIP(), randomIP()

			// Ten wrong guesses from the attacker's address: the eleventh attempt from there is refused, even with the
			// right password.
			for i := range app.SignInLimitAccountAddress {
				if resp := h.login(owner, "wrong password "+strconv.Itoa(i), attacker); resp.StatusCode != 401 {
					t.Fatalf("guess %d = %d", i+1, resp.StatusCode)
				} else if !strings.Contains(resp.doc(t).Find(".alert.error").Text(), "not right") {
					t.Fatalf("guess %d: no error shown", i+1)
				}
			}
			resp := h.login(owner, testPassword, attacker)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("11th attempt from the guessing address = %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); secs <= 0 || secs > 15*60 {
				t.Errorf("Retry-After %d", secs)
			}
			api := h.do(request{Method: "POST", Path: "/api/v1/auth/token", Header: fromIP(attacker),
				JSON: `{"email":"` + owner + `","password":"` + testPassword + `"}`})
			if api.StatusCode != 429 || api.Header.Get("Retry-After") == "" || api.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("API sign-in from the guessing address = %d %s", api.StatusCode, api.Header.Get("Content-Type"))
			}

			// The owner, from home, is not locked out; and signs in again and again without counting against anything.
			for i := range app.SignInLimitAccountAddress + 2 {
				if ok := h.login(owner, testPassword, home); ok.StatusCode != 303 || sessionFrom(ok) == nil {
					t.Fatalf("the owner's sign-in %d from another address = %d", i+1, ok.StatusCode)
				}
			}
			if resp := h.login(owner, "a typo", home); resp.StatusCode != 401 {
				t.Errorf("a wrong password after many successful sign-ins = %d, want 401", resp.StatusCode)
			}

			// Per account: a guesser spread over many addresses meets the ceiling, and then the account waits.
			for range app.SignInLimitAccount - app.SignInLimitAccountAddress - 2 {
				if _, _, err := h.srv.kit.Limiter().Allow(context.Background(), "login:acct:"+strings.ToLower(owner), app.SignInLimitAccount, app.SignInWindowAccount); err != nil {
					t.Fatal(err)
				}
			}
			if resp := h.login(owner, "one more guess", randomIP()); resp.StatusCode != 401 {
				t.Fatalf("the hundredth failure = %d", resp.StatusCode)
			}
			if resp := h.login(owner, testPassword, home); resp.StatusCode != 429 {
				t.Errorf("past the per-account ceiling = %d, want 429", resp.StatusCode)
			}

			// Per address: one address trying many accounts.
			spray := randomIP()
			for range app.SignInLimitAddress - 1 {
				if _, _, err := h.srv.kit.Limiter().Allow(context.Background(), "login:ip:"+spray, app.SignInLimitAddress, app.SignInWindowAddress); err != nil {
					t.Fatal(err)
				}
			}
			if resp := h.login("nobody@example.com", "guess", spray); resp.StatusCode != 401 {
				t.Fatalf("the thirtieth failure from one address = %d", resp.StatusCode)
			}
			if resp := h.login(w.users["admin"].Email, testPassword, spray); resp.StatusCode != 429 {
				t.Errorf("address over its limit = %d", resp.StatusCode)
			}
			if resp := h.login(w.users["admin"].Email, testPassword, randomIP()); resp.StatusCode != 303 {
				t.Errorf("the same account from another address = %d", resp.StatusCode)
			}
			if h.auditCount("session.login_failed") < app.SignInLimitAccountAddress {
				t.Error("failed sign-ins are not audited")
			}

			// The windows end: the guessing address may try again (the in-process limiter runs on the test's clock).
			if tc.limiter == nil {
				clock.Add(int64(app.SignInWindowAccount))
				if ok := h.login(owner, testPassword, attacker); ok.StatusCode != 303 {
					t.Errorf("after the windows = %d", ok.StatusCode)
				}
			}
		})
	}
}

func TestCrossSiteFormPostIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	cookie := h.sessionCookie(w.users["owner"], w.orgA.ID)
	invite := url.Values{"email": {"x@example.com"}, "role": {"member"}}
	for name, hdr := range map[string]http.Header{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}},
		"foreign Origin":            {"Origin": {"https://evil.example"}},
		"same-site subdomain":       {"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://evil." + h.srv.deps.BaseURL.Hostname()}},
	} {
		resp := h.do(request{Method: "POST", Path: "/settings/members/invite", Form: invite, Cookie: cookie, Header: hdr})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: cross-site POST = %d, want 403", name, resp.StatusCode)
		}
		resp = h.do(request{Method: "POST", Path: "/login", Form: url.Values{"email": {w.users["owner"].Email},
			"password": {testPassword}}, Header: hdr})
		if resp.StatusCode != http.StatusForbidden || sessionFrom(resp) != nil {
			t.Errorf("%s: cross-site sign-in = %d", name, resp.StatusCode)
		}
	}
	if h.auditCount("invitation.created") != 0 {
		t.Fatal("a refused cross-site request still created an invitation")
	}
	same := h.do(request{Method: "POST", Path: "/settings/members/invite", Form: invite, Cookie: cookie,
		Header: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {h.ts.URL}}})
	if same.StatusCode != 200 {
		t.Errorf("same-origin POST = %d", same.StatusCode)
	}
	// The API is Bearer-authenticated, never by cookie, so a cross-origin call is not a forgery: it is let through
	// (CORS decides what the browser may read).
	apiResp := h.do(request{Method: "POST", Path: "/api/v1/auth/token", Header: http.Header{"Origin": {"https://evil.example"},
		"Sec-Fetch-Site": {"cross-site"}}, JSON: `{"email":"` + w.users["owner"].Email + `","password":"` + testPassword + `"}`})
	if apiResp.StatusCode != 200 || apiResp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("cross-origin API call = %d, ACAO %q", apiResp.StatusCode, apiResp.Header.Get("Access-Control-Allow-Origin"))
	}
	var tok api.TokenResponse
	apiResp.json(t, &tok)
	h.remember(tok.AccessToken, tok.RefreshToken)
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"http", "https"} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			var h *harness
			if base == "https" {
				h = newHarness(t, func(d *Deps, _ *harness) { d.BaseURL, _ = url.Parse("https://cm.example.com") })
			} else {
				h = newHarness(t)
			}
			w := h.newWorld()
			// A session token planted before sign-in (fixation) must not survive it.
			planted := h.sessionCookie(w.users["viewer"], w.orgA.ID)
			resp := h.do(request{Method: "POST", Path: "/login", Cookie: planted,
				Form: url.Values{"email": {w.users["owner"].Email}, "password": {testPassword}}})
			c := sessionFrom(resp)
			if resp.StatusCode != 303 || c == nil {
				t.Fatalf("login = %d", resp.StatusCode)
			}
			h.remember(c.Value)
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != (base == "https") || c.Path != "/" {
				t.Errorf("cookie %+v", c)
			}
			if c.Value == planted.Value {
				t.Error("the session token was not renewed on sign-in")
			}
			if c.MaxAge <= 0 || c.MaxAge > int(DefaultSessionIdleTimeout.Seconds())+1 {
				t.Errorf("cookie lives %ds; the idle timeout is %s", c.MaxAge, DefaultSessionIdleTimeout)
			}
			var n int
			h.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE token = $1", c.Value).Scan(&n)
			if n != 1 {
				t.Error("the session is not in PostgreSQL")
			}
			if base == "https" && resp.Header.Get("Strict-Transport-Security") == "" {
				t.Error("no HSTS under https")
			}
		})
	}
}

func TestFragmentOrFullPageOnHXRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	full := h.do(request{Method: "GET", Path: "/login"})
	if !strings.HasPrefix(full.body, "<!doctype html>") || full.doc(t).Find("main#content form[hx-post='/login']").Length() != 1 {
		t.Fatalf("full page: %.200s", full.body)
	}
	frag := h.do(request{Method: "POST", Path: "/login", Header: http.Header{"Hx-Request": {"true"}},
		Form: url.Values{"email": {w.users["owner"].Email}, "password": {"wrong password"}}})
	if frag.StatusCode != 401 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, "not right") {
		t.Fatalf("fragment: %d %.300s", frag.StatusCode, frag.body)
	}
	ok := h.do(request{Method: "POST", Path: "/login", Header: http.Header{"Hx-Request": {"true"}},
		Form: url.Values{"email": {w.users["owner"].Email}, "password": {testPassword}}})
	if ok.StatusCode != 200 || ok.Header.Get("HX-Redirect") != "/" || sessionFrom(ok) == nil {
		t.Errorf("htmx sign-in = %d HX-Redirect %q", ok.StatusCode, ok.Header.Get("HX-Redirect"))
	}
	h.remember(sessionFrom(ok).Value)
	// A page reached anonymously remembers where the visitor was going, and only local destinations are honoured.
	r := h.do(request{Method: "GET", Path: "/settings/members"})
	if r.StatusCode != 303 || r.Header.Get("Location") != "/login?next=%2Fsettings%2Fmembers" {
		t.Errorf("anonymous members page → %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	for next, want := range map[string]string{"/settings/members": "/settings/members", "//evil.example/": "/",
		"https://evil.example/": "/", "/\\evil.example": "/"} {
		resp := h.do(request{Method: "POST", Path: "/login", Form: url.Values{"email": {w.users["owner"].Email},
			"password": {testPassword}, "next": {next}}})
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next=%q → %q, want %q", next, got, want)
		}
		if c := sessionFrom(resp); c != nil {
			h.remember(c.Value)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, path := range []string{"/login", "/healthz", "/static/css/app.css", "/api/v1/me", "/no-such-page"} {
		resp := h.do(request{Method: "GET", Path: path})
		if got := resp.Header.Get("Content-Security-Policy"); got != httpx.ContentSecurityPolicy ||
			!strings.Contains(got, "frame-ancestors 'none'") || strings.Contains(got, "unsafe-inline") {
			t.Errorf("%s CSP %q", path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" ||
			resp.Header.Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
			t.Errorf("%s headers %v", path, resp.Header)
		}
	}
	login := h.do(request{Method: "GET", Path: "/login"})
	if login.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("pages may be cached: %q", login.Header.Get("Cache-Control"))
	}
	d := login.doc(t)
	if cfg, _ := d.Find(`meta[name="htmx-config"]`).Attr("content"); !strings.Contains(cfg, `"allowEval":false`) ||
		!strings.Contains(cfg, `"includeIndicatorStyles":false`) {
		t.Errorf("htmx config %q", cfg)
	}
	d.Find("[style]").Each(func(_ int, s *goquery.Selection) { t.Errorf("inline style: %s", s.Nodes[0].Data) })
}
