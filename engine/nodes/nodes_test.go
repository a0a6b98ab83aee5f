package nodes_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// registry is shared: it is read-only once built.
var registry = nodes.NewRegistry()

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var executor = engine.NewExecutor(engine.ExecutorOptions{Now: func() time.Time { return testNow }})

// runNode runs a one-node workflow behind a webhook trigger: the trigger data is the node's input, and the node's
// run is returned.
func runNode(t *testing.T, typ, cfg, input string) (engine.RunResult, engine.NodeRun) {
	t.Helper()
	d := &engine.Definition{
		Nodes: []engine.Node{
			{ID: "in", Type: "trigger.webhook", Config: json.RawMessage(`{"auth":"none"}`)},
			{ID: "x", Type: typ, Config: json.RawMessage(cfg)},
		},
		Edges: []engine.Edge{{From: "in", To: "x"}},
	}
	plan, err := engine.Compile(d, registry)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	res, err := executor.Run(context.Background(), plan, engine.RunInput{Trigger: json.RawMessage(input)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.NodeRuns {
		if r.NodeID == "x" {
			return res, r
		}
	}
	t.Fatalf("no run of x in %+v", res)
	return res, engine.NodeRun{}
}

// problems validates a node of the given type and config, alone (triggers) or behind a webhook.
func problems(t *testing.T, typ, cfg string) []engine.Problem {
	t.Helper()
	d := &engine.Definition{Nodes: []engine.Node{{ID: "x", Type: typ, Config: json.RawMessage(cfg)}}}
	if !strings.HasPrefix(typ, "trigger.") {
		d.Nodes = append([]engine.Node{{ID: "in", Type: "trigger.webhook"}}, d.Nodes...)
		d.Edges = []engine.Edge{{From: "in", To: "x"}}
	}
	return engine.Validate(d, registry)
}

// configCase is a config and the problem it should have (empty: none).
type configCase struct {
	cfg       string
	wantField string
	wantMsg   string
}

func checkConfigs(t *testing.T, typ string, cases []configCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.cfg, func(t *testing.T) {
			t.Parallel()
			probs := problems(t, typ, tc.cfg)
			if tc.wantMsg == "" {
				if len(probs) != 0 {
					t.Fatalf("unexpected problems %v", probs)
				}
				return
			}
			for _, p := range probs {
				if p.NodeID == "x" && p.Field == tc.wantField && strings.Contains(p.Message, tc.wantMsg) {
					return
				}
			}
			t.Fatalf("problems %v, want %s: %q", probs, tc.wantField, tc.wantMsg)
		})
	}
}

// outputCase is an input and the output (JSON) or error expected from it.
type outputCase struct {
	name, cfg, input string
	want             string
	wantPort         string
	wantErr          string
}

func checkOutputs(t *testing.T, typ string, cases []outputCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, run := runNode(t, typ, tc.cfg, tc.input)
			if tc.wantErr != "" {
				if run.Status != engine.NodeFailed || !strings.Contains(run.Error, tc.wantErr) {
					t.Fatalf("run %s %q, want failure %q", run.Status, run.Error, tc.wantErr)
				}
				return
			}
			if run.Status != engine.NodeSucceeded {
				t.Fatalf("run %s: %s (%s)", run.Status, run.Error, res.Error)
			}
			if run.Port != tc.wantPort {
				t.Errorf("port %q, want %q", run.Port, tc.wantPort)
			}
			jsonEqual(t, run.Output, tc.want)
		})
	}
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s", want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("output\n got %s\nwant %s", gb, wb)
	}
}

func TestBuiltinTypes(t *testing.T) {
	t.Parallel()
	types := nodes.Types()
	if len(types) != 14 {
		t.Errorf("%d types", len(types))
	}
	for _, nt := range types {
		// Every example is valid (Register checks it) and documents itself.
		if !json.Valid(nt.ConfigSchema) || !json.Valid(nt.Example) || nt.Title == "" || nt.Description == "" {
			t.Errorf("%s is incomplete", nt.Name)
		}
		if nt.SideEffects {
			t.Errorf("%s: built-ins are pure", nt.Name)
		}
		if problems(t, nt.Name, string(nt.Example)) != nil {
			t.Errorf("%s example: %v", nt.Name, problems(t, nt.Name, string(nt.Example)))
		}
	}
	if err := nodes.Register(registry); err == nil {
		t.Error("registering twice succeeded")
	}
}
