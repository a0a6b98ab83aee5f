package actions_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
)

func TestActionTypes(t *testing.T) {
	t.Parallel()
	types := actions.Types()
	if len(types) != 4 {
		t.Fatalf("%d types", len(types))
	}
	for _, nt := range types {
		var schema map[string]any
		if err := json.Unmarshal(nt.ConfigSchema, &schema); err != nil || schema["additionalProperties"] != false ||
			schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s schema: %v", nt.Name, err)
		}
		if !nt.SideEffects || nt.Category != engine.CategoryAction || nt.Title == "" || nt.Description == "" {
			t.Errorf("%s is incomplete", nt.Name)
		}
		if _, ok := registry.Lookup(nt.Name); !ok {
			t.Errorf("%s not registered", nt.Name)
		}
	}
	if err := actions.Register(registry); err == nil {
		t.Error("registering twice succeeded")
	}
	// Eighteen types in all with the built-ins.
	if n := len(registry.Types()); n != 18 {
		t.Errorf("%d types in the registry", n)
	}
}

func TestActionConfigs(t *testing.T) {
	t.Parallel()
	const id = `"integration_id":"0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e"`
	for _, tc := range []struct {
		typ, cfg, field, msg string
	}{
		{"action.email", `{` + id + `,"subject":"s","text":"t"}`, "config", ""},
		{"action.email", `{` + id + `,"to":"a@b.c","subject":"s"}`, "config.text", "text or an HTML body"},
		{"action.email", `{` + id + `,"to":"a@b.c","subject":"{{ nope(","text":"t"}`, "config.subject", ""},
		{"action.email", `{` + id + `,"to":"a@b.c","subject":"s","text":"t","attachments":[{"content":"x"}]}`, "config.attachments[0].filename", "required"},
		{"action.email", `{` + id + `,"to":"a@b.c","subject":"s","text":"t","extra":1}`, "config.extra", "not a known setting"},
		{"action.http", `{"url":"https://x","method":"GET","body":{"a":1}}`, "config.body", "has no body"},
		{"action.http", `{"url":"https://x","response":{"cache_ttl":"1m"},"method":"POST"}`, "config.response.cache_ttl", "only GET"},
		{"action.http", `{"url":"https://x","timeout":"10m"}`, "config.timeout", "at most"},
		{"action.http", `{"url":"https://x","headers":{"Host":"evil"}}`, "config.headers.Host", "set by the request"},
		{"action.http", `{"url":"https://x","headers":{"Bad Name":"v"}}`, "config", "does not match pattern"},
		{"action.database", `{` + id + `,"query":"SELECT $1","params":["{{ input.x"]}`, "config.params[0]", ""},
		{"action.database", `{` + id + `,"query":"SELECT 1","mode":"delete"}`, "config.mode", ""},
		{"action.file_export", `{"format":"json","filename":"x","columns":["a"]}`, "config.columns", "CSV only"},
		{"action.file_export", `{"format":"xml","filename":"x"}`, "config.format", ""},
		{"action.file_export", `{"format":"csv","filename":"x","retention":"9000h"}`, "config.retention", "at most"},
	} {
		probs := engine.Validate(&engine.Definition{Nodes: []engine.Node{{ID: "in", Type: "trigger.webhook"},
			{ID: "x", Type: tc.typ, Config: json.RawMessage(tc.cfg)}}, Edges: []engine.Edge{{From: "in", To: "x"}}}, registry)
		found := false
		for _, p := range probs {
			if p.NodeID == "x" && strings.HasPrefix(p.Field, tc.field) && strings.Contains(p.Message, tc.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %s: problems %v, want %s %q", tc.typ, tc.cfg, probs, tc.field, tc.msg)
		}
	}
}
