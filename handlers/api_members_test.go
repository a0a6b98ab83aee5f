package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/sql/store"
)

func init() {
	maps.Copy(routeCases, map[string]routeCase{
		// The outsider lists its own organization's members (and sees none of organization A's).
		"GET /api/v1/members": {get("/api/v1/members"), withAnon(every(200), 401)},
		"POST /api/v1/invitations": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/invitations", JSON: `{"email":"` + newEmail() + `","role":"member"}`}
		}, integrationManagers(201, 201)},
		"DELETE /api/v1/invitations/{id}": {func(h *harness, w *world) request {
			return request{Method: "DELETE", Path: "/api/v1/invitations/" + h.invitationID(w, newEmail())}
		}, integrationManagers(204, 404)},
		"PUT /api/v1/members/{userID}": {func(_ *harness, w *world) request {
			return request{Method: "PUT", Path: "/api/v1/members/" + w.users["member"].ID.String(), JSON: `{"role":"viewer"}`}
		}, integrationManagers(200, 404)},
		"DELETE /api/v1/members/{userID}": {func(_ *harness, w *world) request {
			return request{Method: "DELETE", Path: "/api/v1/members/" + w.users["viewer"].ID.String()}
		}, integrationManagers(204, 404)},
	})
}

// invitationID invites email into organization A (as its owner) and returns the invitation's id.
func (h *harness) invitationID(w *world, email string) string {
	h.t.Helper()
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	h.remember(token)
	inv, err := h.st.InvitationCreate(context.Background(), store.NewInvitation{OrganizationID: w.orgA.ID, Email: email,
		Role: store.RoleViewer, TokenHash: hash, InvitedBy: w.users["owner"].ID, ExpiresAt: time.Now().Add(time.Hour)}, store.Actor{})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv.ID.String()
}

// TestMembersAPIInvitesAndManages invites over the API (the link answered once and e-mailed), accepts the
// invitation through the page, withdraws another, and checks the page's rules about owners on role changes and
// removals, validating the answers against the API document.
func TestMembersAPIInvitesAndManages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMail())
	c := loadContract(t, h)
	w := h.newWorld()
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	call := func(pattern, path, bearer, body string) response {
		t.Helper()
		resp := h.do(request{Method: strings.Fields(pattern)[0], Path: path, Bearer: bearer, JSON: body})
		c.validate(t, pattern, resp)
		return resp
	}

	body := `{"email":"newcomer@example.com","role":"member"}`
	c.validateRequest(t, "POST /api/v1/invitations", body)
	resp := call("POST /api/v1/invitations", "/api/v1/invitations", admin, body)
	var inv struct {
		ID       string `json:"id"`
		Email    string `json:"email"`
		Link     string `json:"link"`
		MailSent bool   `json:"mail_sent"`
	}
	resp.json(t, &inv)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(inv.Link, h.ts.URL+"/invitations/cm_lnk_") || !inv.MailSent ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("invite = %d %s", resp.StatusCode, resp.body)
	}
	token := strings.TrimPrefix(inv.Link, h.ts.URL+"/invitations/")
	h.remember(token)
	if _, mailed := h.mailTo("newcomer@example.com"); mailed != inv.Link {
		t.Errorf("mailed link %q, answered %q", mailed, inv.Link)
	}
	// Refusals: an admin does not invite owners; a member's address is invalid; a viewer does not invite.
	if r := call("POST /api/v1/invitations", "/api/v1/invitations", admin, `{"email":"boss@example.com","role":"owner"}`); r.StatusCode != 403 {
		t.Errorf("admin invites an owner = %d", r.StatusCode)
	}
	if r := call("POST /api/v1/invitations", "/api/v1/invitations", owner, `{"email":"`+w.users["member"].Email+`","role":"member"}`); r.StatusCode != 422 ||
		!strings.Contains(r.body, "already a member") {
		t.Errorf("inviting a member = %d %s", r.StatusCode, r.body)
	}
	if r := call("POST /api/v1/invitations", "/api/v1/invitations", owner, `{"email":"not-an-address","role":"king"}`); r.StatusCode != 422 ||
		!strings.Contains(r.body, `"email"`) || !strings.Contains(r.body, `"role"`) {
		t.Errorf("bad invitation = %d %s", r.StatusCode, r.body)
	}

	// The list shows the pending invitation to admins, never its link; viewers see members only.
	list := call("GET /api/v1/members", "/api/v1/members", admin, "")
	var members api.MemberListJSON
	list.json(t, &members)
	if list.StatusCode != 200 || len(members.Members) != 4 || len(members.Invitations) != 1 ||
		members.Invitations[0].Email != "newcomer@example.com" || strings.Contains(list.body, token) {
		t.Fatalf("members as admin = %d %s", list.StatusCode, list.body)
	}
	list = call("GET /api/v1/members", "/api/v1/members", viewer, "")
	list.json(t, &members)
	if len(members.Members) != 4 || len(members.Invitations) != 0 {
		t.Errorf("members as viewer: %s", list.body)
	}

	// The invitation made over the API is accepted through the page.
	if r := h.do(request{Method: "POST", Path: "/invitations/" + token, Form: url.Values{"name": {"Newcomer"}, "password": {testPassword}}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept = %d %.300s", r.StatusCode, r.body)
	}
	list = call("GET /api/v1/members", "/api/v1/members", admin, "")
	list.json(t, &members)
	if len(members.Members) != 5 || len(members.Invitations) != 0 || !strings.Contains(list.body, "newcomer@example.com") {
		t.Errorf("after accepting: %s", list.body)
	}

	// Withdrawn invitations stop working, and are gone.
	resp = call("POST /api/v1/invitations", "/api/v1/invitations", owner, `{"email":"late@example.com","role":"viewer"}`)
	resp.json(t, &inv)
	h.remember(strings.TrimPrefix(inv.Link, h.ts.URL+"/invitations/"))
	if r := call("DELETE /api/v1/invitations/{id}", "/api/v1/invitations/"+inv.ID, admin, ""); r.StatusCode != 204 {
		t.Fatalf("withdraw = %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "GET", Path: strings.TrimPrefix(inv.Link, h.ts.URL)}); r.StatusCode != 404 {
		t.Errorf("withdrawn invitation's page = %d", r.StatusCode)
	}
	if r := call("DELETE /api/v1/invitations/{id}", "/api/v1/invitations/"+inv.ID, admin, ""); r.StatusCode != 404 {
		t.Errorf("withdraw twice = %d", r.StatusCode)
	}

	// The page's rules: the last owner stays; admins neither touch owners nor make them.
	ownerPath, adminPath := "/api/v1/members/"+w.users["owner"].ID.String(), "/api/v1/members/"+w.users["admin"].ID.String()
	for _, tc := range []struct {
		pattern, path, bearer, body string
		want                        int
	}{
		{"PUT /api/v1/members/{userID}", ownerPath, owner, `{"role":"admin"}`, 409},
		{"DELETE /api/v1/members/{userID}", ownerPath, owner, "", 409},
		{"PUT /api/v1/members/{userID}", ownerPath, admin, `{"role":"viewer"}`, 403},
		{"DELETE /api/v1/members/{userID}", ownerPath, admin, "", 403},
		{"PUT /api/v1/members/{userID}", adminPath, admin, `{"role":"owner"}`, 403},
		{"PUT /api/v1/members/{userID}", adminPath, viewer, `{"role":"viewer"}`, 403},
		{"PUT /api/v1/members/{userID}", adminPath, owner, `{"role":"chief"}`, 422},
		{"PUT /api/v1/members/{userID}", "/api/v1/members/" + w.users["outsider"].ID.String(), owner, `{"role":"viewer"}`, 404},
		{"PUT /api/v1/members/{userID}", "/api/v1/members/not-a-uuid", owner, `{"role":"viewer"}`, 404},
	} {
		if r := call(tc.pattern, tc.path, tc.bearer, tc.body); r.StatusCode != tc.want {
			t.Errorf("%s %s %s = %d, want %d: %s", tc.pattern, tc.path, tc.body, r.StatusCode, tc.want, r.body)
		}
	}
	if n := h.auditCount("member.role_changed") + h.auditCount("member.removed"); n != 0 {
		t.Fatalf("refused changes were audited (%d)", n)
	}
	// Not even an owner makes someone owner over the API: that takes a browser session that re-entered its
	// password (reauth_test.go). The admin is made owner in the store; then the first owner may step down.
	if r := call("PUT /api/v1/members/{userID}", adminPath, owner, `{"role":"owner"}`); r.StatusCode != 403 ||
		!strings.Contains(r.body, "re-enter your password") {
		t.Fatalf("promote over the API = %d %s", r.StatusCode, r.body)
	}
	if _, err := h.st.MemberChangeRole(context.Background(), w.orgA.ID, w.users["admin"].ID, store.RoleOwner, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	resp = call("PUT /api/v1/members/{userID}", ownerPath, owner, `{"role":"member"}`)
	var changed api.MemberJSON
	resp.json(t, &changed)
	if resp.StatusCode != 200 || changed.Role != "member" || changed.UserID != w.users["owner"].ID {
		t.Fatalf("step down = %d %s", resp.StatusCode, resp.body)
	}
	// A removed member's access token is refused at once.
	if r := call("DELETE /api/v1/members/{userID}", "/api/v1/members/"+w.users["viewer"].ID.String(), admin, ""); r.StatusCode != 204 {
		t.Fatalf("remove = %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "GET", Path: "/api/v1/me", Bearer: viewer}); r.StatusCode != 401 {
		t.Errorf("the removed member's token = %d", r.StatusCode)
	}
	if h.auditCount("member.removed") != 1 || h.auditCount("invitation.revoked") != 1 {
		t.Errorf("audit: removed %d, revoked %d", h.auditCount("member.removed"), h.auditCount("invitation.revoked"))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(resp.body), &raw); err != nil || raw["last_login_at"] == nil {
		t.Errorf("a member always carries last_login_at: %s", resp.body)
	}
}
