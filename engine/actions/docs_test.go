package actions_test

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// The tests in this file keep docs/WORKFLOWS.md true to the node registry: this package is the lowest one that can
// build the registry a server runs with (the built-in types and the actions), so the check lives here.

const workflowsDoc = "../../docs/WORKFLOWS.md"

// fullRegistry registers what cmd/concertmaster registers: the built-in node types, then the actions.
func fullRegistry(t *testing.T) *engine.Registry {
	t.Helper()
	reg := engine.NewRegistry()
	if err := nodes.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := actions.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// typeHeading is a node type's section heading in the doc: ### `category.name`.
var typeHeading = regexp.MustCompile("^###\\s+`([a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*)`\\s*$")

// docSections reads the doc and returns its text and, per node type heading, the text up to the next heading.
// Lines inside fenced code blocks are never headings.
func docSections(t *testing.T) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(workflowsDoc)
	if err != nil {
		t.Fatalf("read %s: %v", workflowsDoc, err)
	}
	sections := map[string]string{}
	var current string
	var body strings.Builder
	flush := func() {
		if current != "" {
			sections[current] = body.String()
		}
		current = ""
		body.Reset()
	}
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(line, "#") {
			flush()
			if m := typeHeading.FindStringSubmatch(line); m != nil {
				if _, dup := sections[m[1]]; dup {
					t.Errorf("%s has two sections for %s", workflowsDoc, m[1])
				}
				current = m[1]
			}
			continue
		}
		if current != "" {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	flush()
	return string(b), sections
}

// schemaProperties returns the top-level properties of a config schema.
func schemaProperties(t *testing.T, typ engine.NodeType) []string {
	t.Helper()
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(typ.ConfigSchema, &s); err != nil {
		t.Fatalf("%s: config schema: %v", typ.Name, err)
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	return names
}

// TestWorkflowsDocDescribesEveryNodeType fails when a registered node type has no section in docs/WORKFLOWS.md, when
// its section leaves out one of its settings (a top-level property of its config schema) or one of its fixed ports,
// and when the doc has a section for a type that is not registered.
func TestWorkflowsDocDescribesEveryNodeType(t *testing.T) {
	reg := fullRegistry(t)
	_, sections := docSections(t)
	registered := map[string]bool{}
	for _, typ := range reg.Types() {
		registered[typ.Name] = true
		t.Run(typ.Name, func(t *testing.T) {
			section, ok := sections[typ.Name]
			if !ok {
				t.Fatalf("%s has no section \"### `%s`\"", workflowsDoc, typ.Name)
			}
			for _, prop := range schemaProperties(t, typ) {
				if !strings.Contains(section, "`"+prop+"`") {
					t.Errorf("the section of %s does not mention its setting `%s`", typ.Name, prop)
				}
			}
			for _, port := range typ.Ports {
				if !strings.Contains(section, "`"+port+"`") {
					t.Errorf("the section of %s does not mention its port `%s`", typ.Name, port)
				}
			}
		})
	}
	for name := range sections {
		if !registered[name] {
			t.Errorf("%s documents %s, which is not a registered node type", workflowsDoc, name)
		}
	}
}

// TestWorkflowsDocDescribesTheDefinition fails when a field of the definition format (a node, an edge, a retry
// policy) is not mentioned in docs/WORKFLOWS.md.
func TestWorkflowsDocDescribesTheDefinition(t *testing.T) {
	doc, _ := docSections(t)
	for _, v := range []any{engine.Definition{}, engine.Node{}, engine.Edge{}, engine.RetryPolicy{}, engine.Position{}} {
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, `"`+name+`"`) {
				t.Errorf("%s does not mention the field %s of %s", workflowsDoc, name, rt.Name())
			}
		}
	}
	for _, s := range []string{engine.OnErrorStop, engine.OnErrorContinue, engine.OnErrorRoute,
		engine.BackoffExponential, engine.BackoffFixed} {
		if !strings.Contains(doc, "`"+s+"`") {
			t.Errorf("%s does not mention the value `%s`", workflowsDoc, s)
		}
	}
}

// jsonBlock is a fenced JSON block of the doc.
var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// TestWorkflowsDocExamplesValidate fails when a complete definition shown in docs/WORKFLOWS.md (a JSON block with
// top-level nodes) does not pass the validation a save runs.
func TestWorkflowsDocExamplesValidate(t *testing.T) {
	reg := fullRegistry(t)
	doc, _ := docSections(t)
	checked := 0
	for _, m := range jsonBlock.FindAllStringSubmatch(doc, -1) {
		var probe map[string]json.RawMessage
		if json.Unmarshal([]byte(m[1]), &probe) != nil || probe["nodes"] == nil {
			continue // a shape sketch or a config fragment, not a definition
		}
		def, err := engine.ParseDefinition([]byte(m[1]))
		if err != nil {
			t.Errorf("an example definition does not parse: %v", err)
			continue
		}
		for _, p := range engine.Validate(def, reg) {
			t.Errorf("an example definition is invalid: %s", p)
		}
		checked++
	}
	if checked == 0 {
		t.Errorf("%s shows no complete definition", workflowsDoc)
	}
}
