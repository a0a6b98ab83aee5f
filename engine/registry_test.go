package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

func okCompile(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
	return engine.RunnableFunc(func(context.Context, engine.Input) (engine.Output, error) { return engine.Output{}, nil }), nil
}

func TestRegister(t *testing.T) {
	t.Parallel()
	valid := engine.NodeType{Name: "action.thing", Category: engine.CategoryAction, Title: "Thing", Description: "Does a thing.", Compile: okCompile}
	tests := []struct {
		name    string
		edit    func(nt *engine.NodeType)
		wantErr string
	}{
		{name: "valid", edit: func(*engine.NodeType) {}},
		{name: "bad name", edit: func(nt *engine.NodeType) { nt.Name = "Thing" }, wantErr: `must look like "category.name"`},
		{name: "category mismatch", edit: func(nt *engine.NodeType) { nt.Category = engine.CategoryTransform }, wantErr: "must start with its category"},
		{name: "unknown category", edit: func(nt *engine.NodeType) { nt.Category = "widget" }, wantErr: "unknown category"},
		{name: "no compile", edit: func(nt *engine.NodeType) { nt.Compile = nil }, wantErr: "Compile is missing"},
		{name: "no title", edit: func(nt *engine.NodeType) { nt.Title = "" }, wantErr: "Title and Description"},
		{name: "bad schema", edit: func(nt *engine.NodeType) { nt.ConfigSchema = json.RawMessage(`{"type":"nope"}`) }, wantErr: "config schema"},
		{name: "schema not JSON", edit: func(nt *engine.NodeType) { nt.ConfigSchema = json.RawMessage(`{`) }, wantErr: "config schema"},
		{
			name: "example the schema rejects",
			edit: func(nt *engine.NodeType) {
				nt.ConfigSchema = json.RawMessage(`{"type":"object","required":["url"]}`)
				nt.Example = json.RawMessage(`{}`)
			},
			wantErr: "example config is invalid: config.url is required",
		},
		{
			name: "example that does not compile",
			edit: func(nt *engine.NodeType) {
				nt.Example = json.RawMessage(`{"when":"1 +"}`)
				nt.Compile = func(cfg json.RawMessage, c *engine.Compiler) (engine.Runnable, error) {
					var v struct{ When string }
					_ = json.Unmarshal(cfg, &v)
					if _, err := c.Condition("when", v.When); err != nil {
						return nil, err
					}
					return okCompile(cfg, c)
				}
			},
			wantErr: "example config does not compile: config.when",
		},
		{name: "reserved error port", edit: func(nt *engine.NodeType) { nt.Ports = []string{"ok", "error"} }, wantErr: "reserved"},
		{name: "loop with wrong ports", edit: func(nt *engine.NodeType) { nt.Loop = true }, wantErr: "looping type"},
		{
			name: "trigger that waits",
			edit: func(nt *engine.NodeType) {
				nt.Name, nt.Category, nt.Waits = "trigger.thing", engine.CategoryTrigger, true
			},
			wantErr: "cannot loop or wait",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nt := valid
			tt.edit(&nt)
			err := engine.NewRegistry().Register(nt)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterTwice(t *testing.T) {
	t.Parallel()
	reg := engine.NewRegistry()
	nt := engine.NodeType{Name: "action.thing", Category: engine.CategoryAction, Title: "T", Description: "D", Compile: okCompile}
	reg.MustRegister(nt)
	if err := reg.Register(nt); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("err %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustRegister did not panic")
		}
	}()
	reg.MustRegister(nt)
}

func TestRegistryTypesAndLookup(t *testing.T) {
	t.Parallel()
	reg := nodes.NewRegistry()
	reg.MustRegister(engine.NodeType{Name: "action.email", Category: engine.CategoryAction, Title: "E-mail", Description: "Sends mail.", SideEffects: true, Compile: okCompile})
	var names []string
	for _, nt := range reg.Types() {
		names = append(names, nt.Name)
	}
	want := []string{
		"trigger.error", "trigger.file_upload", "trigger.form", "trigger.schedule", "trigger.webhook",
		"transform.aggregate", "transform.data", "transform.filter", "transform.format", "transform.parse",
		"condition.delay", "condition.if", "condition.loop", "condition.switch",
		"action.email",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("Types() order\n got %v\nwant %v", names, want)
	}
	nt, ok := reg.Lookup("condition.if")
	if !ok || nt.Category != engine.CategoryCondition || len(nt.Ports) != 2 {
		t.Errorf("Lookup = %+v %v", nt, ok)
	}
	if _, ok := reg.Lookup("condition.nope"); ok {
		t.Error("found an unknown type")
	}
	// The catalogue is the types as JSON: functions are left out, schemas and examples kept as JSON.
	b, err := json.Marshal(reg.Types())
	if err != nil {
		t.Fatal(err)
	}
	var catalogue []map[string]any
	if err := json.Unmarshal(b, &catalogue); err != nil {
		t.Fatal(err)
	}
	for _, entry := range catalogue {
		for _, key := range []string{"name", "category", "title", "description", "config_schema", "example", "side_effects"} {
			if _, ok := entry[key]; !ok {
				t.Errorf("%v has no %s", entry["name"], key)
			}
		}
	}
}

// The expression hint keyword (x-expression) is an annotation for the editor: a schema carrying it must compile and
// validate exactly like the same schema without it, wherever it sits (properties, items, additionalProperties,
// $defs, oneOf branches, an untyped schema).
func TestExpressionKeywordDoesNotChangeValidation(t *testing.T) {
	t.Parallel()
	const annotated = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {"addresses": {"oneOf": [
    {"type": "string", "maxLength": 10, "x-expression": "template"},
    {"type": "array", "items": {"type": "string", "minLength": 1, "x-expression": "template"}}]}},
  "properties": {
    "when": {"type": "string", "minLength": 1, "x-expression": "expression"},
    "jq": {"type": "string", "x-expression": "jq"},
    "to": {"$ref": "#/$defs/addresses"},
    "headers": {"type": "object", "additionalProperties": {"type": "string", "x-expression": "template"}},
    "params": {"type": "array", "maxItems": 2, "items": {"type": "string", "x-expression": "template"}},
    "body": {"x-expression": "template"}
  },
  "required": ["when"],
  "additionalProperties": false
}`
	plain := strings.NewReplacer(`, "x-expression": "template"`, "", `, "x-expression": "expression"`, "",
		`, "x-expression": "jq"`, "", `"x-expression": "template"`, "").Replace(annotated)
	if strings.Contains(plain, "x-expression") {
		t.Fatalf("the plain schema still has the keyword: %s", plain)
	}
	register := func(schema string) *engine.Registry {
		reg := engine.NewRegistry()
		reg.MustRegister(engine.NodeType{Name: "trigger.thing", Category: engine.CategoryTrigger, Title: "T", Description: "D",
			ConfigSchema: json.RawMessage(schema), Example: json.RawMessage(`{"when":"x"}`), Compile: okCompile})
		return reg
	}
	withKeyword, without := register(annotated), register(plain)
	// The first two configs are valid, the others are not.
	for i, cfg := range []string{
		`{"when":"input.a > 1","jq":".","to":"a@b.c","headers":{"A":"{{ input.a }}"},"params":["1"],"body":{"a":[1,"{{ x }}"]}}`,
		`{"when":"x","to":["a","b"],"body":"text"}`,
		`{"when":""}`,
		`{}`,
		`{"when":1}`,
		`{"when":"x","jq":2}`,
		`{"when":"x","to":"far too long for ten"}`,
		`{"when":"x","to":["a",""]}`,
		`{"when":"x","to":3}`,
		`{"when":"x","headers":{"A":1}}`,
		`{"when":"x","params":["a","b","c"]}`,
		`{"when":"x","other":true}`,
	} {
		def := func() *engine.Definition {
			return &engine.Definition{Nodes: []engine.Node{{ID: "t", Type: "trigger.thing", Config: json.RawMessage(cfg)}}}
		}
		probs := withKeyword.Validate(def())
		if (len(probs) == 0) != (i < 2) {
			t.Errorf("%s: problems %v", cfg, probs)
		}
		got, want := fmt.Sprint(probs), fmt.Sprint(without.Validate(def()))
		if got != want {
			t.Errorf("%s:\n with x-expression %s\n without           %s", cfg, got, want)
		}
	}
	// The catalogue hands the schema on as written, keyword included, for the editor.
	nt, _ := withKeyword.Lookup("trigger.thing")
	if !strings.Contains(string(nt.ConfigSchema), `"x-expression": "jq"`) {
		t.Errorf("the registered schema lost the keyword: %s", nt.ConfigSchema)
	}
	builtin, _ := nodes.NewRegistry().Lookup("condition.if")
	b, err := json.Marshal(builtin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"`+engine.ExpressionKeyword+`":"`+engine.ExpressionKindExpression+`"`) {
		t.Errorf("condition.if in the catalogue has no expression hint: %s", b)
	}
}
