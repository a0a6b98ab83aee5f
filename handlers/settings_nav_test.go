package handlers

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/sql/store"
)

// TestSettingsPagesMarkTheirTabAndOfferOnlyWhatWorks checks the settings pages: the current tab is marked, the
// sole owner is not offered "Leave" (which would be refused) while a second owner's departure is, and a new API
// token comes with a Copy button next to it.
func TestSettingsPagesMarkTheirTabAndOfferOnlyWhatWorks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)
	for _, path := range []string{"/settings/members", "/settings/tokens", "/settings/audit", "/settings/transfer", "/settings/retention", "/profile"} {
		doc := h.do(request{Method: "GET", Path: path, Cookie: owner}).doc(t)
		current := doc.Find(`nav.subnav a[aria-current="page"]`)
		if current.Length() != 1 || current.AttrOr("href", "") != path {
			t.Errorf("%s: current tab %q (%d marked)", path, current.AttrOr("href", ""), current.Length())
		}
	}

	leaveForms := func(cookieOf string) int {
		doc := h.do(request{Method: "GET", Path: "/settings/members", Cookie: h.sessionCookie(w.users[cookieOf], w.orgA.ID)}).doc(t)
		return doc.Find(`form[action="/settings/members/leave"]`).Length()
	}
	if n := leaveForms("owner"); n != 0 {
		t.Errorf("the sole owner is offered Leave (%d)", n)
	}
	if n := leaveForms("member"); n != 1 {
		t.Errorf("a member is offered Leave %d times", n)
	}
	if _, err := h.st.MemberChangeRole(context.Background(), w.orgA.ID, w.users["admin"].ID, store.RoleOwner, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if n := leaveForms("owner"); n != 1 {
		t.Errorf("one of two owners is offered Leave %d times", n)
	}

	resp := h.do(request{Method: "POST", Path: "/settings/tokens", Cookie: owner,
		Form: url.Values{"name": {"CI"}, "expires_in_days": {"30"}, "scopes": {"read"}}})
	doc := resp.doc(t)
	secret := doc.Find("#new-token").AttrOr("value", "")
	h.remember(secret)
	if !strings.HasPrefix(secret, "cm_") || doc.Find(`button[data-copy="new-token"]`).Length() != 1 {
		t.Errorf("new token %q without its Copy button", secret)
	}
}
