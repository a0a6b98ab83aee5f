package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The feature-flag administration routes: no actor of the matrix is an instance administrator, so everyone signed
// in is refused; TestFlagsAdminAPI is the instance administrator's.
func init() {
	refused := withAnon(every(http.StatusForbidden), http.StatusUnauthorized)
	pageRefused := withAnon(every(http.StatusForbidden), http.StatusSeeOther)
	maps.Copy(routeCases, map[string]routeCase{
		"GET /admin/flags": {get("/admin/flags"), pageRefused},
		"POST /admin/flags/{name}": {form("POST", "/admin/flags/"+flags.NodeTriggerError,
			url.Values{"value": {"true"}, "reason": {"ga"}}), pageRefused},
		"POST /admin/flags/{name}/overrides": {func(_ *harness, w *world) request {
			return form("POST", "/admin/flags/"+flags.NodeTriggerError+"/overrides", url.Values{
				"organization_id": {w.orgA.ID.String()}, "value": {"true"}, "reason": {"beta"}})(nil, w)
		}, pageRefused},
		"GET /api/v1/admin/flags": {get("/api/v1/admin/flags"), refused},
		"PUT /api/v1/admin/flags/{name}": {func(*harness, *world) request {
			return request{Method: "PUT", Path: "/api/v1/admin/flags/" + flags.NodeTriggerError, JSON: `{"value":true,"reason":"ga"}`}
		}, refused},
		"PUT /api/v1/admin/flags/{name}/overrides/{id}": {func(_ *harness, w *world) request {
			return request{Method: "PUT", Path: "/api/v1/admin/flags/" + flags.NodeTriggerError + "/overrides/" + w.orgA.ID.String(),
				JSON: `{"value":true,"reason":"beta"}`}
		}, refused},
	})
}

// withFlags gives the server and its use cases a started feature-flag provider over the harness's database, in
// production mode.
func withFlags() harnessOption {
	return func(d *Deps, h *harness) {
		c, err := flags.NewCatalogue(flags.Builtin())
		if err != nil {
			h.t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := flags.NewProvider(c, flags.Production, h.st, service.NewArchetype(slog.New(slog.DiscardHandler)))
		if err := p.Start(ctx); err != nil {
			h.t.Fatal(err)
		}
		f, err := flags.New(ctx, p)
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = f.Close(context.Background()); cancel(); p.Stop() })
		d.Flags, h.app.Flags = f, f
	}
}

// withDevelopment runs the server in development mode (APP_ENV=development).
func withDevelopment() harnessOption {
	return func(d *Deps, _ *harness) { d.Development = true }
}

// TestNodeTypesFlaggedOffLeaveThePalette: the canvas's palette (GET node-types, under /api/v1 and /ui/api/v1) of
// an organization where node.action.database and node.transform.parse are off lacks those types, and a save naming
// them is refused with the node and the flag named; the other organization keeps them (transform.parse marked beta).
func TestNodeTypesFlaggedOffLeaveThePalette(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFlags())
	w := h.newWorld()
	ctx := context.Background()
	for _, flag := range []string{flags.NodeActionDatabase, flags.NodeTransformParse} {
		if err := h.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flag, w.orgA.ID, json.RawMessage(`false`), "not here"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.deps.Flags.Provider().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	palette := func(req request) []string {
		resp := h.do(req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", req.Path, resp.StatusCode, resp.body)
		}
		var out struct {
			Items []struct {
				Name         string          `json:"name"`
				Beta         bool            `json:"beta"`
				ConfigSchema json.RawMessage `json:"config_schema"`
			} `json:"items"`
		}
		resp.json(t, &out)
		var names []string
		for _, it := range out.Items {
			names = append(names, it.Name)
			if it.Beta != (it.Name == "transform.parse") || len(it.ConfigSchema) == 0 {
				t.Errorf("%s: beta %v, schema %s", it.Name, it.Beta, it.ConfigSchema)
			}
		}
		return names
	}
	owner, outsider := w.users["owner"], w.users["outsider"]
	flagged := func(p []string) bool {
		return slices.Contains(p, "action.database") || slices.Contains(p, "transform.parse")
	}
	if p := palette(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(owner, w.orgA.ID)}); flagged(p) || len(p) == 0 {
		t.Errorf("API palette of the flagged-off organization: %v", p)
	}
	if p := palette(request{Method: "GET", Path: "/ui/api/v1/node-types", Cookie: h.sessionCookie(owner, w.orgA.ID)}); flagged(p) {
		t.Errorf("canvas palette of the flagged-off organization: %v", p)
	}
	if p := palette(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(outsider, w.orgB.ID)}); !slices.Contains(p, "action.database") || !slices.Contains(p, "transform.parse") {
		t.Errorf("the other organization's palette lacks a flagged type: %v", p)
	}
	def := `{"definition":{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},` +
		`{"id":"db","type":"action.database","config":{"integration_id":"00000000-0000-0000-0000-000000000001","query":"select 1"}},` +
		`{"id":"parse","type":"transform.parse","config":{"file":"trigger.body.file"}}],` +
		`"edges":[{"from":"hook","to":"db"},{"from":"hook","to":"parse"}]}}`
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/validate", JSON: def, Bearer: h.accessToken(owner, w.orgA.ID)})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"node_id":"db"`) ||
		!strings.Contains(resp.body, flags.NodeActionDatabase) || !strings.Contains(resp.body, `"node_id":"parse"`) ||
		!strings.Contains(resp.body, flags.NodeTransformParse) {
		t.Errorf("validating action.database where it is off: %d %s", resp.StatusCode, resp.body)
	}
}

// TestDevelopmentBannerInBothThemes: development mode shows its banner on every page, signed in or not, readable
// in the light and the dark theme; production shows none.
func TestDevelopmentBannerInBothThemes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDevelopment())
	w := h.newWorld()
	b := h.newBrowser(t)
	for _, theme := range []string{"light", "dark"} {
		b.setColorScheme(theme)
		for _, path := range []string{"/login", "/workflows"} {
			if path == "/workflows" {
				b.signIn(w.users["member"], w.orgA.ID)
			}
			b.open(path)
			banner := b.waitFor("[data-dev-banner]")
			if !strings.Contains(banner.MustText(), "Development mode") || !banner.MustVisible() {
				t.Errorf("%s, %s theme: banner %q not shown", path, theme, banner.MustText())
			}
			colors := b.eval(`() => { const s = getComputedStyle(document.querySelector("[data-dev-banner]"));
				return [s.color, s.backgroundColor, document.documentElement.dataset.theme || ""]; }`).Arr()
			if colors[0].Str() == colors[1].Str() || colors[2].Str() != theme {
				t.Errorf("%s, %s theme: banner colour %s on %s (theme %q)", path, theme, colors[0].Str(), colors[1].Str(), colors[2].Str())
			}
			b.screenshot("dev-banner-" + theme + strings.ReplaceAll(path, "/", "-"))
		}
	}
	b.assertClean()

	prod := newHarness(t)
	if resp := prod.do(request{Method: "GET", Path: "/login"}); strings.Contains(resp.body, "data-dev-banner") {
		t.Error("production shows the development banner")
	}
}

// TestFlagsAdminAPI: an instance administrator sees every flag, sets a rollout and an organization's override
// (each audited with the reason), gets 422 naming the field for a bad value or a missing reason and 404 for an
// unknown flag; the answers match the OpenAPI document; the change takes effect in the organization's palette.
func TestFlagsAdminAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFlags())
	c := loadContract(t, h)
	w := h.newWorld()
	ctx := context.Background()
	u, org, err := h.st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ops@ops.example", Name: "Ops",
		PasswordHash: testPasswordHash(), InstanceAdmin: true, OrganizationName: "Ops", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	admin := h.accessToken(u, org.ID)
	call := func(pattern, method, path, body string) response {
		resp := h.do(request{Method: method, Path: path, JSON: body, Bearer: admin})
		c.validate(t, pattern, resp)
		return resp
	}
	list := call("GET /api/v1/admin/flags", "GET", "/api/v1/admin/flags", "")
	if list.StatusCode != 200 || !strings.Contains(list.body, flags.NodeTriggerError) || !strings.Contains(list.body, flags.NodeActionDatabase) {
		t.Fatalf("list: %d %s", list.StatusCode, list.body)
	}
	const setPattern = "PUT /api/v1/admin/flags/{name}"
	for body, field := range map[string]string{
		`{"value":"yes","reason":"x"}`: "value",
		`{"value":true}`:               "reason",
		`{"rollout":[{"value":true,"percent":80},{"value":false,"percent":30}],"reason":"x"}`: "rollout",
		`{"rollout_by":"team","reason":"x"}`:                                                  "rollout_by",
	} {
		resp := call(setPattern, "PUT", "/api/v1/admin/flags/"+flags.NodeTriggerError, body)
		if resp.StatusCode != 422 || !strings.Contains(resp.body, `"field":"`+field) {
			t.Errorf("%s: %d %s, want 422 naming %s", body, resp.StatusCode, resp.body, field)
		}
	}
	if resp := call(setPattern, "PUT", "/api/v1/admin/flags/no.such", `{"value":true,"reason":"x"}`); resp.StatusCode != 404 {
		t.Errorf("unknown flag: %d", resp.StatusCode)
	}
	resp := call(setPattern, "PUT", "/api/v1/admin/flags/"+flags.NodeTriggerError,
		`{"rollout":[{"value":true,"percent":100}],"reason":"general availability"}`)
	if resp.StatusCode != 200 || !strings.Contains(resp.body, `"percent":100`) {
		t.Fatalf("set rollout: %d %s", resp.StatusCode, resp.body)
	}
	resp = call("PUT /api/v1/admin/flags/{name}/overrides/{id}", "PUT",
		"/api/v1/admin/flags/"+flags.NodeTriggerError+"/overrides/"+w.orgA.ID.String(), `{"value":false,"reason":"incident 7"}`)
	if resp.StatusCode != 200 || !strings.Contains(resp.body, w.orgA.Name) {
		t.Fatalf("set override: %d %s", resp.StatusCode, resp.body)
	}
	var audited int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE target_id = $1 AND actor_user_id = $2
		AND ((action = 'feature_flag.set' AND after->>'reason' = 'general availability')
		  OR (action = 'feature_flag.override_set' AND after->>'reason' = 'incident 7'))`, flags.NodeTriggerError, u.ID).Scan(&audited); err != nil || audited != 2 {
		t.Errorf("audited changes = %d (%v), want 2 with who and why", audited, err)
	}
	has := func(who string, orgID uuid.UUID) bool {
		r := h.do(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(w.users[who], orgID)})
		return strings.Contains(r.body, `"name":"trigger.error"`)
	}
	if has("owner", w.orgA.ID) || !has("outsider", w.orgB.ID) {
		t.Errorf("palettes after the change: overridden org has trigger.error %v, rolled-out org %v", has("owner", w.orgA.ID), has("outsider", w.orgB.ID))
	}
}

// TestFlagsAdminPage: the instance administrator's page lists the flags, and its forms set a rollout and an
// override (the page then shows them) or answer 422 naming what is wrong.
func TestFlagsAdminPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFlags())
	w := h.newWorld()
	cookie := adminJobsInstanceAdmin(h)
	page := h.do(request{Method: "GET", Path: "/admin/flags", Cookie: cookie})
	if page.StatusCode != 200 || page.doc(t).Find(`[data-flag="`+flags.NodeTriggerError+`"]`).Length() != 1 {
		t.Fatalf("page: %d %.400s", page.StatusCode, page.body)
	}
	post := func(path string, v url.Values) response {
		return h.do(request{Method: "POST", Path: path, Form: v, Cookie: cookie})
	}
	bad := post("/admin/flags/"+flags.NodeTriggerError, url.Values{"value": {"true"}, "rollout_percent": {"50"}, "rollout_value": {"true"}})
	if bad.StatusCode != 422 || !strings.Contains(bad.body, "say why") {
		t.Errorf("no reason: %d %.300s", bad.StatusCode, bad.body)
	}
	ok := post("/admin/flags/"+flags.NodeTriggerError, url.Values{"value": {""}, "rollout_percent": {"25"},
		"rollout_value": {"true"}, "rollout_by": {"organization"}, "reason": {"canary"}})
	if ok.StatusCode != 200 || !strings.Contains(ok.doc(t).Find(`[data-flag="`+flags.NodeTriggerError+`"] [data-flag-rollout]`).Text(), "25% true") {
		t.Errorf("rollout: %d %.300s", ok.StatusCode, ok.body)
	}
	over := post("/admin/flags/"+flags.NodeTriggerError+"/overrides", url.Values{"organization_id": {w.orgB.ID.String()},
		"value": {"true"}, "reason": {"design partner"}})
	if over.StatusCode != 200 || over.doc(t).Find(`[data-override-org="`+w.orgB.ID.String()+`"]`).Length() != 1 {
		t.Errorf("override: %d %.300s", over.StatusCode, over.body)
	}
	unknown := post("/admin/flags/"+flags.NodeTriggerError+"/overrides", url.Values{"organization_id": {uuid.NewString()},
		"value": {"true"}, "reason": {"x"}})
	if unknown.StatusCode != 404 {
		t.Errorf("unknown organization: %d", unknown.StatusCode)
	}
	if !h.srv.deps.Flags.Enabled(context.Background(), flags.NodeTriggerError, flags.Subject{OrgID: w.orgB.ID}) {
		t.Error("the override set on the page does not apply")
	}
}
