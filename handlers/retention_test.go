package handlers

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/api/retention"
)

// The role matrix of the retention settings, merged into routeCases: everyone reads their own organization's,
// admins and owners change it.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/settings/retention": {get("/api/v1/settings/retention"), withAnon(every(200), 401)},
		"PUT /api/v1/settings/retention": {func(*harness, *world) request {
			return request{Method: "PUT", Path: "/api/v1/settings/retention", JSON: `{"succeeded_days":7,"failed_days":null}`}
		}, withAnon(adminsOnly(200, 200), 401)},
		"GET /settings/retention":  {get("/settings/retention"), adminsOnly(200, 200)},
		"POST /settings/retention": {form("POST", "/settings/retention", url.Values{"succeeded_days": {"7"}, "failed_days": {""}}), adminsOnly(200, 200)},
	})
}

// TestRetentionSettingsPage: the page's form over the same use case as the API. A viewer and a member are refused
// (and offered no tab); an admin saves seven days for succeeded executions and the default for failed ones, which
// the API then reads and the audit log holds; a bad value is refused naming its field, and nothing is saved.
func TestRetentionSettingsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	for _, role := range []string{"viewer", "member"} {
		cookie := h.sessionCookie(w.users[role], w.orgA.ID)
		if r := h.do(request{Method: "GET", Path: "/settings/retention", Cookie: cookie}); r.StatusCode != 403 {
			t.Errorf("%s opens the page: %d", role, r.StatusCode)
		}
		if r := h.do(request{Method: "POST", Path: "/settings/retention", Cookie: cookie,
			Form: url.Values{"succeeded_days": {"1"}}}); r.StatusCode != 403 {
			t.Errorf("%s saves: %d", role, r.StatusCode)
		}
		doc := h.do(request{Method: "GET", Path: "/settings/members", Cookie: cookie}).doc(t)
		if doc.Find(`nav.subnav a[href="/settings/retention"]`).Length() != 0 {
			t.Errorf("%s is offered the retention tab", role)
		}
	}

	doc := h.do(request{Method: "GET", Path: "/settings/retention", Cookie: admin}).doc(t)
	if doc.Find(`nav.subnav a[href="/settings/retention"][aria-current="page"]`).Length() != 1 {
		t.Error("the retention tab is not marked current")
	}
	if got := doc.Find("#retention-succeeded_days").AttrOr("placeholder", ""); got != "default: 30 days" {
		t.Errorf("succeeded placeholder %q", got)
	}

	for _, bad := range []struct{ field, value string }{{"succeeded_days", "0"}, {"failed_days", "many"}, {"failed_days", "3651"}} {
		values := url.Values{"succeeded_days": {"7"}, "failed_days": {""}}
		values.Set(bad.field, bad.value)
		resp := h.do(request{Method: "POST", Path: "/settings/retention", Cookie: admin, Form: values})
		doc := resp.doc(t)
		msg := strings.TrimSpace(doc.Find("#retention-" + bad.field + "-error").Text())
		if resp.StatusCode != 422 || !strings.Contains(msg, "1 to 3650") ||
			doc.Find("#retention-"+bad.field).AttrOr("aria-invalid", "") != "true" ||
			doc.Find("#retention-"+bad.field).AttrOr("value", "") != bad.value {
			t.Errorf("%s=%q: %d, message %q", bad.field, bad.value, resp.StatusCode, msg)
		}
	}
	var got retention.SettingsJSON
	h.do(request{Method: "GET", Path: "/api/v1/settings/retention", Bearer: h.accessToken(w.users["viewer"], w.orgA.ID)}).json(t, &got)
	if got.SucceededDays != nil || got.FailedDays != nil {
		t.Fatalf("a refused form saved %+v", got)
	}

	resp := h.do(request{Method: "POST", Path: "/settings/retention", Cookie: admin,
		Form: url.Values{"succeeded_days": {" 7 "}, "failed_days": {""}}})
	doc = resp.doc(t)
	if resp.StatusCode != 200 || doc.Find("#retention-succeeded_days").AttrOr("value", "") != "7" ||
		!strings.Contains(doc.Find(".alert.notice").Text(), "Retention saved") {
		t.Fatalf("save: %d %s", resp.StatusCode, doc.Find("main").Text())
	}
	h.do(request{Method: "GET", Path: "/api/v1/settings/retention", Bearer: h.accessToken(w.users["viewer"], w.orgA.ID)}).json(t, &got)
	if got.SucceededDays == nil || *got.SucceededDays != 7 || got.FailedDays != nil {
		t.Errorf("saved retention %+v, want 7 days and the default", got)
	}
	var audited int
	if err := h.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE organization_id = $1 AND action = 'organization.retention_changed' AND actor_user_id = $2`,
		w.orgA.ID, w.users["admin"].ID).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit entries %d, %v; want 1", audited, err)
	}
}

// TestRetentionSettingsPageInTheBrowser saves retention the way a person would and sees a bad value's message
// beside its field, the field marked invalid, and the page clean (no CSP violation, no console error).
func TestRetentionSettingsPageInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	b := h.newBrowser(t)
	// A refused form answers 422 with the page again, which Chromium logs as a failed load: that is the design.
	b.tolerate(regexp.MustCompile(`^console \(network\): .* status of 422 .*/settings/retention$`))
	b.signIn(w.users["owner"], w.orgA.ID)
	b.open("/settings/retention")
	b.assertLabelled()
	b.fill("#retention-failed_days", "0")
	b.click(`[data-retention-form] button[type="submit"]`)
	b.waitFor("#retention-failed_days-error")
	r := b.eval(`() => ({
		message: document.querySelector("#retention-failed_days-error").textContent,
		invalid: document.querySelector("#retention-failed_days").getAttribute("aria-invalid"),
		described: document.querySelector("#retention-failed_days").getAttribute("aria-describedby"),
	})`)
	if !strings.Contains(r.Get("message").Str(), "1 to 3650") || r.Get("invalid").Str() != "true" ||
		r.Get("described").Str() != "retention-failed_days-error" {
		t.Errorf("the bad value's error: %v", r)
	}
	b.fill("#retention-failed_days", "120")
	b.fill("#retention-succeeded_days", "14")
	b.click(`[data-retention-form] button[type="submit"]`)
	b.waitUntil(`() => (document.querySelector(".alert.notice") || {}).textContent === "Retention saved."`)
	own, err := h.st.OrganizationRetentionGet(context.Background(), w.orgA.ID)
	if err != nil || own.Succeeded == nil || *own.Succeeded != 14*24*time.Hour || own.Failed == nil || *own.Failed != 120*24*time.Hour {
		t.Errorf("saved %+v, %v; want 14 and 120 days", own, err)
	}
	b.assertClean()
}

// TestRetentionSettingsAPI: an admin sets seven days for succeeded executions and keeps the default for failed
// ones; a viewer reads it and may not change it; a day count out of range is refused naming its field; the change
// is audited. Answers are checked against the API document.
func TestRetentionSettingsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	w := h.newWorld()
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	call := func(pattern, bearer, body string) response {
		t.Helper()
		resp := h.do(request{Method: strings.Fields(pattern)[0], Path: "/api/v1/settings/retention", Bearer: bearer, JSON: body})
		c.validate(t, pattern, resp)
		return resp
	}
	var got retention.SettingsJSON
	resp := call("GET /api/v1/settings/retention", viewer, "")
	resp.json(t, &got)
	if resp.StatusCode != 200 || got.SucceededDays != nil || got.FailedDays != nil || got.DefaultSucceededDays != 30 || got.DefaultFailedDays != 90 {
		t.Fatalf("retention before = %d %s", resp.StatusCode, resp.body)
	}
	body := `{"succeeded_days":7,"failed_days":null}`
	c.validateRequest(t, "PUT /api/v1/settings/retention", body)
	if r := call("PUT /api/v1/settings/retention", viewer, body); r.StatusCode != 403 {
		t.Errorf("viewer sets retention = %d", r.StatusCode)
	}
	if r := call("PUT /api/v1/settings/retention", admin, `{"succeeded_days":7,"failed_days":0}`); r.StatusCode != 422 ||
		!strings.Contains(r.body, `"failed_days"`) {
		t.Errorf("zero days = %d %s", r.StatusCode, r.body)
	}
	resp = call("PUT /api/v1/settings/retention", admin, body)
	resp.json(t, &got)
	if resp.StatusCode != 200 || got.SucceededDays == nil || *got.SucceededDays != 7 || got.FailedDays != nil {
		t.Fatalf("set retention = %d %s", resp.StatusCode, resp.body)
	}
	resp = call("GET /api/v1/settings/retention", viewer, "")
	resp.json(t, &got)
	if got.SucceededDays == nil || *got.SucceededDays != 7 {
		t.Errorf("retention after = %s", resp.body)
	}
	var audited int
	if err := h.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE organization_id = $1 AND action = 'organization.retention_changed' AND actor_user_id = $2`,
		w.orgA.ID, w.users["admin"].ID).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit entries %d, %v; want 1", audited, err)
	}
}
