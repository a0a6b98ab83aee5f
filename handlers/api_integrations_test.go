package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/store"
)

// postgresSettings points a PostgreSQL integration at the tests' own server.
func postgresSettings(t *testing.T) (settings string, password string) {
	t.Helper()
	u, err := url.Parse(os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	// An ordinary role of its own: the test database's user is a superuser, which integrations refuse.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	role := "cm_handlers_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	password = "not-needed-but-secret-" + fmt.Sprint(os.Getpid())
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), u.String()); err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
			c.Close(context.Background())
		}
	})
	return fmt.Sprintf(`{"host":%q,"port":%s,"database":%q,"user":%q,"password":%q,"sslmode":"disable"}`,
		u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), role, password), password
}

func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/integrations":      {get("/api/v1/integrations"), withAnon(every(200), 401)},
		"POST /api/v1/integrations":     {newIntegrationRequest(), integrationManagers(201, 201)},
		"GET /api/v1/integrations/{id}": {onIntegration("GET", ""), readers(200)},
		"PUT /api/v1/integrations/{id}": {onIntegration("PUT", `{"name":"Renamed","settings":{"host":"db.internal","database":"app","user":"app"}}`),
			integrationManagers(200, 404)},
		"DELETE /api/v1/integrations/{id}":    {onIntegration("DELETE", ""), integrationManagers(204, 404)},
		"POST /api/v1/integrations/{id}/test": {onIntegration("POST", ""), integrationManagers(200, 404)},
		"PUT /api/v1/integrations/{id}/use": {func(h *harness, w *world) request {
			req := onIntegration("GET", "")(h, w)
			return request{Method: "PUT", Path: req.Path + "/use", JSON: `{"restricted":true,"roles":["member"]}`}
		}, integrationManagers(200, 404)},
		// No actor of the matrix is an instance administrator (TestPrivilegedRoleIsForInstanceAdmins is).
		"PUT /api/v1/integrations/{id}/privileged-role": {func(h *harness, w *world) request {
			req := onIntegration("GET", "")(h, w)
			return request{Method: "PUT", Path: req.Path + "/privileged-role", JSON: `{"allowed":true}`}
		}, withAnon(every(http.StatusForbidden), 401)},
		"GET /api/v1/integration-kinds": {get("/api/v1/integration-kinds"), withAnon(every(200), 401)},
		"GET /integrations":             {get("/integrations"), signedIn(200)},
		"POST /integrations": {form("POST", "/integrations", integrationForm("Mail", "smtp",
			`{"host":"smtp.example.com","from":"bot@example.com","username":"bot","password":"pw"}`)),
			pageManagers(200, 200)},
		"POST /integrations/{id}/test":   {onIntegrationPage("test"), pageManagers(200, 404)},
		"POST /integrations/{id}/delete": {onIntegrationPage("delete"), pageManagers(200, 404)},
		"GET /api/v1/executions/{id}/files/{fileID}": {func(h *harness, w *world) request {
			req := onExecution("", store.StatusQueued, "")(h, w)
			return request{Method: "GET", Path: req.Path + "/files/" + store.UploadSourceExport}
		}, readersOf(404)},
		// A key the execution does not claim: not found for everyone (TestLargePayloads reads a real one).
		"GET /api/v1/executions/{id}/payloads/{key}": {func(h *harness, w *world) request {
			req := onExecution("", store.StatusQueued, "")(h, w)
			return request{Method: "GET", Path: req.Path + "/payloads/0123456789abcdef0123456789abcdef"}
		}, readersOf(404)},
	})
}

// integrationManagers: admins and owners manage (the outsider only in its own organization); others may not.
func integrationManagers(status, outsider int) map[string]int {
	m := withAnon(every(status), 401)
	m["viewer"], m["member"], m["outsider"] = http.StatusForbidden, http.StatusForbidden, outsider
	return m
}

// readersOf: a route every member of organization A may call, answering status (the outsider 404, anonymous 401).
func readersOf(status int) map[string]int { return withOutsider(withAnon(every(status), 401), 404) }

// pageManagers is integrationManagers for pages: anonymous visitors are sent to sign in.
func pageManagers(status, outsider int) map[string]int {
	m := integrationManagers(status, outsider)
	m["anonymous"] = http.StatusSeeOther
	return m
}

func onIntegrationPage(action string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		req := onIntegration("GET", "")(h, w)
		return request{Method: "POST", Path: strings.TrimPrefix(req.Path, "/api/v1") + "/" + action, Form: url.Values{}}
	}
}

func newIntegrationRequest() func(*harness, *world) request {
	return func(*harness, *world) request {
		return request{Method: "POST", Path: "/api/v1/integrations",
			JSON: `{"name":"Warehouse","kind":"postgres","settings":{"host":"db.internal","database":"app","user":"app","password":"s3cret-pw"}}`}
	}
}

func onIntegration(method, body string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		in, err := h.srv.deps.Integrations.Create(context.Background(), store.NewIntegration{OrganizationID: w.orgA.ID,
			Name: "Warehouse", Kind: "postgres", Config: json.RawMessage(`{"host":"db.internal","database":"app","user":"app"}`),
			Secrets: json.RawMessage(`{"password":"s3cret-pw"}`)}, store.Actor{})
		if err != nil {
			h.t.Fatal(err)
		}
		suffix := ""
		if method == "POST" {
			suffix = "/test"
		}
		return request{Method: method, Path: "/api/v1/integrations/" + in.ID.String() + suffix, JSON: body}
	}
}

func TestIntegrationsAPIKeepsSecretsWriteOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	settings, password := postgresSettings(t)
	h.remember(password)

	resp := h.do(request{Method: "POST", Path: "/api/v1/integrations", Bearer: admin,
		JSON: `{"name":"Test DB","kind":"postgres","settings":` + settings + `}`})
	if resp.StatusCode != http.StatusCreated || strings.Contains(resp.body, password) || !strings.Contains(resp.body, `"has_secrets":true`) {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	var created struct {
		ID string `json:"id"`
	}
	resp.json(t, &created)
	for _, path := range []string{"/api/v1/integrations", "/api/v1/integrations/" + created.ID} {
		if resp := h.do(request{Method: "GET", Path: path, Bearer: viewer}); resp.StatusCode != 200 || strings.Contains(resp.body, password) ||
			!strings.Contains(resp.body, "Test DB") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.body)
		}
	}
	// The test connection reaches the real PostgreSQL with the sealed settings.
	if resp := h.do(request{Method: "POST", Path: "/api/v1/integrations/" + created.ID + "/test", Bearer: admin}); resp.body != "{\"ok\":true}\n" {
		t.Errorf("test connection: %d %s", resp.StatusCode, resp.body)
	}
	// Renaming without the password keeps it.
	noPassword := strings.Replace(settings, fmt.Sprintf(`,"password":%q`, password), "", 1)
	if resp := h.do(request{Method: "PUT", Path: "/api/v1/integrations/" + created.ID, Bearer: admin,
		JSON: `{"name":"Renamed DB","settings":` + noPassword + `}`}); resp.StatusCode != 200 || !strings.Contains(resp.body, "Renamed DB") {
		t.Fatalf("update: %d %s", resp.StatusCode, resp.body)
	}
	secrets, err := h.srv.deps.Integrations.Secrets(context.Background(), w.orgA.ID, mustUUID(t, created.ID))
	if err != nil || !strings.Contains(string(secrets), password) {
		t.Errorf("the stored password was lost on update (%v)", err)
	}
	var stored []byte
	if err := h.pool.QueryRow(context.Background(), "SELECT secret_ciphertext FROM integrations WHERE id = $1", created.ID).Scan(&stored); err != nil ||
		strings.Contains(string(stored), password) {
		t.Errorf("the secret is not sealed at rest (%v)", err)
	}
	// A bad kind and bad settings are named.
	resp = h.do(request{Method: "POST", Path: "/api/v1/integrations", Bearer: admin, JSON: `{"name":"X","kind":"ftp","settings":{}}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"kind"`) {
		t.Errorf("bad kind: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "POST", Path: "/api/v1/integrations", Bearer: admin, JSON: `{"name":"","kind":"postgres","settings":{"port":"x"}}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"name"`) {
		t.Errorf("bad settings: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "DELETE", Path: "/api/v1/integrations/" + created.ID, Bearer: admin}); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
}

func TestNodeCatalogueAndExportedFileDownload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)

	var catalogue struct {
		Items []struct {
			Name         string          `json:"name"`
			ConfigSchema json.RawMessage `json:"config_schema"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/node-types", Bearer: member}).json(t, &catalogue)
	if len(catalogue.Items) != 18 {
		t.Errorf("the catalogue lists %d node types, want 18", len(catalogue.Items))
	}
	for _, it := range catalogue.Items {
		if len(it.ConfigSchema) == 0 {
			t.Errorf("%s has no config schema", it.Name)
		}
	}

	def := `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"export","type":"action.file_export","config":{"items":"trigger.body.rows","format":"csv","filename":"rows.csv"}}],
		"edges":[{"from":"hook","to":"export"}]}`
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Export","definition":` + def + `}`})
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(t, &wf)
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/run", Bearer: member,
		JSON: `{"rows":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5}]}`})
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	h.waitExecution(member, run.ExecutionID, "succeeded")
	var detail struct {
		Files []struct {
			ID       string `json:"id"`
			Filename string `json:"filename"`
		} `json:"files"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + run.ExecutionID, Bearer: member}).json(t, &detail)
	if len(detail.Files) != 1 || detail.Files[0].Filename != "rows.csv" {
		t.Fatalf("files %+v", detail.Files)
	}
	download := "/api/v1/executions/" + run.ExecutionID + "/files/" + detail.Files[0].ID
	resp = h.do(request{Method: "GET", Path: download, Bearer: member})
	if resp.StatusCode != 200 || !strings.Contains(resp.body, "A-1") || !strings.Contains(resp.Header.Get("Content-Disposition"), "rows.csv") {
		t.Errorf("download: %d %q %s", resp.StatusCode, resp.body, resp.Header.Get("Content-Disposition"))
	}
	if resp := h.do(request{Method: "GET", Path: download, Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider download: %d", resp.StatusCode)
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIntegrationsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	member := h.sessionCookie(w.users["member"], w.orgA.ID)

	// Each kind's form is generated from its fields: the database kind asks for a database, a select for its SSL
	// mode and a password input for its password.
	doc := h.do(request{Method: "GET", Path: "/integrations?kind=postgres", Cookie: admin}).doc(t)
	if doc.Find(`fieldset[data-kind="postgres"] input[name="settings.database"]`).Length() != 1 ||
		doc.Find(`select[name="settings.sslmode"] option`).Length() != 4 || doc.Find(`input[name="settings.password"][type="password"]`).Length() != 1 ||
		doc.Find(`input[name="settings.allow_writes"][type="checkbox"]`).Length() != 1 {
		t.Errorf("postgres form: %s", doc.Find("fieldset.settings").Text())
	}
	// A bad number and a missing host are named at their fields; the typed password is not echoed back.
	bad := integrationForm("Mail", "smtp", `{"port":"many","password":"typed-secret-1","from":"bot@example.com"}`)
	resp := h.do(request{Method: "POST", Path: "/integrations", Cookie: admin, Form: bad})
	doc = resp.doc(t)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[id="settings.port-error"]`).Text() != "Must be a whole number" ||
		strings.Contains(resp.body, "typed-secret-1") || doc.Find(`input[name="settings.from"]`).AttrOr("value", "") != "bot@example.com" {
		t.Fatalf("bad settings: %d %s", resp.StatusCode, doc.Find("form").Text())
	}
	bad.Set("settings.port", "25")
	if resp = h.do(request{Method: "POST", Path: "/integrations", Cookie: admin, Form: bad}); resp.StatusCode != http.StatusUnprocessableEntity ||
		resp.doc(t).Find(`[id="settings.host-error"]`).Text() == "" {
		t.Fatalf("missing host: %d %s", resp.StatusCode, resp.doc(t).Find("form").Text())
	}
	settings, password := postgresSettings(t)
	h.remember(password)
	resp = h.do(request{Method: "POST", Path: "/integrations", Cookie: admin, Form: integrationForm("Warehouse DB", "postgres", settings)})
	doc = resp.doc(t)
	if resp.StatusCode != 200 || !strings.Contains(doc.Find("table.integrations").Text(), "Warehouse DB") || strings.Contains(resp.body, password) {
		t.Fatalf("create: %d %s", resp.StatusCode, doc.Find("main").Text())
	}
	// The list shows the kind by name, the host, and (once tested) the latest test; never the settings as JSON.
	row := doc.Find("tr[data-integration-id]")
	id, _ := row.Attr("data-integration-id")
	if row.Find(".kind").Text() != "PostgreSQL" || row.Find(".host").Text() == "" || strings.TrimSpace(row.Find(".last-test").Text()) != "never" ||
		strings.Contains(row.Text(), "{") {
		t.Errorf("row: %q", row.Text())
	}
	resp = h.do(request{Method: "POST", Path: "/integrations/" + id + "/test", Cookie: admin, Form: url.Values{},
		Header: http.Header{"Hx-Request": {"true"}}})
	if !strings.Contains(resp.body, "Connected.") {
		t.Errorf("test connection: %s", resp.body)
	}
	row = h.do(request{Method: "GET", Path: "/integrations", Cookie: admin}).doc(t).Find(`tr[data-integration-id="` + id + `"]`)
	if !strings.Contains(row.Find(".last-test").Text(), "connected") {
		t.Errorf("last test after a successful one: %q", row.Find(".last-test").Text())
	}
	// A member sees the list but no way to change it.
	resp = h.do(request{Method: "GET", Path: "/integrations", Cookie: member})
	if d := resp.doc(t); d.Find("form[action='/integrations']").Length() != 0 || !strings.Contains(d.Text(), "Warehouse DB") {
		t.Errorf("member's page offers management or hides the list")
	}
}

// integrationForm is the integrations page's form for an integration of kind whose settings are the JSON object
// settingsJSON: each setting as its "settings.<name>" field (lists one item per line, numbers and booleans as text).
func integrationForm(name, kind, settingsJSON string) url.Values {
	var settings map[string]any
	if err := json.Unmarshal([]byte(settingsJSON), &settings); err != nil {
		panic(err)
	}
	form := url.Values{"name": {name}, "kind": {kind}}
	for k, v := range settings {
		switch v := v.(type) {
		case []any:
			lines := make([]string, len(v))
			for i, item := range v {
				lines[i] = fmt.Sprint(item)
			}
			form.Set("settings."+k, strings.Join(lines, "\n"))
		default:
			form.Set("settings."+k, fmt.Sprint(v))
		}
	}
	return form
}

// TestIntegrationKindsAPI serves each kind's settings and JSON Schema, secrets write-only, as the API document says.
func TestIntegrationKindsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	w := h.newWorld()
	resp := h.do(request{Method: "GET", Path: "/api/v1/integration-kinds", Bearer: h.accessToken(w.users["viewer"], w.orgA.ID)})
	c.validate(t, "GET /api/v1/integration-kinds", resp)
	var out struct {
		Items []struct {
			Kind   string `json:"kind"`
			Schema struct {
				Properties map[string]struct {
					Type      string `json:"type"`
					WriteOnly bool   `json:"writeOnly"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"schema"`
		} `json:"items"`
	}
	resp.json(t, &out)
	kinds := map[string]bool{}
	for _, k := range out.Items {
		kinds[k.Kind] = true
		if k.Kind == "postgres" && (!k.Schema.Properties["password"].WriteOnly || k.Schema.Properties["port"].Type != "integer" ||
			!slices.Contains(k.Schema.Required, "database")) {
			t.Errorf("postgres schema: %+v", k.Schema)
		}
	}
	if !kinds["smtp"] || !kinds["http"] || !kinds["postgres"] {
		t.Errorf("kinds: %v", kinds)
	}
}
