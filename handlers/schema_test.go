package handlers

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/concertmaster/concertmaster/handlers/api"
)

// The definition schema is public and the same for everyone.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET " + api.DefinitionSchemaPath: {get(api.DefinitionSchemaPath), every(http.StatusOK)},
	})
}

func TestDefinitionSchemaRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp := h.do(request{Method: "GET", Path: api.DefinitionSchemaPath})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", api.DefinitionSchemaPath, resp.StatusCode, resp.body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/schema+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "public") {
		t.Errorf("Cache-Control = %q, want a public, cacheable answer", cc)
	}
	want, err := h.srv.deps.Registry.DefinitionSchema()
	if err != nil {
		t.Fatal(err)
	}
	if resp.body != string(want) {
		t.Error("the served schema is not the registry's")
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag = %q", etag)
	}
	again := h.do(request{Method: "GET", Path: api.DefinitionSchemaPath, Header: http.Header{"If-None-Match": {etag}}})
	if again.StatusCode != http.StatusNotModified || again.body != "" {
		t.Errorf("If-None-Match with the ETag: %d %.100q, want 304 without a body", again.StatusCode, again.body)
	}
	stale := h.do(request{Method: "GET", Path: api.DefinitionSchemaPath, Header: http.Header{"If-None-Match": {`"old"`}}})
	if stale.StatusCode != http.StatusOK || stale.body != string(want) {
		t.Errorf("If-None-Match with another ETag: %d, want 200 with the schema", stale.StatusCode)
	}

	// The OpenAPI document's request definitions refer to it.
	c := loadContract(t, h)
	input := c.doc["components"].(map[string]any)["schemas"].(map[string]any)["WorkflowInput"].(map[string]any)
	def := input["properties"].(map[string]any)["definition"].(map[string]any)
	if def["$ref"] != definitionSchemaURL {
		t.Errorf("WorkflowInput.definition = %v, want a $ref to %s", def, api.DefinitionSchemaPath)
	}
}

// TestValidateAgreesWithDefinitionSchema sends definitions through POST /api/v1/workflows/validate and checks them
// against the served schema: what the API accepts matches the schema, and typical mistakes are refused by both.
func TestValidateAgreesWithDefinitionSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp := h.do(request{Method: "GET", Path: api.DefinitionSchemaPath})
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(resp.body))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(definitionSchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(definitionSchemaURL)
	if err != nil {
		t.Fatalf("the served schema does not compile: %v", err)
	}
	trigger := `{"id":"hook","type":"trigger.webhook","config":{}}`
	// api: the API accepts it; schema: the schema does. They differ only where a schema cannot see the mistake.
	cases := []struct {
		name, definition string
		api, schema      bool
	}{
		{"a workflow", apiFlow, true, true},
		{"retry, timeout and an error port", `{"nodes":[` + trigger + `,{"id":"big","type":"condition.if",
			"config":{"condition":"true"},"retry":{"max_attempts":2,"backoff":"fixed"},"timeout":"30s","on_error":"error"},
			{"id":"shape","type":"transform.data","config":{"jq":"."}}],
			"edges":[{"from":"hook","to":"big"},{"from":"big","port":"error","to":"shape"}]}`, true, true},
		{"unknown type", `{"nodes":[` + trigger + `,{"id":"x","type":"action.nope","config":{}}],"edges":[]}`, false, false},
		{"missing required config field", `{"nodes":[` + trigger + `,{"id":"big","type":"condition.if","config":{}}],"edges":[]}`, false, false},
		{"no config where one is required", `{"nodes":[` + trigger + `,{"id":"big","type":"condition.if"}],"edges":[]}`, false, false},
		{"unknown config setting", `{"nodes":[` + trigger + `,{"id":"big","type":"condition.if","config":{"condition":"true","otherwise":"x"}}],"edges":[]}`, false, false},
		{"edge without to", `{"nodes":[` + trigger + `],"edges":[{"from":"hook"}]}`, false, false},
		{"edge with a typo", `{"nodes":[` + trigger + `],"edges":[{"from":"hook","too":"hook"}]}`, false, false},
		{"bad on_error", `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{},"on_error":"skip"}]}`, false, false},
		{"no nodes", `{"nodes":[]}`, false, false},
		{"edge to a node that does not exist", `{"nodes":[` + trigger + `],"edges":[{"from":"hook","to":"nowhere"}]}`, false, true},
	}
	w := h.newWorld()
	token := h.accessToken(w.users["owner"], w.orgOf("owner"))
	for _, tc := range cases {
		api := h.do(request{Method: "POST", Path: "/api/v1/workflows/validate", Bearer: token,
			JSON: `{"definition":` + tc.definition + `}`})
		wantStatus := http.StatusUnprocessableEntity
		if tc.api {
			wantStatus = http.StatusOK
		}
		if api.StatusCode != wantStatus {
			t.Errorf("%s: validate answered %d, want %d: %.300s", tc.name, api.StatusCode, wantStatus, api.body)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.definition))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := schema.Validate(inst); (err == nil) != tc.schema {
			t.Errorf("%s: the schema accepts it: %v, want %v (%v)", tc.name, err == nil, tc.schema, err)
		}
	}
}
