package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// fullRegistry has every built-in type, as the server registers them.
func fullRegistry(t *testing.T) *engine.Registry {
	t.Helper()
	reg := nodes.NewRegistry()
	if err := actions.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

func compileDefinitionSchema(t *testing.T, reg *engine.Registry) *jsonschema.Schema {
	t.Helper()
	raw, err := reg.DefinitionSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem://workflow-definition.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem://workflow-definition.json")
	if err != nil {
		t.Fatalf("the definition schema does not compile: %v", err)
	}
	return s
}

func TestDefinitionSchemaHasEveryType(t *testing.T) {
	t.Parallel()
	reg := fullRegistry(t)
	compileDefinitionSchema(t, reg)
	raw, _ := reg.DefinitionSchema()
	var doc struct {
		Schema string                     `json:"$schema"`
		Defs   map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q", doc.Schema)
	}
	var node struct {
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
		AllOf []struct {
			If struct {
				Properties struct {
					Type struct {
						Const string `json:"const"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"if"`
		} `json:"allOf"`
	}
	if err := json.Unmarshal(doc.Defs["node"], &node); err != nil {
		t.Fatal(err)
	}
	var branches []string
	for _, b := range node.AllOf {
		branches = append(branches, b.If.Properties.Type.Const)
	}
	types := reg.Types()
	if len(types) < 10 {
		t.Fatalf("only %d types registered", len(types))
	}
	for _, typ := range types {
		if !slices.Contains(node.Properties.Type.Enum, typ.Name) {
			t.Errorf("type %s is not in the node's type enum", typ.Name)
		}
		if !slices.Contains(branches, typ.Name) {
			t.Errorf("type %s has no if/then branch", typ.Name)
		}
		if _, ok := doc.Defs["config."+typ.Name]; !ok {
			t.Errorf("type %s has no config schema in $defs", typ.Name)
		}
	}
	if len(node.Properties.Type.Enum) != len(types) || len(branches) != len(types) {
		t.Errorf("%d types, %d in the enum, %d branches", len(types), len(node.Properties.Type.Enum), len(branches))
	}

	// Built once: the same bytes again, rebuilt only after a registration.
	again, _ := reg.DefinitionSchema()
	if &again[0] != &raw[0] {
		t.Error("DefinitionSchema was built twice")
	}
	reg.MustRegister(engine.NodeType{Name: "action.extra", Category: engine.CategoryAction, Title: "Extra",
		Description: "A type registered after the schema was built.",
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(nil), nil
		}})
	after, _ := reg.DefinitionSchema()
	if !strings.Contains(string(after), `"config.action.extra"`) {
		t.Error("a type registered later is missing from the schema")
	}
}

// engineAccepts is what a save checks: ParseDefinition, then Validate.
func engineAccepts(reg *engine.Registry, raw string) (bool, string) {
	def, err := engine.ParseDefinition([]byte(raw))
	if err != nil {
		return false, err.Error()
	}
	if probs := reg.Validate(def); len(probs) > 0 {
		return false, probs[0].String()
	}
	return true, ""
}

// DefinitionSchemaCases are definitions the engine accepts (one per registered type, with its example config,
// and one using every node field) and typical mistakes both must refuse. The handlers' test sends the same ones
// through POST /api/v1/workflows/validate.
func definitionSchemaCases(t *testing.T, reg *engine.Registry) (valid, invalid map[string]string) {
	t.Helper()
	valid, invalid = map[string]string{}, map[string]string{}
	trigger := `{"id":"start","type":"trigger.webhook","config":{}}`
	for _, typ := range reg.Types() {
		n := fmt.Sprintf(`{"id":"n","type":%q,"config":%s}`, typ.Name, typ.Example)
		if typ.Category == engine.CategoryTrigger {
			valid[typ.Name] = `{"nodes":[` + n + `],"edges":[]}`
		} else {
			valid[typ.Name] = `{"nodes":[` + trigger + `,` + n + `],"edges":[{"from":"start","to":"n"}]}`
		}
	}
	valid["every node field"] = `{"nodes":[` + trigger + `,{"id":"check-1","type":"condition.if","name":"Big?",
		"position":{"x":10.5,"y":-3},"config":{"condition":"input.total > 100"},
		"retry":{"max_attempts":3,"backoff":"fixed","initial_interval":"500ms","max_interval":"1m30s"},
		"timeout":"1h","on_error":"error"},{"id":"log","type":"transform.data","config":{"jq":".body"}}],
		"edges":[{"from":"start","port":"","to":"check-1"},{"from":"check-1","port":"true","to":"log"},
		{"from":"check-1","port":"error","to":"log"}]}`
	valid["no edges, null optional fields"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":null,
		"name":null,"retry":null,"timeout":null,"on_error":null,"position":null}],"edges":null}`

	valid["notes"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"<b>hi</b>\nthere","position":{"x":1,"y":2},
		"size":{"width":200,"height":120},"color":"blue"},{"id":"n2","text":"","position":null,"size":{"width":40,"height":4000}}]}`
	invalid["note of an unknown colour"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"x","position":{"x":0,"y":0},"size":{"width":200,"height":120},"color":"red; background:url(x)"}]}`
	invalid["note without a size"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"x","position":{"x":0,"y":0}}]}`
	invalid["note too small"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"x","position":{"x":0,"y":0},"size":{"width":10,"height":120}}]}`
	invalid["note text too long"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"` + strings.Repeat("é", engine.MaxNoteText+1) + `","position":{"x":0,"y":0},"size":{"width":200,"height":120}}]}`
	invalid["note with an unknown field"] = `{"nodes":[` + trigger + `],"notes":[{"id":"n1","text":"x","html":"<b>","position":{"x":0,"y":0},"size":{"width":200,"height":120}}]}`
	invalid["unknown type"] = `{"nodes":[` + trigger + `,{"id":"x","type":"action.nope","config":{}}],"edges":[]}`
	invalid["no nodes"] = `{"nodes":[],"edges":[]}`
	invalid["unknown node field"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":{},"on_eror":"stop"}]}`
	invalid["unknown top-level field"] = `{"nodes":[` + trigger + `],"edge":[]}`
	invalid["bad id"] = `{"nodes":[{"id":"a b","type":"trigger.webhook","config":{}}]}`
	invalid["bad on_error"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":{},"on_error":"ignore"}]}`
	invalid["zero attempts"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":{},"retry":{"max_attempts":0}}]}`
	invalid["numeric timeout"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":{},"timeout":30}]}`
	invalid["negative timeout"] = `{"nodes":[{"id":"start","type":"trigger.webhook","config":{},"timeout":"-5s"}]}`
	invalid["edge without to"] = `{"nodes":[` + trigger + `],"edges":[{"from":"start"}]}`
	invalid["edge with unknown field"] = `{"nodes":[` + trigger + `],"edges":[{"from":"start","to":"start","via":"x"}]}`
	invalid["unknown config setting"] = `{"nodes":[` + trigger + `,{"id":"c","type":"condition.if","config":{"condition":"true","else":1}}],"edges":[]}`
	// A missing required config field, for every type whose schema requires one: once with an empty config and
	// once with no config at all, which the engine reads as an empty one.
	for _, typ := range reg.Types() {
		if ok, _ := engineAccepts(reg, fmt.Sprintf(`{"nodes":[%s,{"id":"n","type":%q,"config":{}}]}`, trigger, typ.Name)); ok || typ.Category == engine.CategoryTrigger {
			continue
		}
		invalid[typ.Name+" with an empty config"] = fmt.Sprintf(`{"nodes":[%s,{"id":"n","type":%q,"config":{}}]}`, trigger, typ.Name)
		invalid[typ.Name+" without a config"] = fmt.Sprintf(`{"nodes":[%s,{"id":"n","type":%q}]}`, trigger, typ.Name)
	}
	return valid, invalid
}

// TestDefinitionSchemaAgreesWithValidate: what the engine accepts matches the schema, and typical mistakes are
// refused by both.
func TestDefinitionSchemaAgreesWithValidate(t *testing.T) {
	t.Parallel()
	reg := fullRegistry(t)
	schema := compileDefinitionSchema(t, reg)
	valid, invalid := definitionSchemaCases(t, reg)
	if len(invalid) < 15 {
		t.Fatalf("only %d invalid cases: no type requires a config field?", len(invalid))
	}
	check := func(name, raw string, want bool) {
		accepted, why := engineAccepts(reg, raw)
		if accepted != want {
			t.Errorf("%s: the engine accepts it: %v (%s), want %v", name, accepted, why, want)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := schema.Validate(doc); (err == nil) != want {
			t.Errorf("%s: the schema accepts it: %v, want %v (%v)", name, err == nil, want, err)
		}
	}
	for name, raw := range valid {
		check(name, raw, true)
	}
	for name, raw := range invalid {
		check(name, raw, false)
	}
}
