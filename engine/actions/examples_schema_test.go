package actions_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Every workflow in examples/ validates against the definition schema the API serves, as an editor pointed at
// that schema would check it (handlers/examples_test.go runs them; this keeps them and the schema in agreement).
func TestExamplesMatchTheDefinitionSchema(t *testing.T) {
	t.Parallel()
	raw, err := fullRegistry(t).DefinitionSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem://workflow-definition.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("mem://workflow-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../examples/workflows/*.json")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s does not match the definition schema: %v", filepath.Base(f), err)
		}
	}
}
