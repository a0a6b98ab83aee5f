package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

var linkInMail = regexp.MustCompile(`https?://\S+/(invitations/|reset-password\?token=)\S+`)

// mailTo waits for the mail to addr and returns its subject and the link in it.
func (h *harness) mailTo(addr string) (string, string) {
	h.t.Helper()
	got := h.mail.WaitFor(h.t, func(m mailtest.Received) bool {
		return len(m.Recipients) == 1 && m.Recipients[0] == addr
	})
	msg, _ := got.Parsed(h.t)
	text := strings.ReplaceAll(string(got.Data), "=\r\n", "") // undo quoted-printable soft breaks
	text = strings.ReplaceAll(text, "=3D", "=")
	link := linkInMail.FindString(text)
	if link == "" {
		h.t.Fatalf("no link in the mail to %s:\n%s", addr, got.Data)
	}
	return msg.Header.Get("Subject"), link
}

func TestInvitationEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMail())
	w := h.newWorld()
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)

	// Inline error for a bad address; a member's address is refused.
	bad := h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: owner,
		Form: url.Values{"email": {w.users["member"].Email}, "role": {"member"}}})
	if bad.StatusCode != 422 || !strings.Contains(bad.doc(t).Find("#email-error").Text(), "already a member") {
		t.Fatalf("inviting a member = %d", bad.StatusCode)
	}

	resp := h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: owner,
		Form: url.Values{"email": {"newcomer@example.com"}, "role": {"admin"}}})
	shown, _ := resp.doc(t).Find("input.secret").Attr("value")
	if resp.StatusCode != 200 || !strings.HasPrefix(shown, h.ts.URL+"/invitations/cm_lnk_") {
		t.Fatalf("invite = %d, link %q", resp.StatusCode, shown)
	}
	h.remember(strings.TrimPrefix(shown, h.ts.URL+"/invitations/"))
	if rows := resp.doc(t).Find("table.invitations tbody tr"); rows.Length() != 1 || !strings.Contains(rows.Text(), "newcomer@example.com") {
		t.Error("the pending invitation is not listed")
	}
	subject, link := h.mailTo("newcomer@example.com")
	if link != shown || !strings.Contains(subject, w.orgA.Name) {
		t.Fatalf("mailed link %q subject %q, shown %q", link, subject, shown)
	}
	path := strings.TrimPrefix(link, h.ts.URL)
	// The pending list never shows the link again, and shows its mail's delivery once the worker recorded it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		again := h.do(request{Method: "GET", Path: "/settings/members", Cookie: owner})
		if strings.Contains(again.body, path) {
			t.Fatal("the invitation link is shown twice")
		}
		if strings.TrimSpace(again.doc(t).Find("table.invitations td.invitation-mail").Text()) == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invitation's mail status: %q", again.doc(t).Find("table.invitations td.invitation-mail").Text())
		}
		time.Sleep(20 * time.Millisecond)
	}

	page := h.do(request{Method: "GET", Path: path})
	d := page.doc(t)
	if page.StatusCode != 200 || !strings.Contains(d.Find("h1").Text(), w.orgA.Name) || d.Find("input#password").Length() != 1 {
		t.Fatalf("invitation page = %d %s", page.StatusCode, d.Find("main").Text())
	}
	if page.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the invitation page may leak its link in a Referer")
	}
	joined := h.do(request{Method: "POST", Path: path, Form: url.Values{"name": {"Newcomer"}, "password": {testPassword}}})
	cookie := sessionFrom(joined)
	if joined.StatusCode != 303 || cookie == nil {
		t.Fatalf("accept = %d", joined.StatusCode)
	}
	dash := h.do(request{Method: "GET", Path: "/", Cookie: cookie})
	if !strings.Contains(dash.doc(t).Find("main").Text(), "admin of "+w.orgA.Name) {
		t.Errorf("new member's dashboard: %s", dash.doc(t).Find("main").Text())
	}
	if used := h.do(request{Method: "GET", Path: path}); used.StatusCode != 404 {
		t.Errorf("a used invitation = %d", used.StatusCode)
	}
	if used := h.do(request{Method: "POST", Path: path, Form: url.Values{"name": {"X"}, "password": {testPassword}}}); used.StatusCode != 404 {
		t.Errorf("accepting twice = %d", used.StatusCode)
	}

	// An existing user joins with one click, then switches between organizations.
	outsider := w.users["outsider"]
	h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: owner,
		Form: url.Values{"email": {outsider.Email}, "role": {"viewer"}}})
	_, link = h.mailTo(outsider.Email)
	h.remember(link)
	path = strings.TrimPrefix(link, h.ts.URL)
	// Someone else signed in cannot use it.
	if r := h.do(request{Method: "POST", Path: path, Form: url.Values{}, Cookie: cookie}); r.StatusCode != 403 {
		t.Errorf("invitation used by another account = %d", r.StatusCode)
	}
	out := h.sessionCookie(outsider, w.orgB.ID)
	if p := h.do(request{Method: "GET", Path: path, Cookie: out}); p.doc(t).Find("main form button").Length() != 1 {
		t.Error("no one-click join for a signed-in invitee")
	}
	acc := h.do(request{Method: "POST", Path: path, Form: url.Values{}, Cookie: out})
	if acc.StatusCode != 303 {
		t.Fatalf("existing user accepts = %d", acc.StatusCode)
	}
	out = sessionFrom(acc)
	h.remember(out.Value)
	home := h.do(request{Method: "GET", Path: "/", Cookie: out}).doc(t)
	if opts := home.Find("select#org-switch option"); opts.Length() != 2 || home.Find("select#org-switch option[selected]").Text() != w.orgA.Name {
		t.Fatalf("switcher: %d options, selected %q", opts.Length(), home.Find("select#org-switch option[selected]").Text())
	}
	sw := h.do(request{Method: "POST", Path: "/orgs/switch", Cookie: out, Form: url.Values{"organization_id": {w.orgB.ID.String()}}})
	if sw.StatusCode != 303 || sessionFrom(sw) == nil || sessionFrom(sw).Value == out.Value {
		t.Fatalf("switch = %d (the token must be renewed)", sw.StatusCode)
	}
	h.remember(sessionFrom(sw).Value)
	if d := h.do(request{Method: "GET", Path: "/", Cookie: sessionFrom(sw)}).doc(t); d.Find("select#org-switch option[selected]").Text() != w.orgB.Name {
		t.Error("the switch did not take")
	}
	for _, action := range []string{"invitation.created", "invitation.accepted"} {
		if h.auditCount(action) != 2 {
			t.Errorf("%s audited %d times", action, h.auditCount(action))
		}
	}
}

func TestInvitationLinkShownWithoutSMTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	resp := h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: admin,
		Form: url.Values{"email": {"someone@example.com"}, "role": {"viewer"}}})
	d := resp.doc(t)
	link, _ := d.Find("input.secret").Attr("value")
	h.remember(link)
	if resp.StatusCode != 200 || link == "" || !strings.Contains(d.Find(".once").Text(), "Share this link") {
		t.Fatalf("invite without SMTP = %d", resp.StatusCode)
	}
	// Admins cannot hand out ownership.
	if r := h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: admin,
		Form: url.Values{"email": {"boss@example.com"}, "role": {"owner"}}}); r.StatusCode != 403 {
		t.Errorf("admin invites an owner = %d", r.StatusCode)
	}
	if d.Find("select#invite-role option[value=owner]").Length() != 0 {
		t.Error("an admin is offered the owner role")
	}
	// Withdrawn invitations stop working.
	id, _ := d.Find("table.invitations tbody tr").Attr("data-invitation-id")
	if r := h.do(request{Method: "POST", Path: "/settings/invitations/" + id + "/revoke", Cookie: admin, Form: url.Values{}}); r.StatusCode != 200 {
		t.Fatalf("withdraw = %d", r.StatusCode)
	}
	if r := h.do(request{Method: "GET", Path: strings.TrimPrefix(link, h.ts.URL)}); r.StatusCode != 404 {
		t.Errorf("withdrawn invitation = %d", r.StatusCode)
	}
}

func TestLastOwnerRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	ownerID, adminID := w.users["owner"].ID.String(), w.users["admin"].ID.String()
	post := func(c *http.Cookie, path string, v url.Values) response {
		return h.do(request{Method: "POST", Path: path, Cookie: c, Form: v})
	}
	if r := post(owner, "/settings/members/leave", url.Values{}); r.StatusCode != 409 || !strings.Contains(r.body, "at least one owner") {
		t.Errorf("last owner leaves = %d", r.StatusCode)
	}
	if r := post(owner, "/settings/members/"+ownerID+"/role", url.Values{"role": {"admin"}}); r.StatusCode != 409 {
		t.Errorf("last owner demotes themself = %d", r.StatusCode)
	}
	if r := post(owner, "/settings/members/"+ownerID+"/remove", url.Values{}); r.StatusCode != 409 {
		t.Errorf("last owner removes themself = %d", r.StatusCode)
	}
	// Admins do not touch owners, nor make them.
	if r := post(admin, "/settings/members/"+ownerID+"/role", url.Values{"role": {"viewer"}}); r.StatusCode != 403 {
		t.Errorf("admin demotes the owner = %d", r.StatusCode)
	}
	if r := post(admin, "/settings/members/"+ownerID+"/remove", url.Values{}); r.StatusCode != 403 {
		t.Errorf("admin removes the owner = %d", r.StatusCode)
	}
	if r := post(admin, "/settings/members/"+adminID+"/role", url.Values{"role": {"owner"}}); r.StatusCode != 403 {
		t.Errorf("admin makes themself owner = %d", r.StatusCode)
	}
	members := h.do(request{Method: "GET", Path: "/settings/members", Cookie: admin}).doc(t)
	if members.Find(fmt.Sprintf(`tr[data-user-id="%s"] form`, ownerID)).Length() != 0 {
		t.Error("an admin is offered actions on the owner")
	}
	if h.auditCount("member.role_changed")+h.auditCount("member.removed")+h.auditCount("member.left") != 0 {
		t.Fatal("refused changes were audited")
	}
	// With a second owner (made after re-entering the password), the first may step down; the session is renewed
	// on the role change.
	if r := post(owner, "/settings/members/"+adminID+"/role", url.Values{"role": {"owner"}}); r.StatusCode != 403 {
		t.Fatalf("promote without re-entering the password = %d", r.StatusCode)
	}
	if r := post(owner, "/reauth", url.Values{"password": {testPassword}}); r.StatusCode != 303 || sessionFrom(r) == nil {
		t.Fatalf("re-enter the password = %d", r.StatusCode)
	} else {
		owner = sessionFrom(r)
		h.remember(owner.Value)
	}
	if r := post(owner, "/settings/members/"+adminID+"/role", url.Values{"role": {"owner"}}); r.StatusCode != 200 {
		t.Fatalf("promote = %d", r.StatusCode)
	}
	r := post(owner, "/settings/members/"+ownerID+"/role", url.Values{"role": {"member"}})
	if r.StatusCode != 200 || sessionFrom(r) == nil || sessionFrom(r).Value == owner.Value {
		t.Fatalf("step down = %d (session renewed: %v)", r.StatusCode, sessionFrom(r) != nil)
	}
	h.remember(sessionFrom(r).Value)
	if got := r.doc(t).Find("form[action='/settings/members/invite']").Length(); got != 0 {
		t.Error("the page still offers invitations to the new member")
	}
	if h.auditCount("member.role_changed") != 2 {
		t.Errorf("role changes audited %d times", h.auditCount("member.role_changed"))
	}
}

func TestAuditPageFiltersAndPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)
	for i := range 3 {
		h.do(request{Method: "POST", Path: "/settings/members/invite", Cookie: owner, Header: fromIP("203.0.113.50"),
			Form: url.Values{"email": {fmt.Sprintf("p%d@example.com", i)}, "role": {"viewer"}}})
	}
	h.do(request{Method: "POST", Path: "/settings/members/" + w.users["viewer"].ID.String() + "/role", Cookie: owner,
		Form: url.Values{"role": {"member"}}})

	page := h.do(request{Method: "GET", Path: "/settings/audit?action=invitation.", Cookie: owner})
	d := page.doc(t)
	rows := d.Find("table.audit tbody tr")
	if page.StatusCode != 200 || rows.Length() != 3 {
		t.Fatalf("filtered audit = %d, %d rows", page.StatusCode, rows.Length())
	}
	first := rows.First().Text()
	if !strings.Contains(first, "invitation.created") || !strings.Contains(first, w.users["owner"].Email) ||
		!strings.Contains(first, "203.0.113.50") {
		t.Errorf("row %q", first)
	}
	for _, secret := range h.secretList() {
		if strings.Contains(page.body, secret) {
			t.Error("the audit page shows a secret")
		}
	}
	if strings.Contains(page.body, "token_hash") || strings.Contains(page.body, "password") {
		t.Error("the audit summaries mention credentials")
	}
	byActor := h.do(request{Method: "GET", Path: "/settings/audit?actor=" + w.users["owner"].ID.String() + "&action=member.", Cookie: owner})
	if n := byActor.doc(t).Find("table.audit tbody tr").Length(); n != 1 {
		t.Errorf("by actor and action: %d rows", n)
	}
	if r := h.do(request{Method: "GET", Path: "/settings/audit?from=yesterday", Cookie: owner}); r.StatusCode != 422 {
		t.Errorf("bad date = %d", r.StatusCode)
	}

	// Keyset paging through the API, two at a time, sees every entry once.
	api := h.accessToken(w.users["owner"], w.orgA.ID)
	seen := map[string]bool{}
	cursor := ""
	for range 20 {
		r := h.do(request{Method: "GET", Path: "/api/v1/audit?limit=2&cursor=" + cursor, Bearer: api})
		var body struct {
			Items []struct {
				ID     string `json:"id"`
				Action string `json:"action"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		r.json(t, &body)
		for _, it := range body.Items {
			if seen[it.ID] {
				t.Fatalf("entry %s seen twice", it.ID)
			}
			seen[it.ID] = true
		}
		if cursor = body.NextCursor; cursor == "" {
			break
		}
	}
	var total int
	h.pool.QueryRow(t.Context(), "SELECT count(*) FROM audit_log WHERE organization_id = $1", w.orgA.ID).Scan(&total)
	if len(seen) != total || total < 5 {
		t.Errorf("paged through %d of %d entries", len(seen), total)
	}
}

func TestSettingsNavigationFollowsTheRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	for who, want := range map[string]int{"viewer": 0, "member": 0, "admin": 1, "owner": 1} {
		d := h.do(request{Method: "GET", Path: "/settings/members", Cookie: h.sessionCookie(w.users[who], w.orgA.ID)}).doc(t)
		if got := d.Find(`nav.subnav a[href="/settings/audit"]`).Length(); got != want {
			t.Errorf("%s sees %d audit links, want %d", who, got, want)
		}
		if got := d.Find("form[action='/settings/members/invite']").Length(); got != want {
			t.Errorf("%s sees %d invite forms, want %d", who, got, want)
		}
		if d.Find(`header nav a[aria-current="page"]`).Text() != "Settings" {
			t.Errorf("%s: Settings is not the current section", who)
		}
	}
}
