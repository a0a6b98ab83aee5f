package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	type want struct{ nodeID, field, message string }
	tests := []struct {
		name  string
		nodes []string
		edges []string
		edit  func(d *engine.Definition)
		want  []want
	}{
		{
			name:  "valid workflow",
			nodes: []string{`hook:trigger.webhook`, `big:condition.if:{"condition":"input.body.total > 100"}`, `a:transform.echo`},
			edges: []string{"hook->big", "big.true->a"},
		},
		{
			name: "empty",
			want: []want{{"", "", "at least a trigger"}},
		},
		{
			name:  "ids",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`, `a:transform.echo`, `bad id:transform.echo`, `:transform.echo`},
			edges: []string{"hook->a"},
			want: []want{
				{"a", "id", "another node has the same id"},
				{"bad id", "id", "letters, digits"},
				{"", "nodes.4.id", "every node needs an id"},
			},
		},
		{
			name:  "unknown and missing types",
			nodes: []string{`hook:trigger.webhook`, `a:transform.nope`, `b:`},
			edges: []string{"hook->a", "hook->b"},
			want:  []want{{"a", "type", `unknown node type "transform.nope"`}, {"b", "type", "needs a type"}},
		},
		{
			name:  "config against the schema, every field at once",
			nodes: []string{`hook:trigger.webhook:{"auth":"magic","extra":1}`, `f:transform.format:{"output":"pdf"}`, `i:condition.if:{}`},
			edges: []string{"hook->f", "hook->i"},
			want: []want{
				{"hook", "config.auth", "must be one of"},
				{"hook", "config.extra", "is not a known setting"},
				{"f", "config.output", "must be one of"},
				{"f", "config.template", "is required"},
				{"i", "config.condition", "is required"},
			},
		},
		{
			name:  "schema if/then: header auth needs a header name",
			nodes: []string{`hook:trigger.webhook:{"auth":"header"}`},
			want:  []want{{"hook", "config.header_name", "is required"}},
		},
		{
			name: "expressions that do not compile name node and field",
			nodes: []string{`hook:trigger.webhook`, `i:condition.if:{"condition":"input.total >"}`,
				`d:transform.data:{"jq":".a | | .b"}`, `m:transform.data:{"mapping":{"x":"{{ inptu.x }}","y":"{{ unclosed"}}`,
				`s:condition.switch:{"cases":[{"port":"a","condition":"1 +"},{"port":"b","condition":"true"}]}`},
			edges: []string{"hook->i", "hook->d", "hook->m", "hook->s"},
			want: []want{
				{"i", "config.condition", "unexpected token"},
				{"d", "config.jq", "jq:"},
				{"m", "config.mapping.x", "unknown name inptu"},
				{"m", "config.mapping.y", "without its closing }}"},
				{"s", "config.cases.0.condition", "unexpected token"},
			},
		},
		{
			name:  "a node type reporting a field of its own",
			nodes: []string{`tick:trigger.schedule:{"cron":"61 * * * *"}`},
			want:  []want{{"tick", "config.cron", "invalid cron expression"}},
		},
		{
			name:  "no trigger",
			nodes: []string{`a:transform.echo`},
			want:  []want{{"", "nodes", "exactly one trigger node; it has none"}},
		},
		{
			name:  "two triggers",
			nodes: []string{`a:trigger.webhook`, `b:trigger.form:{"form_id":"f"}`, `c:transform.echo`},
			edges: []string{"a->c"},
			want:  []want{{"b", "type", `exactly one trigger; "a" is the first`}},
		},
		{
			name:  "edges to unknown nodes, into the trigger, drawn twice",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`},
			edges: []string{"hook->a", "hook->a", "hook->ghost", "ghost->a", "a->hook"},
			want: []want{
				{"hook", "edges.1.to", "drawn twice"},
				{"ghost", "edges.2.to", `unknown node "ghost"`},
				{"ghost", "edges.3.from", `unknown node "ghost"`},
				{"hook", "edges.4.to", "nothing can lead into a trigger"},
			},
		},
		{
			name:  "ports must exist on the source",
			nodes: []string{`hook:trigger.webhook`, `i:condition.if:{"condition":"true"}`, `a:transform.echo`, `b:transform.echo`, `c:transform.echo`},
			edges: []string{"hook->i", "i->a", "i.maybe->b", "hook.error->c"},
			want: []want{
				{"i", "edges.1.port", `has no the default port; its ports are "true", "false"`},
				{"i", "edges.2.port", `no port "maybe"`},
				{"hook", "edges.3.port", `set on_error to "error"`},
			},
		},
		{
			name:  "on_error error adds an error port",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`, `h:transform.echo`},
			edges: []string{"hook->a", "a.error->h"},
			edit:  func(d *engine.Definition) { d.Nodes[1].OnError = engine.OnErrorRoute },
		},
		{
			name:  "switch ports come from its config",
			nodes: []string{`hook:trigger.webhook`, `s:condition.switch:{"cases":[{"port":"eu","condition":"true"}]}`, `a:transform.echo`, `b:transform.echo`, `c:transform.echo`},
			edges: []string{"hook->s", "s.eu->a", "s.default->b", "s.us->c"},
			want:  []want{{"s", "edges.3.port", `no port "us"; its ports are "eu", "default"`}},
		},
		{
			name:  "switch ports must be unique",
			nodes: []string{`hook:trigger.webhook`, `s:condition.switch:{"cases":[{"port":"a","condition":"true"},{"port":"a","condition":"false"}]}`},
			edges: []string{"hook->s"},
			want:  []want{{"s", "config.cases.1.port", "used by an earlier case"}},
		},
		{
			name:  "cycles",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`, `b:transform.echo`, `c:transform.echo`, `after:transform.echo`},
			edges: []string{"hook->a", "a->b", "b->c", "c->a", "c->after"},
			want: []want{
				{"a", "", "part of a cycle"},
				{"b", "", "part of a cycle"},
				{"c", "", "part of a cycle"},
			},
		},
		{
			name:  "a node pointing at itself",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`},
			edges: []string{"hook->a", "a->a"},
			want:  []want{{"a", "", "part of a cycle"}},
		},
		{
			name:  "on_error, retry and timeout",
			nodes: []string{`hook:trigger.webhook`, `a:transform.echo`, `b:transform.echo`, `c:transform.echo`},
			edges: []string{"hook->a", "hook->b", "hook->c"},
			edit: func(d *engine.Definition) {
				d.Nodes[1].OnError = "ignore"
				d.Nodes[1].Timeout = engine.Duration(-time.Second)
				d.Nodes[2].Retry = &engine.RetryPolicy{MaxAttempts: 0, Backoff: "linear", InitialInterval: engine.Duration(time.Minute), MaxInterval: engine.Duration(time.Second)}
				d.Nodes[3].Retry = &engine.RetryPolicy{MaxAttempts: 11, MaxInterval: engine.Duration(time.Hour)}
				d.Nodes[3].Timeout = engine.Duration(48 * time.Hour)
			},
			want: []want{
				{"a", "on_error", "must be one of stop, continue, error"},
				{"a", "timeout", "must be positive"},
				{"b", "retry.max_attempts", "between 1 and 10"},
				{"b", "retry.backoff", "exponential or fixed"},
				{"b", "retry.initial_interval", "not be longer than max_interval"},
				{"c", "retry.max_attempts", "between 1 and 10"},
				{"c", "retry.max_interval", "at most 10m0s"},
				{"c", "timeout", "at most 24h0m0s"},
			},
		},
		{
			name: "a loop body is entered only through the body port",
			nodes: []string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"[1]"}`, `in:transform.echo`, `other:transform.echo`,
				`after:transform.echo`},
			edges: []string{"hook->loop", "loop.body->in", "hook->other", "other->in", "loop.done->after", "in->after"},
			want: []want{
				{"in", "", `also fed by "other"`},
				{"after", "", `also fed by "loop"`},
			},
		},
		{
			name: "no waiting or nested loops inside a loop body",
			nodes: []string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"[1]"}`, `wait:condition.delay:{"duration":"1m"}`,
				`inner:condition.loop:{"items":"[1]"}`, `x:transform.echo`},
			edges: []string{"hook->loop", "loop.body->wait", "loop.body->inner", "inner.body->x"},
			want: []want{
				{"wait", "", "waits, inside the body"},
				{"inner", "", "nested loops are not supported"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			d := def(t, tt.nodes, tt.edges...)
			if tt.edit != nil {
				tt.edit(d)
			}
			probs := engine.Validate(d, reg)
			if len(probs) != len(tt.want) {
				t.Errorf("got %d problems, want %d:", len(probs), len(tt.want))
				for _, p := range probs {
					t.Logf("  %s", p)
				}
			}
			for _, w := range tt.want {
				found := false
				for _, p := range probs {
					if p.NodeID == w.nodeID && p.Field == w.field && strings.Contains(p.Message, w.message) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %+v", w)
				}
			}
			// Registry.Validate and Compile agree with Validate.
			if got := reg.Validate(d); len(got) != len(probs) {
				t.Errorf("Registry.Validate gave %d problems", len(got))
			}
			_, err := engine.Compile(d, reg)
			if (err == nil) != (len(probs) == 0) {
				t.Errorf("Compile error %v with %d problems", err, len(probs))
			}
		})
	}
}

func TestDefinitionErrorIsAFaultWithFields(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	_, err := engine.Compile(def(t, []string{`i:condition.if:{}`}), reg)
	var de *engine.DefinitionError
	if !errors.As(err, &de) || len(de.Problems) != 2 {
		t.Fatalf("err %v", err)
	}
	if fault.CodeOf(err) != fault.Invalid {
		t.Errorf("code %s", fault.CodeOf(err))
	}
	fe := fault.As(err)
	if len(fe.Fields) != 2 || fe.Fields[0].NodeID != "i" && fe.Fields[1].NodeID != "i" {
		t.Errorf("fields %+v", fe.Fields)
	}
	if !strings.Contains(err.Error(), "and 1 more") {
		t.Errorf("message %q", err.Error())
	}
	b, _ := json.Marshal(de.Problems[0])
	if !strings.Contains(string(b), `"message"`) {
		t.Errorf("problem JSON %s", b)
	}
}

func TestValidateLimits(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	d := &engine.Definition{}
	for i := range engine.MaxNodes + 1 {
		d.Nodes = append(d.Nodes, engine.Node{ID: fmt.Sprint("n", i), Type: "transform.echo"})
	}
	probs := engine.Validate(d, reg)
	if len(probs) != 1 || !strings.Contains(probs[0].Message, "at most 1000 nodes") {
		t.Errorf("problems %v", probs)
	}
}

// TestValidateNotes: sticky notes are checked field by field, each problem naming notes.<i>.<field>, and bounded
// in count and text length, without touching the nodes' own checks.
func TestValidateNotes(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	note := func(id string) engine.Note {
		return engine.Note{ID: id, Text: "Explains the hook", Position: engine.Position{X: 10, Y: 20},
			Size: engine.Size{Width: 220, Height: 140}, Color: "yellow"}
	}
	tests := []struct {
		name  string
		notes func() []engine.Note
		want  map[string]string // field -> part of the message
	}{
		{name: "valid notes", notes: func() []engine.Note {
			a, b := note("a"), note("b")
			b.Color, b.Text = "", strings.Repeat("ü", engine.MaxNoteText)
			return []engine.Note{a, b}
		}},
		{name: "every field wrong at once", notes: func() []engine.Note {
			a, b, c := note("a"), note("a"), note("bad id")
			b.Text = strings.Repeat("x", engine.MaxNoteText+1)
			b.Size = engine.Size{Width: 10, Height: 5000}
			c.Color = "red"
			return []engine.Note{a, b, c, {Size: engine.Size{Width: 100, Height: 100}}}
		}, want: map[string]string{
			"notes.1.id":          `another note has the id "a"`,
			"notes.1.text":        "at most 5000 characters; this one has 5001",
			"notes.1.size.width":  "between 40 and 4000",
			"notes.1.size.height": "between 40 and 4000",
			"notes.2.id":          "letters, digits",
			"notes.2.color":       "must be one of yellow, blue",
			"notes.3.id":          "every note needs an id",
		}},
		{name: "too many", notes: func() []engine.Note {
			out := make([]engine.Note, engine.MaxNotes+1)
			for i := range out {
				out[i] = note(fmt.Sprint("n", i))
			}
			return out
		}, want: map[string]string{"notes": "at most 100 notes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := def(t, []string{`hook:trigger.webhook`, `a:transform.echo`}, "hook->a")
			d.Notes = tt.notes()
			probs := engine.Validate(d, reg)
			got := map[string]string{}
			for _, p := range probs {
				if p.NodeID != "" {
					t.Errorf("a note's problem names node %q: %v", p.NodeID, p)
				}
				got[p.Field] = p.Message
			}
			if len(got) != len(tt.want) {
				t.Errorf("problems %v, want fields %v", probs, tt.want)
			}
			for f, msg := range tt.want {
				if !strings.Contains(got[f], msg) {
					t.Errorf("%s: %q, want it to say %q", f, got[f], msg)
				}
			}
		})
	}
}

// TestNotesRoundTrip: a definition's notes survive parsing and writing, and an unknown note field is refused like
// any other, so the editor cannot store HTML or styles beside the text.
func TestNotesRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"nodes":[{"id":"a","type":"trigger.webhook","position":{"x":0,"y":0}}],"edges":null,` +
		`"notes":[{"id":"n1","text":"<script>x</script>\nline 2","position":{"x":5,"y":6},"size":{"width":200,"height":100},"color":"green"}]}`
	d, err := engine.ParseDefinition([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) != 1 || d.Notes[0].Text != "<script>x</script>\nline 2" || d.Notes[0].Size.Width != 200 || d.Notes[0].Color != "green" {
		t.Fatalf("notes %+v", d.Notes)
	}
	b, _ := json.Marshal(d)
	if !strings.Contains(string(b), `"notes":[{"id":"n1","text":"\u003cscript\u003ex\u003c/script\u003e\nline 2","position":{"x":5,"y":6},"size":{"width":200,"height":100},"color":"green"}]`) {
		t.Errorf("written %s", b)
	}
	if _, err := engine.ParseDefinition([]byte(`{"nodes":[],"notes":[{"id":"n","html":"<b>"}]}`)); err == nil || !strings.Contains(err.Error(), `unknown field "html"`) {
		t.Errorf("unknown note field: %v", err)
	}
}

func TestPlanAccessors(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	d := orderFlow(t)
	plan := compile(t, reg, d)
	if plan.Trigger().ID != "hook" || plan.Definition() != d {
		t.Errorf("trigger %v", plan.Trigger())
	}
	if n, ok := plan.Node("big"); !ok || n.Type != "condition.if" {
		t.Errorf("Node(big) = %v %v", n, ok)
	}
	if _, ok := plan.Node("nope"); ok {
		t.Error("Node(nope) found")
	}
	reg2, _ := setup(t)
	p2 := compile(t, reg2, def(t, []string{`hook:trigger.webhook`, `x:action.effect`}, "hook->x"))
	if !p2.HasSideEffects("x") || p2.HasSideEffects("hook") {
		t.Error("HasSideEffects")
	}
	if p2.Pure() || !plan.Pure() {
		t.Errorf("Pure: %v with a side-effecting node, %v with transforms and conditions only", p2.Pure(), plan.Pure())
	}
}
