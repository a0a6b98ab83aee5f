package handlers

import (
	"context"
	"maps"
	"strings"
	"testing"

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
	})
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
