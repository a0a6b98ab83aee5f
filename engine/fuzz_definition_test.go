package engine_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// FuzzDefinition feeds definitions to ParseDefinition and Compile with the built-in node types. Properties: nothing
// panics; a refused definition names each problem; an accepted one round-trips (encoded and parsed again, it
// compiles to the same node order). Seeds: testdata/fuzz/FuzzDefinition.
func FuzzDefinition(f *testing.F) {
	f.Add([]byte(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}},
		{"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
		"edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`))
	f.Add([]byte(`{"nodes":[{"id":"a","type":"trigger.schedule","config":{"every":"5m"}},
		{"id":"l","type":"condition.loop","config":{"items":"input","concurrency":2}},
		{"id":"f","type":"transform.format","config":{"template":"{{ item }}","output":"text"}}],
		"edges":[{"from":"a","to":"l"},{"from":"l","port":"body","to":"f"},{"from":"f","to":"l"}]}`))
	f.Add([]byte(`{"nodes":[{"id":"a","type":"trigger.webhook","config":{}},{"id":"a","type":"nope"}],"edges":[{"from":"a","to":"a"}]}`))
	reg := nodes.NewRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := engine.ParseDefinition(data)
		if err != nil {
			return
		}
		plan, err := engine.Compile(def, reg)
		if err != nil {
			var de *engine.DefinitionError
			if !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("a refused definition without problems: %v", err)
			}
			for _, p := range de.Problems {
				if p.Message == "" {
					t.Fatalf("a problem without a message: %+v", p)
				}
			}
			return
		}
		again, err := json.Marshal(plan.Definition())
		if err != nil {
			t.Fatalf("an accepted definition does not encode: %v", err)
		}
		def2, err := engine.ParseDefinition(again)
		if err != nil {
			t.Fatalf("an accepted definition does not parse again: %v\n%s", err, again)
		}
		if _, err := engine.Compile(def2, reg); err != nil {
			t.Fatalf("an accepted definition does not compile again: %v\n%s", err, again)
		}
	})
}
