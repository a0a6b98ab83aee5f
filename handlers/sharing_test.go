package handlers

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of sharing, merged into routeCases: the workflow is organization A's owner's, so only admins and
// owners may share it; everyone in the organization sees who it is shared with.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/workflows/{id}/sharing": {onWorkflow("GET", "/sharing", ""), readers(200)},
		"PUT /api/v1/workflows/{id}/sharing/{userID}": {func(h *harness, w *world) request {
			wf := h.ownersWorkflow(w)
			return request{Method: "PUT", Path: "/api/v1/workflows/" + wf.ID.String() + "/sharing/" + w.users["viewer"].ID.String(),
				JSON: `{"permission":"run"}`}
		}, editors(200)},
		"DELETE /api/v1/workflows/{id}/sharing/{userID}": {func(h *harness, w *world) request {
			wf := h.sharedWorkflow(w, "viewer", store.PermissionView)
			return request{Method: "DELETE", Path: "/api/v1/workflows/" + wf + "/sharing/" + w.users["viewer"].ID.String()}
		}, editors(204)},
		"GET /workflows/{id}/sharing": {onWorkflowPage("GET", "/sharing"), pageReaders(200)},
		"POST /workflows/{id}/sharing": {func(h *harness, w *world) request {
			wf := h.ownersWorkflow(w)
			return request{Method: "POST", Path: "/workflows/" + wf.ID.String() + "/sharing",
				Form: url.Values{"user_id": {w.users["viewer"].ID.String()}, "permission": {"view"}}}
		}, pageEditors(200)},
		"POST /workflows/{id}/sharing/{userID}/revoke": {func(h *harness, w *world) request {
			wf := h.sharedWorkflow(w, "viewer", store.PermissionView)
			return request{Method: "POST", Path: "/workflows/" + wf + "/sharing/" + w.users["viewer"].ID.String() + "/revoke",
				Form: url.Values{}}
		}, pageEditors(200)},
	})
}

// sharedWorkflow creates the owner's workflow and grants who perm on it, returning its id.
func (h *harness) sharedWorkflow(w *world, who string, perm store.Permission) string {
	h.t.Helper()
	wf := h.ownersWorkflow(w)
	if err := h.st.WorkflowGrantSet(context.Background(), w.orgA.ID, wf.ID, w.users[who].ID, perm, store.Actor{}); err != nil {
		h.t.Fatal(err)
	}
	return wf.ID.String()
}

// TestSharingGrantsRunButNotEdit shares the owner's workflow with a member over the API with "run": the member then
// runs it but may not save it; the grant is listed (API, sharing page, workflow list) and audited; withdrawn, the
// member may no longer run it. Answers are checked against the API document.
func TestSharingGrantsRunButNotEdit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	member := h.accessToken(w.users["member"], w.orgA.ID)
	base := "/api/v1/workflows/" + wf.ID.String()
	memberPath := base + "/sharing/" + w.users["member"].ID.String()
	call := func(pattern, path, bearer, body string) response {
		t.Helper()
		resp := h.do(request{Method: strings.Fields(pattern)[0], Path: path, Bearer: bearer, JSON: body})
		c.validate(t, pattern, resp)
		return resp
	}
	run := func() int {
		return call("POST /api/v1/workflows/{id}/run", base+"/run", member, `{"total":1}`).StatusCode
	}
	if got := run(); got != http.StatusForbidden {
		t.Fatalf("member runs the owner's workflow before any grant: %d", got)
	}

	audits := h.auditCount("workflow.grant_changed")
	c.validateRequest(t, "PUT /api/v1/workflows/{id}/sharing/{userID}", `{"permission":"run"}`)
	if resp := call("PUT /api/v1/workflows/{id}/sharing/{userID}", memberPath, owner, `{"permission":"run"}`); resp.StatusCode != 200 ||
		!strings.Contains(resp.body, `"permission":"run"`) {
		t.Fatalf("grant run = %d %s", resp.StatusCode, resp.body)
	}
	if got := h.auditCount("workflow.grant_changed"); got != audits+1 {
		t.Errorf("audit rows of workflow.grant_changed = %d, want %d", got, audits+1)
	}
	if resp := call("PUT /api/v1/workflows/{id}/sharing/{userID}", memberPath, owner, `{"permission":"admin"}`); resp.StatusCode != 422 ||
		!strings.Contains(resp.body, "permission") {
		t.Errorf("grant admin = %d %s, want 422 naming permission", resp.StatusCode, resp.body)
	}
	// The member now runs it, and still cannot save it nor share it further.
	if got := run(); got != http.StatusAccepted {
		t.Fatalf("member with run grant runs: %d", got)
	}
	if resp := call("PUT /api/v1/workflows/{id}", base, member, `{"version":1,"definition":`+apiFlow+`}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member with run grant saves: %d %s", resp.StatusCode, resp.body)
	}
	if resp := call("PUT /api/v1/workflows/{id}/sharing/{userID}", memberPath, member, `{"permission":"edit"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("member with run grant widens its own grant: %d", resp.StatusCode)
	}

	var list struct {
		Items []struct {
			UserID     string `json:"user_id"`
			Permission string `json:"permission"`
		} `json:"items"`
		CanShare bool `json:"can_share"`
	}
	call("GET /api/v1/workflows/{id}/sharing", base+"/sharing", member, "").json(t, &list)
	if len(list.Items) != 1 || list.CanShare {
		t.Errorf("sharing as the member = %+v, want one grant and can_share false", list)
	}

	// The page and the list show it to the owner.
	cookie := h.sessionCookie(w.users["owner"], w.orgA.ID)
	page := h.do(request{Method: "GET", Path: "/workflows/" + wf.ID.String() + "/sharing", Cookie: cookie}).doc(t)
	if sel := page.Find(`tr[data-user-id="` + w.users["member"].ID.String() + `"] select option[selected]`); sel.AttrOr("value", "") != "run" {
		t.Errorf("sharing page's grant of the member = %q, want run", sel.AttrOr("value", ""))
	}
	if page.Find(`select#user_id option[value="`+w.users["member"].ID.String()+`"]`).Length() != 0 {
		t.Error("the member, already granted, is offered again")
	}
	listPage := h.do(request{Method: "GET", Path: "/workflows", Cookie: cookie}).doc(t)
	if got := strings.TrimSpace(listPage.Find(`tr[data-workflow-id="` + wf.ID.String() + `"] a.shared`).Text()); got != "Shared with 1 member" {
		t.Errorf("workflow list says %q", got)
	}

	if resp := call("DELETE /api/v1/workflows/{id}/sharing/{userID}", memberPath, owner, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("withdraw = %d %s", resp.StatusCode, resp.body)
	}
	if got := run(); got != http.StatusForbidden {
		t.Errorf("member runs after the grant was withdrawn: %d", got)
	}
	if resp := call("DELETE /api/v1/workflows/{id}/sharing/{userID}", memberPath, owner, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("withdraw again = %d, want 404", resp.StatusCode)
	}
}

// TestSharingPageSharesWithAMember shares from the page's form as an admin; a member of another organization
// cannot be chosen (404, not a grant).
func TestSharingPageSharesWithAMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	cookie := h.sessionCookie(w.users["admin"], w.orgA.ID)
	path := "/workflows/" + wf.ID.String() + "/sharing"
	resp := h.do(request{Method: "POST", Path: path, Cookie: cookie,
		Form: url.Values{"user_id": {w.users["viewer"].ID.String()}, "permission": {"edit"}}})
	if resp.StatusCode != 200 || !strings.Contains(resp.body, "Sharing saved.") {
		t.Fatalf("share = %d %.300s", resp.StatusCode, resp.body)
	}
	grant, err := h.st.WorkflowGrant(context.Background(), w.orgA.ID, wf.ID, w.users["viewer"].ID)
	if err != nil || grant != store.PermissionEdit {
		t.Fatalf("viewer's grant = %q, %v", grant, err)
	}
	resp = h.do(request{Method: "POST", Path: path, Cookie: cookie,
		Form: url.Values{"user_id": {w.users["outsider"].ID.String()}, "permission": {"view"}}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("sharing with another organization's user = %d, want 404", resp.StatusCode)
	}
	resp = h.do(request{Method: "POST", Path: path, Cookie: cookie, Form: url.Values{"user_id": {"nobody"}, "permission": {"view"}}})
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.doc(t).Find(".field-error").Text() != "Choose a member" {
		t.Errorf("sharing with no one = %d", resp.StatusCode)
	}
}
