package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/sandbox"
)

// testEnv is an environment as a running node would see it, without a scope: `nodes` is empty.
// The tests' sandboxes: a patient one, so that on a busy machine (and under the race detector) each hostile case
// meets the limit it is about rather than the clock, and a quick one for the cases where the clock is the limit.
var (
	patientSandbox = sandbox.NewPool(sandbox.Options{Limits: sandbox.Limits{Timeout: time.Minute}})
	quickSandbox   = sandbox.NewPool(sandbox.Options{Limits: sandbox.Limits{Timeout: time.Second}})
)

func testVars(input any) *Vars { return varsIn(patientSandbox, input) }

// quickVars is testVars with a one-second time limit.
func quickVars(input any) *Vars { return varsIn(quickSandbox, input) }

func varsIn(pool *sandbox.Pool, input any) *Vars {
	var trig any
	_ = json.Unmarshal([]byte(`{"body":{"email":"a@example.com","n":3}}`), &trig)
	env := &Env{Trigger: trig, Execution: ExecutionInfo{ID: "e1", WorkflowID: "w1", Version: 2}, sandbox: pool}
	return newVars(env, input)
}

func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCondition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		input   string
		want    bool
		wantErr string
	}{
		{src: "input.total > 100", input: `{"total":150}`, want: true},
		{src: "input.total > 100", input: `{"total":50}`, want: false},
		{src: "input.missing", input: `{}`, want: false},
		{src: "input.flag", input: `{"flag":true}`, want: true},
		{src: "input.n % 2 == 1", input: `{"n":7}`, want: true},
		{src: "input.x % 2.5 == 0.5", input: `{"x":3}`, want: true},
		{src: `trigger.body.email endsWith "@example.com"`, input: `null`, want: true},
		{src: `execution.version == 2 && execution.id == "e1"`, input: `null`, want: true},
		{src: "item == nil && index == nil", input: `null`, want: true},
		{src: `input.name`, input: `{"name":"x"}`, wantErr: `gave the string "x", not true or false`},
		{src: `input.a > 1`, input: `{"a":"text"}`, wantErr: "invalid operation"},
		{src: `input.n % 0 == 1`, input: `{"n":1}`, wantErr: "modulo by zero"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			c := &Compiler{}
			cond, err := c.Condition("condition", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cond.Eval(context.Background(), testVars(decode(t, tt.input)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err %v, want permanent %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, src, wantErr string
	}{
		{"expr", "", "empty"},
		{"expr", "input.total >", "unexpected token"},
		{"expr", "inptu.total", "unknown name inptu"},
		{"expr", `repeat("x", 1000000000)`, "unknown name repeat"},
		{"expr", strings.Repeat("1 + ", 3000) + "1", "exceeds maximum allowed nodes"},
		{"expr", strings.Repeat("x", MaxExpressionBytes+1), "longer than"},
		{"template", "hello {{ input.name", "without its closing }}"},
		{"template", "hello {{ input. }}", "in {{ input. }}"},
		{"jq", ".a | | .b", "jq:"},
		{"jq", "$unknown", "jq:"},
		{"jq", "input", "jq:"},
		{"jq", "   ", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.src[:min(len(tt.src), 30)], func(t *testing.T) {
			t.Parallel()
			c := &Compiler{nodeID: "n"}
			var err error
			switch tt.kind {
			case "expr":
				_, err = c.Expression("f", tt.src)
			case "template":
				_, err = c.Template("f", tt.src)
			case "jq":
				_, err = c.JQ("f", tt.src)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if len(c.problems) != 1 || c.problems[0].NodeID != "n" || c.problems[0].Field != "config.f" || strings.Contains(c.problems[0].Message, "\n") {
				t.Errorf("problems %+v", c.problems)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src        string
		input      string
		wantText   string
		wantValue  any
		valueIsRaw bool
	}{
		{src: "plain text", input: `{}`, wantText: "plain text", wantValue: "plain text"},
		{src: "Order {{ input.id }} for {{ input.total }} €", input: `{"id":"A1","total":12.5}`, wantText: "Order A1 for 12.5 €", wantValue: "Order A1 for 12.5 €"},
		{src: "{{ input.n }}", input: `{"n":3}`, wantText: "3", wantValue: 3.0},
		{src: "{{ input.list }}", input: `{"list":[1,"a"]}`, wantText: `[1,"a"]`, wantValue: []any{1.0, "a"}},
		{src: " {{ input.n }}", input: `{"n":3}`, wantText: " 3", wantValue: " 3"},
		{src: "{{ input.missing }}!", input: `{}`, wantText: "!", wantValue: "!"},
		{src: "{{ input.obj }}", input: `{"obj":{"a":true}}`, wantText: `{"a":true}`, wantValue: map[string]any{"a": true}},
		{src: "{{ trigger.body.n * 1000000 }}", input: `{}`, wantText: "3000000", wantValue: 3000000.0},
		{src: "{{ 1.5e300 }}", input: `{}`, wantText: "1.5e+300", wantValue: 1.5e300},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			tmpl, err := (&Compiler{}).Template("t", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			vars := testVars(decode(t, tt.input))
			text, err := tmpl.Render(context.Background(), vars)
			if err != nil || text != tt.wantText {
				t.Errorf("Render = %q %v, want %q", text, err, tt.wantText)
			}
			v, err := tmpl.Value(context.Background(), vars)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(v)
			wantJSON, _ := json.Marshal(tt.wantValue)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("Value = %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestTemplateRenderFuncEscapesValuesOnly(t *testing.T) {
	t.Parallel()
	tmpl, err := (&Compiler{}).Template("t", `<b>{{ input.name }}</b>`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.RenderFunc(context.Background(), testVars(decode(t, `{"name":"<script>"}`)), func(v any) (string, error) {
		return strings.ReplaceAll(FormatValue(v), "<", "&lt;"), nil
	})
	if err != nil || got != "<b>&lt;script></b>" {
		t.Errorf("got %q %v", got, err)
	}
}

func TestTemplateSizeLimit(t *testing.T) {
	t.Parallel()
	tmpl, err := (&Compiler{}).Template("t", `{{ input.s }}{{ input.s }}`)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", MaxTemplateBytes/2+1)
	_, err = tmpl.Render(context.Background(), testVars(map[string]any{"s": big}))
	if err == nil || !strings.Contains(err.Error(), "larger than") || !IsPermanent(err) {
		t.Errorf("err %v", err)
	}
}

func TestExpressionMemoryBudget(t *testing.T) {
	t.Parallel()
	e, err := (&Compiler{}).Expression("e", "map(1..100000000, # * 2)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Eval(context.Background(), testVars(nil))
	if err == nil || !strings.Contains(err.Error(), "memory budget exceeded") {
		t.Errorf("err %v", err)
	}
}

func TestExpressionStringBlowUp(t *testing.T) {
	t.Parallel()
	e, err := (&Compiler{}).Expression("e", `replace(input.s, "a", input.s)`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Eval(context.Background(), testVars(map[string]any{"s": strings.Repeat("a", 10_000)}))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("err %v", err)
	}
	v, err := e.Eval(context.Background(), testVars(map[string]any{"s": "ab"}))
	if err != nil || v != "abb" {
		t.Errorf("replace = %v %v", v, err)
	}
}

func TestExpressionHonoursCanceledContext(t *testing.T) {
	t.Parallel()
	e, err := (&Compiler{}).Expression("e", "1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Eval(ctx, testVars(nil)); err == nil {
		t.Error("evaluated with a canceled context")
	}
}

func TestJQ(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		input   string
		want    string
		wantErr string
	}{
		{src: ".a + 1", input: `{"a":1}`, want: `2`},
		{src: ".[] | select(. > 1)", input: `[1,2,3]`, want: `[2,3]`},
		{src: "empty", input: `{}`, want: `null`},
		{src: "{email: $trigger.body.email, exec: $execution.id, v: $execution.version, item: $item}", input: `{}`, want: `{"email":"a@example.com","exec":"e1","item":null,"v":2}`},
		{src: "$ENV", input: `{}`, want: `{}`},
		{src: "env | length", input: `{}`, want: `0`},
		{src: `error("nope")`, input: `{}`, wantErr: "nope"},
		{src: "halt", input: `{}`, want: `null`},
		{src: "range(200000)", input: `{}`, wantErr: "emitted more than 100000 values"},
		{src: "def f: f; f", input: `{}`, wantErr: "ran longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			q, err := (&Compiler{}).JQ("jq", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tt.src, "def f") {
				q.timeout = 50 * time.Millisecond // it never ends; no need to wait the full EvalTimeout
			}
			in := decode(t, tt.input)
			got, err := q.First(context.Background(), testVars(in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err %v, want permanent %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestJQStoppedByTheNodeDeadlineIsRetryable(t *testing.T) {
	t.Parallel()
	q, err := (&Compiler{}).JQ("jq", "def f: f; f")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = q.Run(ctx, testVars(nil))
	if err == nil || IsPermanent(err) {
		t.Errorf("err %v: the node's own timeout is a retryable failure", err)
	}
}

func TestVarsSetItem(t *testing.T) {
	t.Parallel()
	cond, err := (&Compiler{}).Condition("c", "item.n > index")
	if err != nil {
		t.Fatal(err)
	}
	q, err := (&Compiler{}).JQ("q", "$item.n + $index")
	if err != nil {
		t.Fatal(err)
	}
	vars := testVars(nil)
	for i, n := range []float64{5, 0, 9} {
		item := map[string]any{"n": n}
		vars.SetItem(item, i)
		ok, err := cond.Eval(context.Background(), vars)
		if err != nil || ok != (n > float64(i)) {
			t.Errorf("item %d: %v %v", i, ok, err)
		}
		v, err := q.First(context.Background(), vars)
		if err != nil || v != n+float64(i) {
			t.Errorf("jq item %d: %v %v", i, v, err)
		}
	}
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"s", "s"},
		{true, "true"},
		{3, "3"},
		{int64(-4), "-4"},
		{3.0, "3"},
		{-0.25, "-0.25"},
		{1e20, "1e+20"},
		{json.Number("12.50"), "12.50"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{90 * time.Second, "1m30s"},
		{[]any{1.0, "a"}, `[1,"a"]`},
		{map[string]any{"k": "<v>"}, `{"k":"\u003cv\u003e"}`},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.in); got != tt.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReferencesNodes(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]bool{
		"nodes.a.output.x > 1": true,
		"input.nodes":          false,
		"$env.nodes":           true,
		"input.x":              false,
	} {
		e, err := compileExpression(src)
		if err != nil {
			t.Fatal(err)
		}
		if (e.uses&useNodes != 0) != want {
			t.Errorf("%q uses nodes: %v, want %v", src, !want, want)
		}
	}
}
