package handlers

import (
	"net/url"
	"strings"
	"testing"
)

func TestPasswordResetEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withMail())
	w := h.newWorld()
	user := w.users["member"]
	oldSession := h.sessionCookie(user, w.orgA.ID)

	// The answer is the same for an account and for nobody: the page cannot tell who has an account.
	known := h.do(request{Method: "POST", Path: "/forgot-password", Form: url.Values{"email": {strings.ToUpper(user.Email)}}})
	unknown := h.do(request{Method: "POST", Path: "/forgot-password", Form: url.Values{"email": {"nobody@example.com"}}})
	if known.StatusCode != 200 || unknown.StatusCode != 200 ||
		known.doc(t).Find("main").Text() != unknown.doc(t).Find("main").Text() {
		t.Fatalf("answers differ: %d %q / %d %q", known.StatusCode, known.doc(t).Find("main").Text(),
			unknown.StatusCode, unknown.doc(t).Find("main").Text())
	}
	subject, link := h.mailTo(user.Email)
	h.remember(link)
	if !strings.Contains(subject, "Reset") || !strings.HasPrefix(link, h.ts.URL+"/reset-password?token=cm_lnk_") {
		t.Fatalf("mail %q link %q", subject, link)
	}
	if len(h.mail.Messages()) != 1 {
		t.Errorf("%d mails sent; nobody@ must get none", len(h.mail.Messages()))
	}
	token := strings.TrimPrefix(link, h.ts.URL+"/reset-password?token=")

	path := strings.TrimPrefix(link, h.ts.URL)
	form := h.do(request{Method: "GET", Path: path})
	if form.StatusCode != 200 || form.doc(t).Find("input[name=token]").AttrOr("value", "") != token ||
		form.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("reset page = %d", form.StatusCode)
	}
	mismatch := h.do(request{Method: "POST", Path: "/reset-password", Form: url.Values{"token": {token},
		"password": {"my new password"}, "confirm": {"my new passwort"}}})
	if mismatch.StatusCode != 422 || mismatch.doc(t).Find("#confirm-error").Text() == "" {
		t.Fatalf("mismatch = %d", mismatch.StatusCode)
	}
	done := h.do(request{Method: "POST", Path: "/reset-password", Form: url.Values{"token": {token},
		"password": {"my new password"}, "confirm": {"my new password"}}})
	h.remember("my new password")
	if done.StatusCode != 303 || done.Header.Get("Location") != "/login?reset=1" {
		t.Fatalf("reset = %d %q", done.StatusCode, done.Header.Get("Location"))
	}
	// Single use; every session of the user ended; the new password works and the old does not.
	if again := h.do(request{Method: "POST", Path: "/reset-password", Form: url.Values{"token": {token},
		"password": {"yet another one!"}, "confirm": {"yet another one!"}}}); again.StatusCode != 404 {
		t.Errorf("second use = %d", again.StatusCode)
	}
	if r := h.do(request{Method: "GET", Path: path}); r.StatusCode != 404 || !strings.Contains(r.body, "not valid") {
		t.Errorf("used link page = %d", r.StatusCode)
	}
	if r := h.do(request{Method: "GET", Path: "/profile", Cookie: oldSession}); r.StatusCode != 303 {
		t.Errorf("a session from before the reset = %d", r.StatusCode)
	}
	if r := h.login(user.Email, testPassword, "192.0.2.1"); r.StatusCode != 401 {
		t.Errorf("old password = %d", r.StatusCode)
	}
	ok := h.login(user.Email, "my new password", "192.0.2.1")
	if ok.StatusCode != 303 || sessionFrom(ok) == nil {
		t.Errorf("new password = %d", ok.StatusCode)
	} else {
		h.remember(sessionFrom(ok).Value)
	}
	if h.auditCount("user.password_reset_requested") != 1 || h.auditCount("user.password_reset") != 1 {
		t.Error("the reset is not audited")
	}
	// A random token is as invalid as a used one.
	if r := h.do(request{Method: "GET", Path: "/reset-password?token=cm_lnk_guess"}); r.StatusCode != 404 {
		t.Errorf("guessed token = %d", r.StatusCode)
	}
	if !strings.Contains(h.logs.String(), `"mail":"password_reset"`) {
		t.Error("the send is not logged")
	}
}

func TestPasswordResetWithoutSMTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	page := h.do(request{Method: "GET", Path: "/forgot-password"})
	if !strings.Contains(page.doc(t).Find("main").Text(), "not set up") || page.doc(t).Find("main form").Length() != 0 {
		t.Error("without SMTP the page must say resets are not available")
	}
	if login := h.do(request{Method: "GET", Path: "/login"}); login.doc(t).Find(`a[href="/forgot-password"]`).Length() != 0 {
		t.Error("the sign-in page offers a reset that cannot be sent")
	}
	r := h.do(request{Method: "POST", Path: "/forgot-password", Form: url.Values{"email": {w.users["owner"].Email}}})
	if r.StatusCode != 200 || h.auditCount("user.password_reset_requested") != 0 {
		t.Errorf("reset without SMTP = %d", r.StatusCode)
	}
}
