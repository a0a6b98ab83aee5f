package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// The role matrix of the API's description routes: public, the same for everyone.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/openapi.json": {get("/api/openapi.json"), every(200)},
		"GET /api/docs":         {get("/api/docs"), every(200)},
	})
}

// apiContract is the served OpenAPI document, with its schemas compiled as JSON Schema 2020-12 (the dialect of
// OpenAPI 3.1), and a record of which (route, status) answers were validated.
type apiContract struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
	seen     map[string]map[int]bool
}

const (
	schemasURL          = "mem://components.json"
	definitionSchemaURL = "mem://workflow-definition.json"
)

// loadContract fetches /api/openapi.json from the real server and prepares its schemas for validation: the
// component schemas become the $defs of one JSON Schema resource, and every $ref points there.
func loadContract(t *testing.T, h *harness) *apiContract {
	t.Helper()
	resp := h.do(request{Method: "GET", Path: "/api/openapi.json"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.body)
	}
	rewritten := strings.ReplaceAll(resp.body, `"#/components/schemas/`, `"`+schemasURL+`#/$defs/`)
	// Definitions refer to the served definition schema, by its path on this server.
	rewritten = strings.ReplaceAll(rewritten, `"$ref": "`+api.DefinitionSchemaPath+`"`, `"$ref": "`+definitionSchemaURL+`"`)
	var doc map[string]any
	if err := json.Unmarshal([]byte(rewritten), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	defs, err := jsonschema.UnmarshalJSON(strings.NewReader(mustJSON(t, map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$defs":   doc["components"].(map[string]any)["schemas"],
	})))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(schemasURL, defs); err != nil {
		t.Fatal(err)
	}
	defResp := h.do(request{Method: "GET", Path: api.DefinitionSchemaPath})
	defSchema, err := jsonschema.UnmarshalJSON(strings.NewReader(defResp.body))
	if err != nil {
		t.Fatalf("%s: %d %v", api.DefinitionSchemaPath, defResp.StatusCode, err)
	}
	if err := c.AddResource(definitionSchemaURL, defSchema); err != nil {
		t.Fatal(err)
	}
	ct := &apiContract{doc: doc, compiler: c, compiled: map[string]*jsonschema.Schema{}, seen: map[string]map[int]bool{}}
	for name := range defs.(map[string]any)["$defs"].(map[string]any) {
		if _, err := ct.compile(schemasURL + "#/$defs/" + name); err != nil {
			t.Errorf("component %s does not compile as JSON Schema 2020-12: %v", name, err)
		}
	}
	return ct
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compile compiles a schema once, by URL; an inline schema is added as a resource of its own first.
func (c *apiContract) compile(url string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.compiled[url]; ok {
		return s, nil
	}
	s, err := c.compiler.Compile(url)
	if err == nil {
		c.compiled[url] = s
	}
	return s, err
}

func (c *apiContract) inlineSchema(key string, schema any) (*jsonschema.Schema, error) {
	url := "mem://inline/" + key + ".json"
	c.mu.Lock()
	_, done := c.compiled[url]
	c.mu.Unlock()
	if !done {
		raw, err := json.Marshal(schema)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		err = c.compiler.AddResource(url, doc)
		c.mu.Unlock()
		if err != nil && !strings.Contains(err.Error(), "exists") {
			return nil, err
		}
	}
	return c.compile(url)
}

// operation finds the operation of a route pattern ("GET /api/v1/workflows/{id}") in the document.
func (c *apiContract) operation(pattern string) (map[string]any, bool) {
	method, path, _ := strings.Cut(pattern, " ")
	item, ok := c.doc["paths"].(map[string]any)[api.OpenAPIPath(path)].(map[string]any)
	if !ok {
		return nil, false
	}
	op, ok := item[strings.ToLower(method)].(map[string]any)
	return op, ok
}

var nonWord = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// validate checks one real answer of a route against the document: its status must be described, its media type
// must be the described one, and a JSON body must match the schema.
func (c *apiContract) validate(t *testing.T, pattern string, resp response) {
	t.Helper()
	op, ok := c.operation(pattern)
	if !ok {
		t.Errorf("%s is not in the document", pattern)
		return
	}
	described, ok := op["responses"].(map[string]any)[strconv.Itoa(resp.StatusCode)].(map[string]any)
	if !ok {
		t.Errorf("%s answered %d, which the document does not describe:\n%.300s", pattern, resp.StatusCode, resp.body)
		return
	}
	c.mu.Lock()
	if c.seen[pattern] == nil {
		c.seen[pattern] = map[int]bool{}
	}
	c.seen[pattern][resp.StatusCode] = true
	c.mu.Unlock()
	content, _ := described["content"].(map[string]any)
	if content == nil {
		if strings.TrimSpace(resp.body) != "" {
			t.Errorf("%s %d: the document says no content, the answer has %.200q", pattern, resp.StatusCode, resp.body)
		}
		return
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := content[mediaType].(map[string]any)
	if !ok {
		if _, binary := content["application/octet-stream"]; binary {
			return // a file answers with its own type
		}
		t.Errorf("%s %d: content type %q is not described (%v)", pattern, resp.StatusCode, mediaType, slices.Collect(maps.Keys(content)))
		return
	}
	if !strings.HasSuffix(mediaType, "json") {
		return
	}
	schema, err := c.inlineSchema(nonWord.ReplaceAllString(pattern, "_")+"_"+strconv.Itoa(resp.StatusCode), media["schema"])
	if err != nil {
		t.Errorf("%s %d: schema does not compile: %v", pattern, resp.StatusCode, err)
		return
	}
	body, err := jsonschema.UnmarshalJSON(strings.NewReader(resp.body))
	if err != nil {
		t.Errorf("%s %d: the answer is not JSON: %v\n%.300s", pattern, resp.StatusCode, err, resp.body)
		return
	}
	if err := schema.Validate(body); err != nil {
		t.Errorf("%s %d: the answer does not match the document:\n%v\nbody: %.600s", pattern, resp.StatusCode, err, resp.body)
	}
}

// validateRequest checks that a request body the test sends (and the handler accepts) matches the described one.
func (c *apiContract) validateRequest(t *testing.T, pattern, body string) {
	t.Helper()
	op, _ := c.operation(pattern)
	rb, ok := op["requestBody"].(map[string]any)
	if !ok {
		t.Errorf("%s: the document describes no request body", pattern)
		return
	}
	media := rb["content"].(map[string]any)["application/json"].(map[string]any)
	schema, err := c.inlineSchema(nonWord.ReplaceAllString(pattern, "_")+"_request", media["schema"])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("%s: the request body %s does not match the document: %v", pattern, body, err)
	}
}

// describedPattern tells whether the contract covers a route: the versioned API and the webhooks.
func describedPattern(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	return strings.HasPrefix(path, "/api/v1/") || strings.HasPrefix(path, "/hooks/")
}

// TestOpenAPIDescribesEveryRoute walks the route table: every /api/v1 (and webhook) route must be in the document
// with the path parameters of its pattern, a Bearer route must really refuse an anonymous call, and every
// description must belong to a registered route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	routes := h.srv.Routes()
	for _, pattern := range routes {
		if !describedPattern(pattern) {
			continue
		}
		op, ok := c.operation(pattern)
		if !ok {
			t.Errorf("route %q is not in /api/openapi.json: describe it in api/openapi_*.go", pattern)
			continue
		}
		_, path, _ := strings.Cut(pattern, " ")
		var inPath []string
		for _, p := range asSlice(op["parameters"]) {
			if p := p.(map[string]any); p["in"] == "path" {
				inPath = append(inPath, p["name"].(string))
			}
		}
		if want := api.PathWildcards(path); !slices.Equal(inPath, want) {
			t.Errorf("%s: path parameters %v, the pattern has %v", pattern, inPath, want)
		}
		if op["summary"] == "" || op["tags"] == nil {
			t.Errorf("%s: no summary or tag", pattern)
		}
		// The document's security must be the route's: a Bearer route refuses a call without a token.
		if security, public := op["security"]; !public || len(asSlice(security)) > 0 {
			resp := h.do(request{Method: strings.Fields(pattern)[0], Path: concretePath(path)})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s is described as needing a Bearer token, but answers %d without one", pattern, resp.StatusCode)
			}
			c.validate(t, pattern, resp)
		}
	}
	described, err := api.DescribedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range described {
		if !slices.Contains(routes, pattern) {
			t.Errorf("the OpenAPI descriptions have %q, which is not a registered route", pattern)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// concretePath fills a pattern's wildcards with values of the right shape.
func concretePath(path string) string {
	out := path
	for _, name := range api.PathWildcards(path) {
		value := uuid.NewString()
		if name == "number" {
			value = "1"
		}
		out = strings.Replace(out, "{"+name+"...}", value, 1)
		out = strings.Replace(out, "{"+name+"}", value, 1)
	}
	return out
}

// TestOpenAPIValidatesEveryRoutesAnswers calls every described route through its role-matrix case as an owner, a
// viewer, the outsider and an anonymous caller, and validates each real answer (successes and problems) against
// the document. Every route must have at least one answer validated.
func TestOpenAPIValidatesEveryRoutesAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := loadContract(t, h)
	for _, pattern := range h.srv.Routes() {
		if !describedPattern(pattern) {
			continue
		}
		rc, ok := routeCases[pattern]
		if !ok {
			t.Errorf("%s has no role-matrix case to call it with", pattern)
			continue
		}
		for _, who := range []string{"owner", "viewer", "outsider", "anonymous"} {
			w := h.newWorld()
			req := rc.build(h, w)
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", ipSeq.Add(1)%250+1))
			if who != "anonymous" && strings.Contains(pattern, " /api/") {
				req.Bearer = h.accessToken(w.users[who], w.orgOf(who))
			}
			c.validate(t, pattern, h.do(req))
		}
	}
	for _, pattern := range h.srv.Routes() {
		if describedPattern(pattern) && len(c.seen[pattern]) == 0 {
			t.Errorf("%s: no answer of it was validated", pattern)
		}
	}
}

// TestAPILifeCycle drives a whole life cycle through the API alone, validating every answer and every request body
// against the document: sign in, create (a 422 first), read, save (a 409 on a stale version), activate, fire the
// signed webhook, read the execution with its node runs, run by hand, list, export and import, audit, then rotate
// and revoke the refresh token, after which the old ones are refused.
func TestAPILifeCycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	c := loadContract(t, h)
	w := h.newWorld()
	call := func(pattern string, req request) response {
		t.Helper()
		if req.JSON != "" && !strings.HasPrefix(pattern, "POST /hooks/") {
			c.validateRequest(t, pattern, req.JSON)
		}
		resp := h.do(req)
		c.validate(t, pattern, resp)
		return resp
	}
	expect := func(resp response, status int, what string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d, want %d\n%.500s", what, resp.StatusCode, status, resp.body)
		}
	}

	// Sign in.
	resp := call("POST /api/v1/auth/token", request{Method: "POST", Path: "/api/v1/auth/token",
		JSON: fmt.Sprintf(`{"email":%q,"password":%q}`, w.users["admin"].Email, testPassword)})
	expect(resp, 200, "token")
	var tokens api.TokenResponse
	resp.json(t, &tokens)
	h.remember(tokens.AccessToken, tokens.RefreshToken)
	bearer := tokens.AccessToken
	expect(call("GET /api/v1/me", request{Method: "GET", Path: "/api/v1/me", Bearer: bearer}), 200, "me")
	resp = call("POST /api/v1/auth/token", request{Method: "POST", Path: "/api/v1/auth/token",
		JSON: fmt.Sprintf(`{"email":%q,"password":"wrong password"}`, w.users["admin"].Email)})
	expect(resp, 401, "wrong password")

	// Create: an invalid definition is a 422 naming the node; then a valid one. The document's definition schema
	// refuses the invalid body too, so only the answer is checked against it.
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: bearer,
		JSON: `{"name":"Orders","definition":{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},{"id":"x","type":"no.such","config":{}}],"edges":[]}}`})
	c.validate(t, "POST /api/v1/workflows", resp)
	expect(resp, 422, "invalid definition")
	if !strings.Contains(resp.body, `"node_id":"x"`) {
		t.Errorf("the 422 does not name node x: %s", resp.body)
	}
	resp = call("POST /api/v1/workflows", request{Method: "POST", Path: "/api/v1/workflows", Bearer: bearer,
		JSON: `{"name":"Orders","description":"Big orders","definition":` + apiFlow + `}`})
	expect(resp, 201, "create")
	var wf api.WorkflowJSON
	resp.json(t, &wf)
	id := wf.ID.String()
	expect(call("GET /api/v1/workflows/{id}", request{Method: "GET", Path: "/api/v1/workflows/" + id, Bearer: bearer}), 200, "get")
	expect(call("GET /api/v1/workflows/{id}", request{Method: "GET", Path: "/api/v1/workflows/" + uuid.NewString(), Bearer: bearer}), 404, "get unknown")
	expect(call("GET /api/v1/workflows", request{Method: "GET", Path: "/api/v1/workflows?limit=10", Bearer: bearer}), 200, "list")
	expect(call("GET /api/v1/workflows", request{Method: "GET", Path: "/api/v1/workflows?limit=0", Bearer: bearer}), 422, "bad limit")

	// Save: a new version; a stale one is a conflict.
	expect(call("PUT /api/v1/workflows/{id}", request{Method: "PUT", Path: "/api/v1/workflows/" + id, Bearer: bearer,
		JSON: `{"version":1,"name":"Orders v2","definition":` + apiFlow + `}`}), 200, "update")
	expect(call("PUT /api/v1/workflows/{id}", request{Method: "PUT", Path: "/api/v1/workflows/" + id, Bearer: bearer,
		JSON: `{"version":1,"definition":` + apiFlow + `}`}), 409, "stale update")
	expect(call("GET /api/v1/workflows/{id}/versions", request{Method: "GET", Path: "/api/v1/workflows/" + id + "/versions", Bearer: bearer}), 200, "versions")
	expect(call("GET /api/v1/workflows/{id}/versions/{number}", request{Method: "GET", Path: "/api/v1/workflows/" + id + "/versions/1", Bearer: bearer}), 200, "version 1")
	expect(call("POST /api/v1/workflows/{id}/activate", request{Method: "POST", Path: "/api/v1/workflows/" + id + "/activate", Bearer: bearer}), 200, "activate")

	// Fire the webhook, signed, and read the execution it started, with its node runs.
	resp = call("GET /api/v1/workflows/{id}/webhook", request{Method: "GET", Path: "/api/v1/workflows/" + id + "/webhook", Bearer: bearer})
	expect(resp, 200, "webhook info")
	var hook api.WebhookInfo
	resp.json(t, &hook)
	h.remember(hook.Secret)
	hookPath := strings.TrimPrefix(hook.URL, h.ts.URL)
	body := `{"total":250}`
	resp = call("POST /hooks/{token}", request{Method: "POST", Path: hookPath, JSON: body,
		Header: http.Header{httpx.SignatureHeader: {httpx.SignatureValue(hook.Secret, time.Now(), []byte(body))}}})
	expect(resp, 202, "signed webhook")
	var fired api.ExecutionAccepted
	resp.json(t, &fired)
	expect(call("POST /hooks/{token}", request{Method: "POST", Path: hookPath, JSON: body}), 401, "unsigned webhook")
	exec := h.waitExecution(bearer, fired.ExecutionID.String(), "succeeded")
	if len(exec.Nodes) != 3 {
		t.Errorf("node runs %+v, want 3", exec.Nodes)
	}
	resp = call("GET /api/v1/executions/{id}", request{Method: "GET", Path: "/api/v1/executions/" + fired.ExecutionID.String(), Bearer: bearer})
	expect(resp, 200, "execution")
	var detail api.ExecutionJSON
	resp.json(t, &detail)
	if detail.TriggerKind != "webhook" || !strings.Contains(string(detail.Trigger), `"total":250`) || len(detail.Nodes) != 3 {
		t.Errorf("execution detail %s", resp.body)
	}
	expect(call("GET /api/v1/workflows/{id}/webhook/deliveries", request{Method: "GET", Path: "/api/v1/workflows/" + id + "/webhook/deliveries", Bearer: bearer}), 200, "deliveries")

	// A manual run, the list with filters, a retry of a finished one.
	resp = call("POST /api/v1/workflows/{id}/run", request{Method: "POST", Path: "/api/v1/workflows/" + id + "/run", Bearer: bearer, JSON: `{"total":5}`})
	expect(resp, 202, "run")
	var ran api.ExecutionAccepted
	resp.json(t, &ran)
	h.waitExecution(bearer, ran.ExecutionID.String(), "succeeded")
	expect(call("GET /api/v1/executions", request{Method: "GET", Path: "/api/v1/executions?status=succeeded&workflow_id=" + id, Bearer: bearer}), 200, "executions")
	expect(call("GET /api/v1/executions", request{Method: "GET", Path: "/api/v1/executions?status=bogus", Bearer: bearer}), 422, "bad status")
	expect(call("POST /api/v1/executions/{id}/cancel", request{Method: "POST", Path: "/api/v1/executions/" + ran.ExecutionID.String() + "/cancel", Bearer: bearer}), 409, "cancel finished")
	expect(call("POST /api/v1/executions/{id}/retry", request{Method: "POST", Path: "/api/v1/executions/" + ran.ExecutionID.String() + "/retry", Bearer: bearer, JSON: `{"from":"start"}`}), 202, "retry")

	// Export, and import the document back.
	resp = call("GET /api/v1/workflows/{id}/export", request{Method: "GET", Path: "/api/v1/workflows/" + id + "/export", Bearer: bearer})
	expect(resp, 200, "export")
	exported := resp.body
	expect(call("POST /api/v1/workflows/import", request{Method: "POST", Path: "/api/v1/workflows/import", Bearer: bearer, JSON: exported}), 201, "import")
	expect(call("GET /api/v1/node-types", request{Method: "GET", Path: "/api/v1/node-types", Bearer: bearer}), 200, "node types")
	resp = call("GET /api/v1/audit", request{Method: "GET", Path: "/api/v1/audit?action=workflow.", Bearer: bearer})
	expect(resp, 200, "audit")
	if !strings.Contains(resp.body, `"workflow.create"`) {
		t.Errorf("the audit log does not show the creation: %.300s", resp.body)
	}
	expect(call("DELETE /api/v1/workflows/{id}", request{Method: "DELETE", Path: "/api/v1/workflows/" + id, Bearer: bearer}), 204, "archive")

	// Rotate the refresh token: the old one is refused (and its family revoked). Then sign out: refused too.
	resp = call("POST /api/v1/auth/refresh", request{Method: "POST", Path: "/api/v1/auth/refresh",
		JSON: fmt.Sprintf(`{"refresh_token":%q}`, tokens.RefreshToken)})
	expect(resp, 200, "refresh")
	var next api.TokenResponse
	resp.json(t, &next)
	h.remember(next.AccessToken, next.RefreshToken)
	expect(call("GET /api/v1/me", request{Method: "GET", Path: "/api/v1/me", Bearer: next.AccessToken}), 200, "new access token")
	expect(call("POST /api/v1/auth/logout", request{Method: "POST", Path: "/api/v1/auth/logout",
		JSON: fmt.Sprintf(`{"refresh_token":%q}`, next.RefreshToken)}), 204, "logout")
	for _, old := range []string{tokens.RefreshToken, next.RefreshToken} {
		expect(call("POST /api/v1/auth/refresh", request{Method: "POST", Path: "/api/v1/auth/refresh",
			JSON: fmt.Sprintf(`{"refresh_token":%q}`, old)}), 401, "revoked refresh token")
	}
	expect(call("GET /api/v1/me", request{Method: "GET", Path: "/api/v1/me", Bearer: "not-a-token"}), 401, "bad bearer")
}

// TestAPIDocsPage checks that the docs load only same-origin scripts and styles, none inline, under the strict CSP.
func TestAPIDocsPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp := h.do(request{Method: "GET", Path: "/api/docs"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("docs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != httpx.ContentSecurityPolicy {
		t.Errorf("docs CSP %q", got)
	}
	doc := resp.doc(t)
	if doc.Find("style, [style]").Length() > 0 {
		t.Error("the docs page has inline styles")
	}
	var assets []string
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		if !ok || strings.TrimSpace(s.Text()) != "" {
			t.Error("the docs page has an inline script")
		}
		assets = append(assets, src)
	})
	doc.Find("link[rel=stylesheet]").Each(func(_ int, s *goquery.Selection) {
		assets = append(assets, s.AttrOr("href", ""))
	})
	if len(assets) < 3 {
		t.Errorf("assets %v: want the bundle, its stylesheet and the init script", assets)
	}
	for _, src := range assets {
		if !strings.HasPrefix(src, "/static/") {
			t.Errorf("asset %q is not same-origin under /static/", src)
			continue
		}
		if a := h.do(request{Method: "GET", Path: src}); a.StatusCode != http.StatusOK || len(a.body) == 0 {
			t.Errorf("asset %s: %d", src, a.StatusCode)
		}
	}
	if init := h.do(request{Method: "GET", Path: "/static/js/apidocs/init.js"}); !strings.Contains(init.body, "/api/") &&
		!strings.Contains(init.body, "data-spec-url") {
		t.Errorf("init.js does not load the document")
	}
}
