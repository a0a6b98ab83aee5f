package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/platform/auth"
)

func (h *harness) apiLogin(email, password string) (api.TokenResponse, response) {
	h.t.Helper()
	resp := h.do(request{Method: "POST", Path: "/api/v1/auth/token",
		JSON: fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)})
	var tok api.TokenResponse
	if resp.StatusCode == 200 {
		resp.json(h.t, &tok)
		h.remember(tok.AccessToken, tok.RefreshToken)
	}
	return tok, resp
}

type problemDoc struct {
	Type, Title, Detail, Code string
	Status                    int
	Errors                    []struct{ Field, Message string }
	RequestID                 string `json:"request_id"`
}

func TestJWTForgeriesAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	tok, resp := h.apiLogin(w.users["admin"].Email, testPassword)
	if resp.StatusCode != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != int(AccessTokenLifetime.Seconds()) ||
		!strings.HasPrefix(tok.RefreshToken, "cm_rt_") || tok.OrganizationID != w.orgA.ID {
		t.Fatalf("token = %d %+v", resp.StatusCode, tok)
	}
	me := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: tok.AccessToken})
	if me.StatusCode != 200 || !strings.Contains(me.body, `"role":"admin"`) {
		t.Fatalf("me = %d %s", me.StatusCode, me.body)
	}

	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	elevated := strings.Replace(string(payload), w.users["admin"].ID.String(), w.users["owner"].ID.String(), 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	expired, _, _ := auth.NewAccessTokens(testSecretKey, -time.Minute).Issue(auth.AccessClaims{UserID: w.users["admin"].ID,
		OrgID: w.orgA.ID, CredentialsVersion: 1})
	otherKey, _, _ := auth.NewAccessTokens(testSecretKey+"x", time.Minute).Issue(auth.AccessClaims{UserID: w.users["admin"].ID,
		OrgID: w.orgA.ID, CredentialsVersion: 1})
	for name, bad := range map[string]string{
		"tampered payload":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(elevated)) + "." + parts[2],
		"alg none":          none,
		"expired":           expired,
		"signed elsewhere":  otherKey,
		"refresh as access": tok.RefreshToken,
		"unknown personal":  "cm_pat_" + strings.Repeat("A", 43),
	} {
		resp := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: bad})
		var p problemDoc
		resp.json(t, &p)
		if resp.StatusCode != 401 || p.Code != "unauthorized" || p.Status != 401 ||
			resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %s %v", name, resp.StatusCode, resp.body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A session cookie is no API credential.
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Cookie: h.sessionCookie(w.users["admin"], w.orgA.ID)}); r.StatusCode != 401 {
		t.Errorf("cookie on the API = %d", r.StatusCode)
	}

	// A password change ends every access token issued before it.
	cookie := h.sessionCookie(w.users["admin"], w.orgA.ID)
	ch := h.do(request{Method: "POST", Path: "/profile/password", Cookie: cookie, Form: url.Values{
		"current_password": {testPassword}, "password": {"an entirely new one"}, "confirm": {"an entirely new one"}}})
	h.remember("an entirely new one")
	if ch.StatusCode != 200 || !strings.Contains(ch.body, "Password changed") {
		t.Fatalf("password change = %d", ch.StatusCode)
	}
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: tok.AccessToken}); r.StatusCode != 401 {
		t.Errorf("access token after a password change = %d", r.StatusCode)
	}
	if r := h.do(request{Method: "POST", Path: "/api/v1/auth/refresh", JSON: `{"refresh_token":"` + tok.RefreshToken + `"}`}); r.StatusCode != 401 {
		t.Errorf("refresh token after a password change = %d", r.StatusCode)
	}
	// The session that changed the password goes on (renewed); other sessions end.
	if c := sessionFrom(ch); c == nil || c.Value == cookie.Value {
		t.Error("the session was not renewed on password change")
	} else {
		h.remember(c.Value)
		if r := h.do(request{Method: "GET", Path: "/profile", Cookie: c}); r.StatusCode != 200 {
			t.Errorf("own session after the change = %d", r.StatusCode)
		}
	}
}

func TestReusedRefreshTokenRevokesTheFamily(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	first, _ := h.apiLogin(w.users["member"].Email, testPassword)
	refresh := func(rt string) (api.TokenResponse, int) {
		resp := h.do(request{Method: "POST", Path: "/api/v1/auth/refresh", JSON: `{"refresh_token":"` + rt + `"}`})
		var tok api.TokenResponse
		if resp.StatusCode == 200 {
			resp.json(t, &tok)
			h.remember(tok.AccessToken, tok.RefreshToken)
		}
		return tok, resp.StatusCode
	}
	second, code := refresh(first.RefreshToken)
	if code != 200 || second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatalf("rotation = %d", code)
	}
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: second.AccessToken}); r.StatusCode != 200 {
		t.Fatalf("rotated access token = %d", r.StatusCode)
	}
	if _, code := refresh(first.RefreshToken); code != 401 {
		t.Fatalf("reuse of a rotated token = %d", code)
	}
	if _, code := refresh(second.RefreshToken); code != 401 {
		t.Fatalf("the family's newest token still works after a reuse: %d", code)
	}
	if h.auditCount("session.refresh_reused") != 1 {
		t.Error("the reuse is not in the audit log")
	}

	// Logout revokes the family too.
	third, _ := h.apiLogin(w.users["member"].Email, testPassword)
	if r := h.do(request{Method: "POST", Path: "/api/v1/auth/logout", JSON: `{"refresh_token":"` + third.RefreshToken + `"}`}); r.StatusCode != 204 {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	if _, code := refresh(third.RefreshToken); code != 401 {
		t.Errorf("refresh after logout = %d", code)
	}
	// Malformed bodies are problems naming what is wrong.
	r := h.do(request{Method: "POST", Path: "/api/v1/auth/refresh", JSON: `{"refresh_token":""}`})
	var p problemDoc
	r.json(t, &p)
	if r.StatusCode != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "refresh_token" || p.RequestID == "" {
		t.Errorf("empty refresh token = %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "POST", Path: "/api/v1/auth/token", JSON: `{"email":"a","password":"b","admin":true}`}); r.StatusCode != 422 {
		t.Errorf("unknown field = %d", r.StatusCode)
	}
}

func TestPersonalTokensAndRemovedMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := w.users["member"]
	cookie := h.sessionCookie(member, w.orgA.ID)

	created := h.do(request{Method: "POST", Path: "/settings/tokens", Cookie: cookie,
		Form: url.Values{"name": {"deploy script"}, "expires_in_days": {"90"}, "scopes": {"admin"}}})
	secret, _ := created.doc(t).Find("input.secret").Attr("value")
	h.remember(secret)
	if created.StatusCode != 201 || !strings.HasPrefix(secret, "cm_pat_") {
		t.Fatalf("create token = %d %q", created.StatusCode, secret)
	}
	list := h.do(request{Method: "GET", Path: "/settings/tokens", Cookie: cookie})
	if strings.Contains(list.body, secret) || !strings.Contains(list.doc(t).Find("table.tokens").Text(), auth.DisplayPrefix(secret)) {
		t.Fatal("the token list shows the secret, or not its prefix")
	}
	var stored []byte
	h.pool.QueryRow(context.Background(), "SELECT token_hash FROM api_tokens WHERE name = 'deploy script'").Scan(&stored)
	if string(stored) != string(auth.HashToken(secret)) {
		t.Error("the token is not stored as its SHA-256 hash")
	}

	me := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret})
	if me.StatusCode != 200 || !strings.Contains(me.body, `"via_personal_token":true`) || !strings.Contains(me.body, `"role":"member"`) {
		t.Fatalf("me with a personal token = %d %s", me.StatusCode, me.body)
	}
	var lastUsed *time.Time
	h.pool.QueryRow(context.Background(), "SELECT last_used_at FROM api_tokens WHERE name = 'deploy script'").Scan(&lastUsed)
	if lastUsed == nil {
		t.Error("last use not recorded")
	}
	// The audit log knows a token acted.
	if r := h.do(request{Method: "GET", Path: "/api/v1/audit", Bearer: secret}); r.StatusCode != 403 {
		t.Errorf("a member's token reads the audit log: %d", r.StatusCode)
	}

	jwt, _ := h.apiLogin(member.Email, testPassword)
	// An admin removes the member: session, access token and personal token all stop at once.
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	if r := h.do(request{Method: "POST", Path: "/settings/members/" + member.ID.String() + "/remove", Cookie: admin, Form: url.Values{}}); r.StatusCode != 200 {
		t.Fatalf("remove = %d", r.StatusCode)
	}
	for name, req := range map[string]request{
		"personal token": {Method: "GET", Path: "/api/v1/me", Bearer: secret},
		"access token":   {Method: "GET", Path: "/api/v1/me", Bearer: jwt.AccessToken},
		"refresh token":  {Method: "POST", Path: "/api/v1/auth/refresh", JSON: `{"refresh_token":"` + jwt.RefreshToken + `"}`},
	} {
		if r := h.do(req); r.StatusCode != 401 {
			t.Errorf("%s after removal = %d", name, r.StatusCode)
		}
	}
	if r := h.do(request{Method: "GET", Path: "/settings/members", Cookie: cookie}); r.StatusCode != 303 {
		t.Errorf("session after removal = %d", r.StatusCode)
	}
}

func TestRevokedTokenAndRateLimitPerToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps, _ *harness) { d.APIRateLimit = 3 })
	w := h.newWorld()
	cookie := h.sessionCookie(w.users["viewer"], w.orgA.ID)
	created := h.do(request{Method: "POST", Path: "/settings/tokens", Cookie: cookie, Form: url.Values{"name": {"t"}, "expires_in_days": {"0"}, "scopes": {"read"}}})
	secret, _ := created.doc(t).Find("input.secret").Attr("value")
	h.remember(secret)
	for i := range 3 {
		if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret}); r.StatusCode != 200 {
			t.Fatalf("call %d = %d", i+1, r.StatusCode)
		}
	}
	r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret})
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th call = %d", r.StatusCode)
	}
	id, _ := created.doc(t).Find("table.tokens tbody tr").Attr("data-token-id")
	if r := h.do(request{Method: "POST", Path: "/settings/tokens/" + id + "/revoke", Cookie: cookie, Form: url.Values{}}); r.StatusCode != 200 ||
		!strings.Contains(r.doc(t).Find("table.tokens").Text(), "revoked") {
		t.Fatalf("revoke = %d", r.StatusCode)
	}
	h2 := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret})
	if h2.StatusCode != 401 {
		t.Errorf("revoked token = %d", h2.StatusCode)
	}
}

func TestCORSForTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pre := h.do(request{Method: "OPTIONS", Path: "/api/v1/audit", Header: http.Header{"Origin": {testOrigin},
		"Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}}})
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Origin") != testOrigin ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if bad := h.do(request{Method: "OPTIONS", Path: "/api/v1/audit", Header: http.Header{"Origin": {"https://evil.example"},
		"Access-Control-Request-Method": {"GET"}}}); bad.StatusCode != 403 || bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a stranger: %d", bad.StatusCode)
	}
	got := h.do(request{Method: "GET", Path: "/api/v1/me", Header: http.Header{"Origin": {testOrigin}}})
	if got.Header.Get("Access-Control-Allow-Origin") != testOrigin || !strings.Contains(got.Header.Get("Vary"), "Origin") {
		t.Errorf("simple request headers %v", got.Header)
	}
	// Pages are not part of the API: no CORS there.
	if p := h.do(request{Method: "GET", Path: "/login", Header: http.Header{"Origin": {testOrigin}}}); p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("a page answers CORS")
	}
}

func TestUnknownAPIPathIsAProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(request{Method: "GET", Path: "/api/v1/no-such-thing"})
	var p problemDoc
	r.json(t, &p)
	if r.StatusCode != 404 || p.Code != "not_found" || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown API path = %d %s", r.StatusCode, r.body)
	}
}
