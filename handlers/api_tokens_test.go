package handlers

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/sql/store"
)

func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/tokens": {get("/api/v1/tokens"), withAnon(every(200), 401)},
		"POST /api/v1/tokens": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/tokens", JSON: `{"name":"ci","expires_in_days":30,"scopes":["run"]}`}
		}, withAnon(every(201), 401)},
		// A token is its owner's alone: anyone else, even an admin of the same organization, gets 404.
		"DELETE /api/v1/tokens/{id}": {func(h *harness, w *world) request {
			_, hash := auth.NewToken(auth.PersonalTokenPrefix)
			tok, err := h.st.APITokenCreate(context.Background(), store.NewAPIToken{OrganizationID: w.orgA.ID,
				UserID: w.users["owner"].ID, Name: "owner's", TokenHash: hash, Prefix: "cm_pat_xxxx", Scopes: []string{"read"}}, store.Actor{})
			if err != nil {
				h.t.Fatal(err)
			}
			return request{Method: "DELETE", Path: "/api/v1/tokens/" + tok.ID.String()}
		}, map[string]int{"anonymous": 401, "viewer": 404, "member": 404, "admin": 404, "owner": 204, "outsider": 404}},
	})
}

// TestTokensAPICreateListRevoke creates a personal token over the API, uses it, lists it (never its secret),
// checks it cannot manage tokens itself, and revokes it, after which it is refused as a Bearer. The secret appears
// in the create answer only: not in lists, the audit log or the server's logs.
func TestTokensAPICreateListRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	call := func(pattern, path, bearer, body string) response {
		t.Helper()
		resp := h.do(request{Method: strings.Fields(pattern)[0], Path: path, Bearer: bearer, JSON: body})
		c.validate(t, pattern, resp)
		return resp
	}

	for _, bad := range []string{`{"name":"","expires_in_days":7,"scopes":["read"]}`, `{"name":"ci","scopes":["all"]}`,
		`{"name":"ci","expires_in_days":-1,"scopes":["read"]}`, `{"name":"ci"}`, `{"name":"ci","scopes":[]}`,
		`{"name":"ci","scopes":["read","read"]}`} {
		if r := call("POST /api/v1/tokens", "/api/v1/tokens", member, bad); r.StatusCode != 422 {
			t.Errorf("create %s = %d %s", bad, r.StatusCode, r.body)
		}
	}
	body := `{"name":"deploy bot","expires_in_days":90,"scopes":["admin"]}`
	c.validateRequest(t, "POST /api/v1/tokens", body)
	resp := call("POST /api/v1/tokens", "/api/v1/tokens", member, body)
	var created api.APITokenCreatedJSON
	resp.json(t, &created)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(created.Token, auth.PersonalTokenPrefix) ||
		created.Name != "deploy bot" || created.ExpiresAt == nil || !strings.HasPrefix(created.Token, created.Prefix) ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create = %d %s", resp.StatusCode, resp.body)
	}
	secret := created.Token
	h.remember(secret)
	c.validateRequest(t, "POST /api/v1/tokens", `{"name":"forever","scopes":["read"]}`)
	if r := call("POST /api/v1/tokens", "/api/v1/tokens", member, `{"name":"forever","scopes":["read"]}`); r.StatusCode != 201 || !strings.Contains(r.body, `"expires_at":null`) {
		t.Errorf("create without expiry = %d %s", r.StatusCode, r.body)
	} else {
		var other api.APITokenCreatedJSON
		r.json(t, &other)
		h.remember(other.Token)
	}

	// The token works as a Bearer, and cannot list, mint or revoke tokens.
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret}); r.StatusCode != 200 || !strings.Contains(r.body, `"via_personal_token":true`) {
		t.Fatalf("me with the token = %d %s", r.StatusCode, r.body)
	}
	for _, r := range []response{
		call("GET /api/v1/tokens", "/api/v1/tokens", secret, ""),
		call("POST /api/v1/tokens", "/api/v1/tokens", secret, `{"name":"entrenched","scopes":["admin"]}`),
		call("DELETE /api/v1/tokens/{id}", "/api/v1/tokens/"+created.ID.String(), secret, ""),
	} {
		if r.StatusCode != 403 {
			t.Errorf("%s %s with a personal token = %d", r.Request.Method, r.Request.URL.Path, r.StatusCode)
		}
	}

	// The list has the token (used once, not revoked) and never its secret nor a hash.
	list := call("GET /api/v1/tokens", "/api/v1/tokens", member, "")
	var tokens api.APITokenListJSON
	list.json(t, &tokens)
	if list.StatusCode != 200 || len(tokens.Items) != 2 || strings.Contains(list.body, secret) || strings.Contains(list.body, "hash") {
		t.Fatalf("list = %d %s", list.StatusCode, list.body)
	}
	var mine *api.APITokenJSON
	for i := range tokens.Items {
		if tokens.Items[i].ID == created.ID {
			mine = &tokens.Items[i]
		}
	}
	if mine == nil || mine.Prefix != created.Prefix || mine.LastUsedAt == nil || mine.RevokedAt != nil {
		t.Fatalf("the created token in the list: %+v", mine)
	}
	// Another user's list does not have it; another user cannot revoke it.
	if r := call("GET /api/v1/tokens", "/api/v1/tokens", admin, ""); r.StatusCode != 200 || strings.Contains(r.body, created.ID.String()) {
		t.Errorf("admin's list = %d %s", r.StatusCode, r.body)
	}
	if r := call("DELETE /api/v1/tokens/{id}", "/api/v1/tokens/"+created.ID.String(), admin, ""); r.StatusCode != 404 {
		t.Errorf("admin revokes the member's token = %d", r.StatusCode)
	}

	// Revoked: refused as a Bearer from now on, listed as revoked, and a second revoke is 404.
	if r := call("DELETE /api/v1/tokens/{id}", "/api/v1/tokens/"+created.ID.String(), member, ""); r.StatusCode != 204 {
		t.Fatalf("revoke = %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: secret}); r.StatusCode != 401 {
		t.Errorf("revoked token = %d %s", r.StatusCode, r.body)
	}
	if r := call("DELETE /api/v1/tokens/{id}", "/api/v1/tokens/"+created.ID.String(), member, ""); r.StatusCode != 404 {
		t.Errorf("revoke twice = %d", r.StatusCode)
	}
	list = call("GET /api/v1/tokens", "/api/v1/tokens", member, "")
	list.json(t, &tokens)
	for _, it := range tokens.Items {
		if it.ID == created.ID && it.RevokedAt == nil {
			t.Error("the revoked token is listed as live")
		}
	}
	if h.auditCount("api_token.created") != 2 || h.auditCount("api_token.revoked") != 1 {
		t.Errorf("audit: created %d, revoked %d", h.auditCount("api_token.created"), h.auditCount("api_token.revoked"))
	}
	var leaked int
	if err := h.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE audit_log::text LIKE '%' || $1 || '%'", secret).Scan(&leaked); err != nil || leaked != 0 {
		t.Errorf("the audit log holds the secret (%d, %v)", leaked, err)
	}
}
