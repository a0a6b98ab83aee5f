package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/sql/store"
)

// actors are who each route is tried as: anonymous, each role of organization A, and the owner of organization B
// (the outsider), who must never get organization A's data.
var actors = []string{"anonymous", "viewer", "member", "admin", "owner", "outsider"}

// routeCase is how to call one route in a fresh world and what each actor must get.
type routeCase struct {
	// build returns the request; it may create what the route acts on (an invitation, a token …) in w.
	build func(h *harness, w *world) request
	want  map[string]int
}

// carriesSecret lists the routes whose request itself carries organization A's credentials (an invitation link, a
// member's password, a refresh token): what they answer about organization A is the caller's by right.
var carriesSecret = map[string]bool{"GET /invitations/{token}": true, "POST /invitations/{token}": true,
	"POST /api/v1/auth/token": true, "POST /api/v1/auth/refresh": true}

// every gives all actors the same expected status.
func every(status int) map[string]int {
	m := map[string]int{}
	for _, a := range actors {
		m[a] = status
	}
	return m
}

// signedIn is the usual page expectation: anonymous visitors go to the sign-in page, everyone else gets status.
func signedIn(status int) map[string]int {
	m := every(status)
	m["anonymous"] = http.StatusSeeOther
	return m
}

// adminsOnly: anonymous to sign-in, viewers and members refused, admins and owners (and the outsider, in its own
// organization) get status.
func adminsOnly(status, outsider int) map[string]int {
	m := signedIn(status)
	m["viewer"], m["member"], m["outsider"] = http.StatusForbidden, http.StatusForbidden, outsider
	return m
}

func get(path string) func(*harness, *world) request {
	return func(*harness, *world) request { return request{Method: "GET", Path: path} }
}

func form(method, path string, values url.Values) func(*harness, *world) request {
	return func(*harness, *world) request { return request{Method: method, Path: path, Form: values} }
}

func newEmail() string { return "new-" + uuid.NewString()[:12] + "@example.com" }

// routeCases holds one case per registered route. A route added to routes.go without a case here fails
// TestEveryRouteEnforcesTheRoleMatrix: a new route must say who may call it.
var routeCases = map[string]routeCase{
	"GET /healthz": {get("/healthz"), every(200)},
	"GET /readyz":  {get("/readyz"), every(200)},
	"GET /metrics": {get("/metrics"), every(200)},
	"GET /static/": {get("/static/js/htmx.min.js"), every(200)},
	// The API's fallback: a CORS preflight for any API path (other methods: a problem+json 404).
	"/api/": {func(*harness, *world) request {
		return request{Method: "OPTIONS", Path: "/api/v1/me", Header: http.Header{"Origin": {testOrigin}, "Access-Control-Request-Method": {"GET"}}}
	}, every(204)},

	"GET /signup": {get("/signup"), withAnon(every(303), 200)},
	"POST /signup": {func(*harness, *world) request {
		return request{Method: "POST", Path: "/signup", Form: url.Values{"name": {"New"}, "email": {newEmail()},
			"password": {testPassword}, "organization": {"New Org"}}}
	}, every(303)},
	"GET /login": {get("/login"), withAnon(every(303), 200)},
	"POST /login": {func(_ *harness, w *world) request {
		return request{Method: "POST", Path: "/login", Form: url.Values{"email": {w.users["viewer"].Email}, "password": {testPassword}}}
	}, every(303)},
	"POST /logout":         {form("POST", "/logout", url.Values{}), every(303)},
	"GET /forgot-password": {get("/forgot-password"), every(200)},
	"POST /forgot-password": {func(*harness, *world) request {
		return request{Method: "POST", Path: "/forgot-password", Form: url.Values{"email": {newEmail()}}}
	}, every(200)},
	"GET /reset-password": {func(h *harness, w *world) request {
		return request{Method: "GET", Path: "/reset-password?token=" + h.resetToken(w.users["viewer"])}
	}, every(200)},
	"POST /reset-password": {func(h *harness, w *world) request {
		return request{Method: "POST", Path: "/reset-password", Form: url.Values{"token": {h.resetToken(w.users["viewer"])},
			"password": {"a brand new password"}, "confirm": {"a brand new password"}}}
	}, every(303)},
	"GET /invitations/{token}": {func(h *harness, w *world) request {
		return request{Method: "GET", Path: "/invitations/" + h.invitation(w, newEmail(), store.RoleMember)}
	}, every(200)},
	// Signed-in users are not the invited address: refused. An anonymous visitor creates the invited account.
	"POST /invitations/{token}": {func(h *harness, w *world) request {
		return request{Method: "POST", Path: "/invitations/" + h.invitation(w, newEmail(), store.RoleMember),
			Form: url.Values{"name": {"Invited"}, "password": {testPassword}}}
	}, withAnon(every(403), 303)},

	"GET /{$}":      {get("/"), signedIn(200)},
	"GET /profile":  {get("/profile"), signedIn(200)},
	"POST /profile": {form("POST", "/profile", url.Values{"name": {"Renamed"}}), signedIn(200)},
	"POST /profile/password": {form("POST", "/profile/password", url.Values{"current_password": {testPassword},
		"password": {"another long password"}, "confirm": {"another long password"}}), signedIn(200)},
	"POST /orgs/switch": {func(_ *harness, w *world) request {
		return request{Method: "POST", Path: "/orgs/switch", Form: url.Values{"organization_id": {w.orgA.ID.String()}}}
	}, withOutsider(signedIn(303), 404)},

	"GET /settings/members": {get("/settings/members"), signedIn(200)},
	"POST /settings/members/invite": {func(*harness, *world) request {
		return request{Method: "POST", Path: "/settings/members/invite", Form: url.Values{"email": {newEmail()}, "role": {"member"}}}
	}, adminsOnly(200, 200)},
	// Leaving: fine for everyone but the last owner (the owner of A, and the outsider in B).
	"POST /settings/members/leave": {form("POST", "/settings/members/leave", url.Values{}),
		map[string]int{"anonymous": 303, "viewer": 303, "member": 303, "admin": 303, "owner": 409, "outsider": 409}},
	"POST /settings/members/{userID}/role": {func(_ *harness, w *world) request {
		return request{Method: "POST", Path: "/settings/members/" + w.users["member"].ID.String() + "/role", Form: url.Values{"role": {"viewer"}}}
	}, adminsOnly(200, 404)},
	"POST /settings/members/{userID}/remove": {func(_ *harness, w *world) request {
		return request{Method: "POST", Path: "/settings/members/" + w.users["viewer"].ID.String() + "/remove", Form: url.Values{}}
	}, adminsOnly(200, 404)},
	"POST /settings/invitations/{id}/revoke": {func(h *harness, w *world) request {
		h.invitation(w, newEmail(), store.RoleViewer)
		invs, err := h.st.InvitationList(context.Background(), w.orgA.ID)
		if err != nil || len(invs) == 0 {
			h.t.Fatalf("invitations: %v", err)
		}
		return request{Method: "POST", Path: "/settings/invitations/" + invs[0].ID.String() + "/revoke", Form: url.Values{}}
	}, adminsOnly(200, 404)},
	"GET /settings/tokens": {get("/settings/tokens"), signedIn(200)},
	"POST /settings/tokens": {form("POST", "/settings/tokens", url.Values{"name": {"ci"}, "expires_in_days": {"30"}, "scopes": {"run"}}),
		signedIn(201)},
	// A token is its owner's alone: anyone else, even an admin of the same organization, gets 404.
	"POST /settings/tokens/{id}/revoke": {func(h *harness, w *world) request {
		_, hash := auth.NewToken(auth.PersonalTokenPrefix)
		tok, err := h.st.APITokenCreate(context.Background(), store.NewAPIToken{OrganizationID: w.orgA.ID,
			UserID: w.users["owner"].ID, Name: "owner's", TokenHash: hash, Prefix: "cm_pat_xxxx", Scopes: []string{"read"}}, store.Actor{})
		if err != nil {
			h.t.Fatal(err)
		}
		return request{Method: "POST", Path: "/settings/tokens/" + tok.ID.String() + "/revoke", Form: url.Values{}}
	}, map[string]int{"anonymous": 303, "viewer": 404, "member": 404, "admin": 404, "owner": 200, "outsider": 404}},
	"GET /settings/audit": {get("/settings/audit"), adminsOnly(200, 200)},

	"POST /api/v1/auth/token": {func(_ *harness, w *world) request {
		return request{Method: "POST", Path: "/api/v1/auth/token",
			JSON: fmt.Sprintf(`{"email":%q,"password":%q}`, w.users["member"].Email, testPassword)}
	}, every(200)},
	"POST /api/v1/auth/refresh": {func(h *harness, w *world) request {
		return request{Method: "POST", Path: "/api/v1/auth/refresh", JSON: fmt.Sprintf(`{"refresh_token":%q}`, h.refreshToken(w))}
	}, every(200)},
	"POST /api/v1/auth/logout": {func(h *harness, w *world) request {
		return request{Method: "POST", Path: "/api/v1/auth/logout", JSON: fmt.Sprintf(`{"refresh_token":%q}`, h.refreshToken(w))}
	}, every(204)},
	"GET /api/v1/me":    {get("/api/v1/me"), withAnon(every(200), 401)},
	"GET /api/v1/audit": {get("/api/v1/audit"), withAnon(adminsOnly(200, 200), 401)},
}

func withAnon(m map[string]int, anonymous int) map[string]int {
	m["anonymous"] = anonymous
	return m
}

func withOutsider(m map[string]int, outsider int) map[string]int {
	m["outsider"] = outsider
	return m
}

func (h *harness) resetToken(u store.User) string {
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	if err := h.st.PasswordResetCreate(context.Background(), u.ID, hash, time.Now().Add(time.Hour), store.Actor{}); err != nil {
		h.t.Fatal(err)
	}
	h.remember(token)
	return token
}

func (h *harness) invitation(w *world, email string, role store.Role) string {
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	if _, err := h.st.InvitationCreate(context.Background(), store.NewInvitation{OrganizationID: w.orgA.ID, Email: email,
		Role: role, TokenHash: hash, InvitedBy: w.users["owner"].ID, ExpiresAt: time.Now().Add(time.Hour)}, store.Actor{}); err != nil {
		h.t.Fatal(err)
	}
	h.remember(token)
	return token
}

func (h *harness) refreshToken(w *world) string {
	token, hash := auth.NewToken(auth.RefreshTokenPrefix)
	if err := h.st.APILogin(context.Background(), w.users["member"].ID, w.orgA.ID, hash, time.Now().Add(time.Hour), store.Actor{}); err != nil {
		h.t.Fatal(err)
	}
	h.remember(token)
	return token
}

// TestEveryRouteEnforcesTheRoleMatrix calls every registered route as every actor, each in a world of its own, and
// checks the status. The outsider (owner of another organization) must get 404 for anything of organization A and
// never see organization A's names or addresses.
func TestEveryRouteEnforcesTheRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, pattern := range h.srv.Routes() {
		rc, ok := routeCases[pattern]
		if !ok {
			t.Errorf("route %q has no case in routeCases: say who may call it", pattern)
			continue
		}
		for _, who := range actors {
			want, ok := rc.want[who]
			if !ok {
				t.Errorf("route %q: no expectation for %s", pattern, who)
				continue
			}
			t.Run(pattern+"/"+who, func(t *testing.T) {
				w := h.newWorld()
				req := rc.build(h, w)
				// Each call comes from an address of its own (through the trusted proxy), so the per-address
				// limits of sign-in and reset do not trip over the test's own volume.
				if req.Header == nil {
					req.Header = http.Header{}
				}
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", ipSeq.Add(1)%250+1))
				if who != "anonymous" {
					u := w.users[who]
					if strings.Contains(pattern, " /api/") {
						req.Bearer = h.accessToken(u, w.orgOf(who))
					} else {
						req.Cookie = h.sessionCookie(u, w.orgOf(who))
					}
				}
				resp := h.do(req)
				if resp.StatusCode != want {
					t.Errorf("%s %s as %s = %d, want %d\n%.400s", req.Method, req.Path, who, resp.StatusCode, want, resp.body)
				}
				if who == "outsider" && !carriesSecret[pattern] {
					for _, leak := range []string{w.orgA.Name, w.orgA.ID.String(), w.users["owner"].Email, w.users["member"].Email} {
						if strings.Contains(resp.body, leak) {
							t.Errorf("%s %s as outsider shows organization A's %q", req.Method, req.Path, leak)
						}
					}
				}
			})
		}
	}
	for pattern := range routeCases {
		if !contains(h.srv.Routes(), pattern) {
			t.Errorf("routeCases has %q, which is not a route any more", pattern)
		}
	}
}

var ipSeq atomic.Int64

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
