package templates_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/app/templates"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// registry is the node registry as the application builds it (cmd/concertmaster: nodes, then actions).
func registry(t *testing.T) *engine.Registry {
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

// picks fills every placeholder with a fresh id: enough for the engine, which checks an id's shape, not its row
// (app checks the row; the API test creates real integrations and forms).
func picks(t templates.Template) map[string]string {
	out := map[string]string{}
	for _, p := range t.Placeholders {
		out[p.Key] = uuid.NewString()
	}
	return out
}

func TestTemplatesAreValidWorkflows(t *testing.T) {
	reg := registry(t)
	all := templates.All()
	gallery := 0
	triggers := map[string]bool{}
	for _, tpl := range all {
		t.Run(tpl.Key, func(t *testing.T) {
			if tpl.Name == "" || tpl.Description == "" || tpl.Category == "" || len(tpl.Name) > 200 {
				t.Fatalf("name, description and category are required (name at most 200): %+v", tpl)
			}
			def, err := tpl.Fill(picks(tpl))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := engine.ParseDefinition(def)
			if err != nil {
				t.Fatal(err)
			}
			if problems := reg.Validate(parsed); len(problems) > 0 {
				t.Fatalf("problems: %+v", problems)
			}
			trigger := ""
			for _, n := range parsed.Nodes {
				if nt, _ := reg.Lookup(n.Type); nt.Category == engine.CategoryTrigger {
					trigger = n.Type
				}
			}
			want := map[string]string{templates.TriggerWebhook: "trigger.webhook", templates.TriggerManual: "trigger.webhook",
				templates.TriggerForm: "trigger.form", templates.TriggerSchedule: "trigger.schedule",
				templates.TriggerFileUpload: "trigger.file_upload"}[tpl.Trigger]
			if trigger != want {
				t.Fatalf("trigger %q says %s but the definition starts with %s", tpl.Trigger, want, trigger)
			}
			if strings.Contains(string(tpl.Definition), "integration_id") || strings.Contains(string(tpl.Definition), "form_id") {
				t.Fatal("a template names an integration or a form itself; that is a placeholder's job")
			}
		})
		triggers[tpl.Trigger] = true
		if tpl.Category != templates.CategoryStart {
			gallery++
		}
	}
	if gallery < 8 {
		t.Fatalf("%d gallery templates, want at least 8", gallery)
	}
	for _, k := range []string{"webhook", "form", "schedule", "file_upload", "manual"} {
		if !triggers[k] {
			t.Errorf("no template starts with %s", k)
		}
	}
}

// TestFlaggedNodeTypesAreRegistered: a template may use a node type a feature flag gates (transform.parse); the
// flag must exist, so app can leave the template out for an organization that has it off.
func TestFlaggedNodeTypesAreRegistered(t *testing.T) {
	known := map[string]bool{}
	for _, d := range flags.Builtin() {
		known[d.Name] = true
	}
	uses := false
	for _, tpl := range templates.All() {
		def, _ := engine.ParseDefinition(tpl.Definition)
		for _, n := range def.Nodes {
			if n.Type == "transform.parse" {
				uses = true
				if !known[flags.NodeTypePrefix+n.Type] {
					t.Fatalf("%s uses %s, gated by no flag", tpl.Key, n.Type)
				}
			}
		}
	}
	if !uses {
		t.Fatal("no template uses transform.parse: the flag check tests nothing")
	}
}

// TestSideEffectFreeTemplatesRun runs every template whose nodes are all pure through the real engine, with its
// sample as trigger data, and expects success with every node run.
func TestSideEffectFreeTemplatesRun(t *testing.T) {
	reg := registry(t)
	x := engine.NewExecutor(engine.ExecutorOptions{})
	t.Cleanup(func() { _ = x.Close() })
	ran := 0
	for _, tpl := range templates.All() {
		parsed, err := engine.ParseDefinition(tpl.Definition)
		if err != nil {
			t.Fatal(err)
		}
		pure := len(tpl.Placeholders) == 0
		for _, n := range parsed.Nodes {
			if nt, _ := reg.Lookup(n.Type); nt.SideEffects {
				pure = false
			}
		}
		if !pure {
			continue
		}
		ran++
		t.Run(tpl.Key, func(t *testing.T) {
			plan, err := engine.Compile(parsed, reg)
			if err != nil {
				t.Fatal(err)
			}
			sample := tpl.Sample
			if len(sample) == 0 {
				sample = json.RawMessage(`{"body": {}}`)
			}
			res, err := x.Run(context.Background(), plan, engine.RunInput{Trigger: sample})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != engine.ExecutionSucceeded {
				t.Fatalf("status %s: %s", res.Status, res.Error)
			}
			if len(res.NodeRuns) == 0 {
				t.Fatal("no node ran")
			}
		})
	}
	if ran < 2 {
		t.Fatalf("only %d templates ran", ran)
	}
}

func TestOrderTriageRoutesBySample(t *testing.T) {
	reg := registry(t)
	x := engine.NewExecutor(engine.ExecutorOptions{})
	t.Cleanup(func() { _ = x.Close() })
	tpl, err := templates.Get("order-triage")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := engine.ParseDefinition(tpl.Definition)
	plan, err := engine.Compile(parsed, reg)
	if err != nil {
		t.Fatal(err)
	}
	for total, route := range map[int]string{1250: "large", 300: "normal", 20: "small"} {
		trigger, _ := json.Marshal(map[string]any{"body": map[string]any{"id": "A-1", "total": total}})
		res, err := x.Run(context.Background(), plan, engine.RunInput{Trigger: trigger})
		if err != nil || res.Status != engine.ExecutionSucceeded {
			t.Fatalf("total %d: %v %s %s", total, err, res.Status, res.Error)
		}
		// The output of the leaf nodes, keyed by id: only the taken route's node ran.
		var out map[string]map[string]any
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatalf("output %s: %v", res.Output, err)
		}
		if len(out) != 1 || out[route]["route"] != route || out[route]["id"] != "A-1" {
			t.Fatalf("total %d: output %s, want route %s", total, res.Output, route)
		}
	}
}

func TestFillNamesMissingAndUnknownPlaceholders(t *testing.T) {
	tpl, err := templates.Get("form-to-email-and-export")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Fill(map[string]string{"smtp": uuid.NewString(), "bogus": "x"})
	var fe *fault.Error
	if !errors.As(err, &fe) || len(fe.Fields) != 2 || fe.Fields[0].Field != "placeholders.bogus" || fe.Fields[1].Field != "placeholders.form" {
		t.Fatalf("got %v", err)
	}
	id := uuid.NewString()
	def, err := tpl.Fill(map[string]string{"smtp": id, "form": id})
	if err != nil || strings.Count(string(def), id) != 2 {
		t.Fatalf("fill: %v %s", err, def)
	}
	if _, err := templates.Get("nope"); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("unknown template: %v", err)
	}
}
