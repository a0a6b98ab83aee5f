package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

func TestIntegrationUseIsCheckedOnSaveAndRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	ctx := context.Background()
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	member := h.accessToken(w.users["member"], w.orgA.ID)
	in, err := h.srv.deps.Integrations.Create(ctx, store.NewIntegration{OrganizationID: w.orgA.ID, Name: "Admin API",
		Kind: "http", Config: json.RawMessage(`{"auth":"bearer","base_url":"https://api.example.com"}`),
		Secrets: json.RawMessage(`{"token":"admin-token"}`)}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	def := fmt.Sprintf(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"call","type":"action.http","config":{"url":"https://api.example.com/x","integration_id":%q}}],
		"edges":[{"from":"hook","to":"call"}]}`, in.ID)

	// Unrestricted: the member saves a workflow using it.
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Calls","definition":` + def + `}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("save with an unrestricted integration: %d %s", resp.StatusCode, resp.body)
	}
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(t, &wf)
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, uuid.MustParse(wf.ID))
	if err != nil {
		t.Fatal(err)
	}
	mayUse := app.IntegrationUseChecker(h.srv.deps.Integrations)
	if err := mayUse(ctx, w.orgA.ID, head.VersionID, in.ID); err != nil {
		t.Errorf("run-time check before restricting: %v", err)
	}

	// The admin restricts it to admins: the member's saved version may no longer use it, nor may they save one.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/integrations/" + in.ID.String() + "/use", Bearer: admin,
		JSON: `{"restricted":true,"roles":["viewer"]}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `"restricted":true`) {
		t.Fatalf("restrict: %d %s", resp.StatusCode, resp.body)
	}
	if err := mayUse(ctx, w.orgA.ID, head.VersionID, in.ID); fault.CodeOf(err) != fault.Forbidden || !strings.Contains(err.Error(), "Admin API") {
		t.Errorf("run-time check after restricting: %v", err)
	}
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Calls 2","definition":` + def + `}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"node_id":"call"`) ||
		!strings.Contains(resp.body, "Admin API") {
		t.Errorf("save with a restricted integration: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: admin, JSON: `{"name":"Calls 3","definition":` + def + `}`}); resp.StatusCode != http.StatusCreated {
		t.Errorf("admin save: %d %s", resp.StatusCode, resp.body)
	}

	// An integration_id that is no id at all (a placeholder left behind) is refused at save, naming the node.
	bad := strings.Replace(def, in.ID.String(), "${SMTP_INTEGRATION_ID}", 1)
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: admin, JSON: `{"name":"Calls 4","definition":` + bad + `}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"node_id":"call"`) ||
		!strings.Contains(resp.body, "config.integration_id") {
		t.Errorf("save with a placeholder for an integration id: %d %s", resp.StatusCode, resp.body)
	}

	// Naming the member lets them again.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/integrations/" + in.ID.String() + "/use", Bearer: admin,
		JSON: fmt.Sprintf(`{"restricted":true,"user_ids":[%q]}`, w.users["member"].ID)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("name the member: %d %s", resp.StatusCode, resp.body)
	}
	if err := mayUse(ctx, w.orgA.ID, head.VersionID, in.ID); err != nil {
		t.Errorf("run-time check for a named member: %v", err)
	}
	// Someone of another organization cannot be named.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/integrations/" + in.ID.String() + "/use", Bearer: admin,
		JSON: fmt.Sprintf(`{"restricted":true,"user_ids":[%q]}`, w.users["outsider"].ID)})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, "user_ids[0]") {
		t.Errorf("naming an outsider: %d %s", resp.StatusCode, resp.body)
	}
}

func TestPrivilegedRoleIsForInstanceAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	u, org, err := h.st.UserCreateWithOrganization(context.Background(), store.NewUser{
		Email: "ops-" + uuid.NewString()[:8] + "@ops.example", Name: "Ops", PasswordHash: testPasswordHash(),
		InstanceAdmin: true, OrganizationName: "Ops " + uuid.NewString()[:8], Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	ops := h.accessToken(u, org.ID)
	in, err := h.srv.deps.Integrations.Create(context.Background(), store.NewIntegration{OrganizationID: w.orgA.ID,
		Name: "Warehouse", Kind: "postgres", Config: json.RawMessage(`{"host":"db.internal","database":"app","user":"app"}`)}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/integrations/" + in.ID.String() + "/privileged-role"
	if resp := h.do(request{Method: "PUT", Path: path, Bearer: owner, JSON: `{"allowed":true}`}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("organization owner: %d %s", resp.StatusCode, resp.body)
	}
	// The instance administrator reaches an integration of an organization it is not in.
	resp := h.do(request{Method: "PUT", Path: path, Bearer: ops, JSON: `{"allowed":true}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `"allow_privileged_role":true`) {
		t.Errorf("instance admin: %d %s", resp.StatusCode, resp.body)
	}
	// An admin's own settings cannot carry the flag: it is no setting of the integration.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/integrations/" + in.ID.String(), Bearer: owner,
		JSON: `{"name":"Warehouse","settings":{"host":"db.internal","database":"app","user":"app","allow_privileged_role":false}}`})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("flag in settings: %d %s", resp.StatusCode, resp.body)
	}
}
