package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/sandbox"
)

// orderFlow is the workflow of DESIGN.md's example: webhook → transform.data → condition.if → two branches.
func orderFlow(t testing.TB) *engine.Definition {
	return def(t, []string{
		`hook:trigger.webhook`,
		`shape:transform.data:{"jq":"{id: .body.id, total: (.body.lines | map(.price * .qty) | add)}"}`,
		`big:condition.if:{"condition":"input.total > 100"}`,
		`vip:transform.data:{"mapping":{"msg":"Big order {{ input.id }} ({{ input.total }})","total":"{{ input.total }}","who":"{{ trigger.body.email }}"}}`,
		`small:transform.data:{"mapping":{"msg":"Small order {{ input.id }}"}}`,
	}, "hook->shape", "shape->big", "big.true->vip", "big.false->small")
}

func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantStatus map[string]engine.NodeStatus
		wantOutput string
	}{
		{
			name: "true branch",
			body: `{"id":"A1","email":"a@example.com","lines":[{"price":60,"qty":2},{"price":5,"qty":1}]}`,
			wantStatus: map[string]engine.NodeStatus{
				"hook": engine.NodeSucceeded, "shape": engine.NodeSucceeded, "big": engine.NodeSucceeded,
				"vip": engine.NodeSucceeded, "small": engine.NodeSkipped,
			},
			wantOutput: `{"vip":{"msg":"Big order A1 (125)","total":125,"who":"a@example.com"}}`,
		},
		{
			name: "false branch",
			body: `{"id":"B2","lines":[{"price":10,"qty":1}]}`,
			wantStatus: map[string]engine.NodeStatus{
				"hook": engine.NodeSucceeded, "shape": engine.NodeSucceeded, "big": engine.NodeSucceeded,
				"vip": engine.NodeSkipped, "small": engine.NodeSucceeded,
			},
			wantOutput: `{"small":{"msg":"Small order B2"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			plan := compile(t, reg, orderFlow(t))
			ex, _, _ := testExecutor(engine.ExecutorOptions{})
			res, err := ex.Run(context.Background(), plan, engine.RunInput{
				Execution: engine.ExecutionInfo{ID: "ex1", WorkflowID: "wf1", Version: 3},
				Trigger:   trigger(tt.body),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != engine.ExecutionSucceeded {
				t.Fatalf("status %s (%s)", res.Status, res.Error)
			}
			if got := statuses(res.NodeRuns); !mapsEqual(got, tt.wantStatus) {
				t.Errorf("statuses %v, want %v", got, tt.wantStatus)
			}
			jsonEqual(t, res.Output, tt.wantOutput)
			runs := byNode(res.NodeRuns)
			wantPort := "false"
			if tt.wantStatus["vip"] == engine.NodeSucceeded {
				wantPort = "true"
			}
			if runs["big"].Port != wantPort {
				t.Errorf("if took port %q, want %q", runs["big"].Port, wantPort)
			}
			// The if node passes its input through, bytes and all.
			if string(runs["big"].Output) != string(runs["shape"].Output) || string(runs["big"].Input) != string(runs["shape"].Output) {
				t.Errorf("if output %s, input %s; want both %s", runs["big"].Output, runs["big"].Input, runs["shape"].Output)
			}
			for _, r := range res.NodeRuns {
				if r.Status == engine.NodeSucceeded && r.Attempt != 1 {
					t.Errorf("%s attempt %d", r.NodeID, r.Attempt)
				}
				if r.Type == "" || r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
					t.Errorf("incomplete run %+v", r)
				}
			}
		})
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRunBranchingAndMerging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		nodes      []string
		edges      []string
		body       string
		wantStatus map[string]engine.NodeStatus
		// wantInput is the expected input of a node, by id.
		wantInput map[string]string
	}{
		{
			name: "join after if runs with the taken branch, keyed by parent",
			nodes: []string{`hook:trigger.webhook`, `if:condition.if:{"condition":"input.body.n > 1"}`,
				`a:transform.data:{"mapping":{"v":"a"}}`, `b:transform.data:{"mapping":{"v":"b"}}`, `join:transform.echo`},
			edges: []string{"hook->if", "if.true->a", "if.false->b", "a->join", "b->join"},
			body:  `{"n":5}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "if": engine.NodeSucceeded,
				"a": engine.NodeSucceeded, "b": engine.NodeSkipped, "join": engine.NodeSucceeded},
			wantInput: map[string]string{"join": `{"a":{"v":"a"}}`},
		},
		{
			name: "fan-out then join gets every parent",
			nodes: []string{`hook:trigger.webhook`, `a:transform.data:{"mapping":{"v":"a"}}`,
				`b:transform.data:{"mapping":{"v":"b"}}`, `join:transform.echo`},
			edges: []string{"hook->a", "hook->b", "a->join", "b->join"},
			body:  `{}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "a": engine.NodeSucceeded,
				"b": engine.NodeSucceeded, "join": engine.NodeSucceeded},
			wantInput: map[string]string{"join": `{"a":{"v":"a"},"b":{"v":"b"}}`},
		},
		{
			name: "skips propagate down an untaken branch",
			nodes: []string{`hook:trigger.webhook`, `if:condition.if:{"condition":"false"}`,
				`a:transform.echo`, `b:transform.echo`, `c:transform.echo`, `d:transform.echo`},
			edges: []string{"hook->if", "if.true->a", "a->b", "b->c", "if.false->d"},
			body:  `{}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "if": engine.NodeSucceeded,
				"a": engine.NodeSkipped, "b": engine.NodeSkipped, "c": engine.NodeSkipped, "d": engine.NodeSucceeded},
		},
		{
			name: "both ports of an if into one node count as one parent",
			nodes: []string{`hook:trigger.webhook`, `if:condition.if:{"condition":"true"}`,
				`x:transform.data:{"mapping":{"got":"{{ input.body.v }}"}}`},
			edges:      []string{"hook->if", "if.true->x", "if.false->x"},
			body:       `{"v":7}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "if": engine.NodeSucceeded, "x": engine.NodeSucceeded},
			wantInput:  map[string]string{"x": `{"body":{"v":7},"headers":{"content-type":"application/json"},"query":{},"method":"POST"}`},
		},
		{
			name: "switch takes the first matching case",
			nodes: []string{`hook:trigger.webhook`,
				`sw:condition.switch:{"cases":[{"port":"eu","condition":"input.body.region == 'eu'"},{"port":"any","condition":"true"}]}`,
				`eu:transform.echo`, `any:transform.echo`, `def:transform.echo`},
			edges: []string{"hook->sw", "sw.eu->eu", "sw.any->any", "sw.default->def"},
			body:  `{"region":"eu"}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "sw": engine.NodeSucceeded,
				"eu": engine.NodeSucceeded, "any": engine.NodeSkipped, "def": engine.NodeSkipped},
		},
		{
			name: "switch falls back to default",
			nodes: []string{`hook:trigger.webhook`,
				`sw:condition.switch:{"cases":[{"port":"eu","condition":"input.body.region == 'eu'"}]}`,
				`eu:transform.echo`, `def:transform.echo`},
			edges: []string{"hook->sw", "sw.eu->eu", "sw.default->def"},
			body:  `{"region":"us"}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "sw": engine.NodeSucceeded,
				"eu": engine.NodeSkipped, "def": engine.NodeSucceeded},
		},
		{
			name:       "a node nothing leads to is skipped",
			nodes:      []string{`hook:trigger.webhook`, `a:transform.echo`, `lonely:transform.echo`},
			edges:      []string{"hook->a"},
			body:       `{}`,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "a": engine.NodeSucceeded, "lonely": engine.NodeSkipped},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			plan := compile(t, reg, def(t, tt.nodes, tt.edges...))
			res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != engine.ExecutionSucceeded {
				t.Fatalf("status %s: %s", res.Status, res.Error)
			}
			if got := statuses(res.NodeRuns); !mapsEqual(got, tt.wantStatus) {
				t.Errorf("statuses %v\nwant %v", got, tt.wantStatus)
			}
			runs := byNode(res.NodeRuns)
			for id, want := range tt.wantInput {
				jsonEqual(t, runs[id].Input, want)
			}
		})
	}
}

func TestRunConcurrentBranches(t *testing.T) {
	t.Parallel()
	t.Run("independent branches run at the same time", func(t *testing.T) {
		t.Parallel()
		reg, w := setup(t)
		// Each wait node blocks until all four have started: run one at a time, they would never finish.
		w.barrier = &sync.WaitGroup{}
		w.barrier.Add(4)
		plan := compile(t, reg, def(t,
			[]string{`hook:trigger.webhook`, `a:transform.wait`, `b:transform.wait`, `c:transform.wait`, `d:transform.wait`, `join:transform.echo`},
			"hook->a", "hook->b", "hook->c", "hook->d", "a->join", "b->join", "c->join", "d->join"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := runPlan(t, ctx, plan, engine.RunInput{Trigger: trigger(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != engine.ExecutionSucceeded {
			t.Fatalf("status %s: %s", res.Status, res.Error)
		}
		jsonEqual(t, byNode(res.NodeRuns)["join"].Input, `{"a":"a","b":"b","c":"c","d":"d"}`)
	})
	t.Run("max concurrency bounds them", func(t *testing.T) {
		t.Parallel()
		reg, w := setup(t)
		var specs, edges []string
		specs = append(specs, `hook:trigger.webhook`)
		for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
			specs = append(specs, id+":transform.wait")
			edges = append(edges, "hook->"+id)
		}
		plan := compile(t, reg, def(t, specs, edges...))
		ex := engine.NewExecutor(engine.ExecutorOptions{MaxConcurrency: 2})
		res, err := ex.Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
		if err != nil || res.Status != engine.ExecutionSucceeded {
			t.Fatalf("%v %s %s", err, res.Status, res.Error)
		}
		if w.maxInflight > 2 {
			t.Errorf("%d nodes ran at once, want at most 2", w.maxInflight)
		}
	})
}

func TestRunRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		config      string
		retry       *engine.RetryPolicy
		wantStatus  engine.NodeStatus
		wantAttempt int
		wantWaits   []time.Duration
	}{
		{
			name:        "no policy: one attempt",
			config:      `{"fail":1}`,
			wantStatus:  engine.NodeFailed,
			wantAttempt: 1,
		},
		{
			name:        "succeeds on the third attempt with exponential backoff",
			config:      `{"fail":2}`,
			retry:       &engine.RetryPolicy{MaxAttempts: 3},
			wantStatus:  engine.NodeSucceeded,
			wantAttempt: 3,
			wantWaits:   []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:        "runs out of attempts",
			config:      `{"fail":9}`,
			retry:       &engine.RetryPolicy{MaxAttempts: 4, InitialInterval: engine.Duration(100 * time.Millisecond), MaxInterval: engine.Duration(300 * time.Millisecond)},
			wantStatus:  engine.NodeFailed,
			wantAttempt: 4,
			wantWaits:   []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond},
		},
		{
			name:        "fixed backoff",
			config:      `{"fail":2}`,
			retry:       &engine.RetryPolicy{MaxAttempts: 3, Backoff: engine.BackoffFixed, InitialInterval: engine.Duration(5 * time.Second)},
			wantStatus:  engine.NodeSucceeded,
			wantAttempt: 3,
			wantWaits:   []time.Duration{5 * time.Second, 5 * time.Second},
		},
		{
			name:        "permanent errors are not retried",
			config:      `{"fail":1,"permanent":true}`,
			retry:       &engine.RetryPolicy{MaxAttempts: 5},
			wantStatus:  engine.NodeFailed,
			wantAttempt: 1,
		},
		{
			name:        "a retry-after hint replaces the backoff",
			config:      `{"fail":1,"retry_after":"42s"}`,
			retry:       &engine.RetryPolicy{MaxAttempts: 2},
			wantStatus:  engine.NodeSucceeded,
			wantAttempt: 2,
			wantWaits:   []time.Duration{42 * time.Second},
		},
	}
	for _, tt := range tests {
		for _, typ := range []string{"action.effect", "transform.flaky"} {
			t.Run(tt.name+"/"+typ, func(t *testing.T) {
				t.Parallel()
				reg, w := setup(t)
				d := def(t, []string{`hook:trigger.webhook`, `x:` + typ + `:` + tt.config}, "hook->x")
				node(t, d, "x").Retry = tt.retry
				plan := compile(t, reg, d)
				ex, _, sl := testExecutor(engine.ExecutorOptions{})
				rec := &memRecorder{}
				var events []engine.NodeEvent
				var mu sync.Mutex
				res, err := ex.Run(context.Background(), plan, engine.RunInput{
					Trigger: trigger(`{}`), Recorder: rec,
					Observer: engine.ObserverFunc(func(_ context.Context, ev engine.NodeEvent) {
						mu.Lock()
						events = append(events, ev)
						mu.Unlock()
					}),
				})
				if err != nil {
					t.Fatal(err)
				}
				all := stored(rec.runs, res.NodeRuns)
				x := byNode(all)["x"]
				if x.Status != tt.wantStatus || x.Attempt != tt.wantAttempt {
					t.Errorf("x: %s attempt %d, want %s attempt %d (%s)", x.Status, x.Attempt, tt.wantStatus, tt.wantAttempt, x.Error)
				}
				if w.count("x") != tt.wantAttempt {
					t.Errorf("x called %d times, want %d", w.count("x"), tt.wantAttempt)
				}
				if got := sl.all(); !slices.Equal(got, tt.wantWaits) {
					t.Errorf("waits %v, want %v", got, tt.wantWaits)
				}
				// Side-effecting runs go to the recorder, pure ones to the batch.
				inRecorder := len(rec.runs) == 1 && rec.runs[0].NodeID == "x"
				if inRecorder != (typ == "action.effect") {
					t.Errorf("recorder got %d runs for %s", len(rec.runs), typ)
				}
				wantStatus := engine.ExecutionSucceeded
				if tt.wantStatus == engine.NodeFailed {
					wantStatus = engine.ExecutionFailed
					if res.FailedNodeID != "x" || !strings.Contains(res.Error, "x failed") {
						t.Errorf("failure %q at %q", res.Error, res.FailedNodeID)
					}
				}
				if res.Status != wantStatus {
					t.Errorf("status %s, want %s", res.Status, wantStatus)
				}
				// Every attempt is visible: one started event each, a retrying event between them.
				var started, retrying []int
				for _, ev := range events {
					if ev.Run.NodeID != "x" {
						continue
					}
					switch ev.Kind {
					case engine.NodeEventStarted:
						started = append(started, ev.Run.Attempt)
					case engine.NodeEventRetrying:
						retrying = append(retrying, ev.Run.Attempt)
					}
				}
				if len(started) != tt.wantAttempt || len(retrying) != tt.wantAttempt-1 {
					t.Errorf("events: started %v, retrying %v", started, retrying)
				}
			})
		}
	}
}

func TestRunNodeTimeout(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	d := def(t, []string{`hook:trigger.webhook`, `slow:transform.flaky:{"sleep":"1h"}`}, "hook->slow")
	node(t, d, "slow").Timeout = engine.Duration(20 * time.Millisecond)
	node(t, d, "slow").Retry = &engine.RetryPolicy{MaxAttempts: 2}
	plan := compile(t, reg, d)
	ex, _, _ := testExecutor(engine.ExecutorOptions{})
	res, err := ex.Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	slow := byNode(res.NodeRuns)["slow"]
	if res.Status != engine.ExecutionFailed || slow.Status != engine.NodeFailed || !strings.Contains(slow.Error, "timed out after 20ms") {
		t.Fatalf("status %s, slow %+v", res.Status, slow)
	}
	if slow.Attempt != 2 || w.count("slow") != 2 {
		t.Errorf("a timeout is retryable: %d attempts, %d calls", slow.Attempt, w.count("slow"))
	}
}

func TestRunOnError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		onError    string
		wantExec   engine.ExecutionStatus
		wantStatus map[string]engine.NodeStatus
		wantInput  map[string]string
	}{
		{
			onError:  "",
			wantExec: engine.ExecutionFailed,
			// Nothing after the failure starts; the independent branch already ran (it came first in order).
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "bad": engine.NodeFailed},
		},
		{
			onError:    engine.OnErrorStop,
			wantExec:   engine.ExecutionFailed,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "bad": engine.NodeFailed},
		},
		{
			onError:  engine.OnErrorContinue,
			wantExec: engine.ExecutionSucceeded,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "bad": engine.NodeFailed,
				"next": engine.NodeSucceeded, "handler": engine.NodeSkipped, "after": engine.NodeSucceeded},
			wantInput: map[string]string{"next": `{"error":"bad failed (call 1)"}`},
		},
		{
			onError:  engine.OnErrorRoute,
			wantExec: engine.ExecutionSucceeded,
			wantStatus: map[string]engine.NodeStatus{"hook": engine.NodeSucceeded, "bad": engine.NodeFailed,
				"next": engine.NodeSkipped, "handler": engine.NodeSucceeded, "after": engine.NodeSkipped},
			wantInput: map[string]string{"handler": `{"error":"bad failed (call 1)"}`},
		},
	}
	for _, tt := range tests {
		t.Run("on_error="+tt.onError, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			specs := []string{`hook:trigger.webhook`, `bad:transform.flaky:{"fail":1,"permanent":true}`, `next:transform.echo`, `after:transform.echo`}
			edges := []string{"hook->bad", "bad->next", "next->after"}
			switch tt.onError {
			case engine.OnErrorRoute:
				specs = append(specs, `handler:transform.echo`)
				edges = append(edges, "bad.error->handler")
			case engine.OnErrorContinue:
				// There is no error port without on_error "error": an unconnected handler shows as skipped.
				specs = append(specs, `handler:transform.echo`)
			}
			d := def(t, specs, edges...)
			node(t, d, "bad").OnError = tt.onError
			plan := compile(t, reg, d)
			res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantExec {
				t.Fatalf("status %s (%s), want %s", res.Status, res.Error, tt.wantExec)
			}
			if got := statuses(res.NodeRuns); !mapsEqual(got, tt.wantStatus) {
				t.Errorf("statuses %v\nwant %v", got, tt.wantStatus)
			}
			runs := byNode(res.NodeRuns)
			for id, want := range tt.wantInput {
				jsonEqual(t, runs[id].Input, want)
			}
			if tt.wantExec == engine.ExecutionFailed && (res.FailedNodeID != "bad" || !strings.Contains(res.Error, `node "bad" failed: bad failed`)) {
				t.Errorf("failure %q at %q", res.Error, res.FailedNodeID)
			}
		})
	}
}

func TestRunStopLetsRunningBranchesFinish(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `bad:transform.flaky:{"fail":1,"permanent":true,"after":"slow"}`, `slow:action.effect:{"sleep":"30ms"}`, `after:action.effect`},
		"hook->bad", "hook->slow", "slow->after"))
	res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionFailed || res.FailedNodeID != "bad" {
		t.Fatalf("status %s at %q", res.Status, res.FailedNodeID)
	}
	st := statuses(res.NodeRuns)
	if st["slow"] != engine.NodeSucceeded {
		t.Errorf("a node already running finishes and is recorded: %v", st)
	}
	if w.count("after") != 0 {
		t.Errorf("no node starts after a stopping failure")
	}
}

func TestRunLoop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		loop        string
		body        []string
		edges       []string
		items       string
		wantExec    engine.ExecutionStatus
		wantResults string
		wantError   string
		// wantItemRuns counts body runs per node.
		wantItemRuns map[string]int
	}{
		{
			name:         "collects each item's result in order",
			loop:         `{"items":"input.body.orders"}`,
			body:         []string{`double:transform.data:{"mapping":{"id":"{{ item.id }}","twice":"{{ input.n * 2 }}","at":"{{ index }}"}}`},
			edges:        []string{"loop.body->double"},
			items:        `[{"id":"a","n":1},{"id":"b","n":2},{"id":"c","n":3}]`,
			wantExec:     engine.ExecutionSucceeded,
			wantResults:  `[{"id":"a","twice":2,"at":0},{"id":"b","twice":4,"at":1},{"id":"c","twice":6,"at":2}]`,
			wantItemRuns: map[string]int{"double": 3},
		},
		{
			name:         "concurrent items keep their order",
			loop:         `{"items":"input.body.orders","concurrency":4}`,
			body:         []string{`w:transform.flaky:{"sleep":"1ms"}`, `pick:transform.data:{"jq":".input.n"}`},
			edges:        []string{"loop.body->w", "w->pick"},
			items:        `[{"n":1},{"n":2},{"n":3},{"n":4},{"n":5},{"n":6},{"n":7},{"n":8}]`,
			wantExec:     engine.ExecutionSucceeded,
			wantResults:  `[1,2,3,4,5,6,7,8]`,
			wantItemRuns: map[string]int{"w": 8, "pick": 8},
		},
		{
			name:         "an if inside the body filters items",
			loop:         `{"items":"input.body.orders"}`,
			body:         []string{`keep:condition.if:{"condition":"item.n % 2 == 0"}`, `even:transform.data:{"jq":".n"}`},
			edges:        []string{"loop.body->keep", "keep.true->even"},
			items:        `[{"n":1},{"n":2},{"n":3},{"n":4}]`,
			wantExec:     engine.ExecutionSucceeded,
			wantResults:  `[2,4]`,
			wantItemRuns: map[string]int{"keep": 4, "even": 4},
		},
		{
			name:         "a body ending in two nodes gives objects keyed by node",
			loop:         `{"items":"input.body.orders"}`,
			body:         []string{`x:transform.data:{"jq":".n"}`, `y:transform.data:{"jq":".n + 100"}`},
			edges:        []string{"loop.body->x", "loop.body->y"},
			items:        `[{"n":1},{"n":2}]`,
			wantExec:     engine.ExecutionSucceeded,
			wantResults:  `[{"x":1,"y":101},{"x":2,"y":102}]`,
			wantItemRuns: map[string]int{"x": 2, "y": 2},
		},
		{
			name:         "no items: done fires with an empty array",
			loop:         `{"items":"input.body.orders"}`,
			body:         []string{`x:transform.echo`},
			edges:        []string{"loop.body->x"},
			items:        `[]`,
			wantExec:     engine.ExecutionSucceeded,
			wantResults:  `[]`,
			wantItemRuns: map[string]int{},
		},
		{
			name:      "more items than max_iterations fails the loop",
			loop:      `{"items":"input.body.orders","max_iterations":2}`,
			body:      []string{`x:transform.echo`},
			edges:     []string{"loop.body->x"},
			items:     `[1,2,3]`,
			wantExec:  engine.ExecutionFailed,
			wantError: "3 items, more than max_iterations (2)",
		},
		{
			name:         "a failing item fails the loop and names the item",
			loop:         `{"items":"input.body.orders"}`,
			body:         []string{`check:transform.data:{"jq":"if . > 1 then error(\"too big\") else . end"}`},
			edges:        []string{"loop.body->check"},
			items:        `[1,2,3]`,
			wantExec:     engine.ExecutionFailed,
			wantError:    `item 1: node "check" failed: jq: error: too big`,
			wantItemRuns: map[string]int{"check": 2},
		},
		{
			name:      "items must be an array",
			loop:      `{"items":"input.body"}`,
			body:      []string{`x:transform.echo`},
			edges:     []string{"loop.body->x"},
			items:     `{"not":"an array"}`,
			wantExec:  engine.ExecutionFailed,
			wantError: "not an array",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			specs := append([]string{`hook:trigger.webhook`, `loop:condition.loop:` + tt.loop, `after:transform.echo`}, tt.body...)
			edges := append([]string{"hook->loop", "loop.done->after"}, tt.edges...)
			plan := compile(t, reg, def(t, specs, edges...))
			res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"orders":` + tt.items + `}`)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantExec {
				t.Fatalf("status %s (%s), want %s", res.Status, res.Error, tt.wantExec)
			}
			if tt.wantError != "" && !strings.Contains(res.Error, tt.wantError) {
				t.Errorf("error %q, want it to contain %q", res.Error, tt.wantError)
			}
			runs := byNode(res.NodeRuns)
			if tt.wantResults != "" {
				jsonEqual(t, runs["loop"].Output, tt.wantResults)
				jsonEqual(t, runs["after"].Input, tt.wantResults)
				if runs["loop"].Port != engine.PortDone {
					t.Errorf("loop port %q", runs["loop"].Port)
				}
			}
			if tt.wantItemRuns != nil {
				got := map[string]int{}
				for _, r := range res.NodeRuns {
					if r.ItemIndex != nil {
						got[r.NodeID]++
					}
				}
				if !mapsEqual(got, tt.wantItemRuns) {
					t.Errorf("item runs %v, want %v", got, tt.wantItemRuns)
				}
			}
		})
	}
}

func TestRunLoopErrorHandledByLoopNode(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	d := def(t, []string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"[1,2]"}`,
		`bad:transform.flaky:{"fail":1,"permanent":true}`, `after:transform.echo`},
		"hook->loop", "loop.body->bad", "loop.done->after")
	node(t, d, "loop").OnError = engine.OnErrorContinue
	res, err := runPlan(t, context.Background(), compile(t, reg, d), engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionSucceeded {
		t.Fatalf("status %s: %s", res.Status, res.Error)
	}
	runs := byNode(res.NodeRuns)
	if runs["loop"].Status != engine.NodeFailed {
		t.Errorf("loop %s", runs["loop"].Status)
	}
	jsonEqual(t, runs["after"].Input, `{"error":"item 0: node \"bad\" failed: bad failed (call 1)"}`)
}

func TestRunDelayParksAndResumes(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `wait:condition.delay:{"duration":"1h"}`, `mail:action.effect`, `side:action.effect`},
		"hook->wait", "wait->mail", "hook->side"))
	ex, clk, _ := testExecutor(engine.ExecutorOptions{})
	rec := &memRecorder{}
	in := engine.RunInput{Trigger: trigger(`{"n":1}`), Recorder: rec}
	start := clk.Now()

	// First run: the delay parks, the independent branch runs.
	res, err := ex.Run(context.Background(), plan, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionWaiting || !res.ResumeAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("status %s resume %v", res.Status, res.ResumeAt)
	}
	wait := byNode(res.NodeRuns)["wait"]
	if wait.Status != engine.NodeRunning {
		t.Fatalf("parked delay recorded as %s", wait.Status)
	}
	jsonEqual(t, wait.Output, `{"resume_at":"2025-03-01T13:00:00Z"}`)
	if w.count("mail") != 0 || w.count("side") != 1 {
		t.Fatalf("mail %d, side %d", w.count("mail"), w.count("side"))
	}
	all := stored(rec.runs, res.NodeRuns)

	// Woken early (a job fired before its time): still waiting, nothing repeated.
	clk.Advance(30 * time.Minute)
	res, err = ex.Run(context.Background(), plan, engine.RunInput{Trigger: in.Trigger, Recorder: rec, Recorded: all})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionWaiting || !res.ResumeAt.Equal(start.Add(time.Hour)) || len(res.NodeRuns) != 0 {
		t.Fatalf("early resume: status %s resume %v runs %v", res.Status, res.ResumeAt, res.NodeRuns)
	}

	// On time: the delay completes with its input as output and the rest runs.
	clk.Advance(31 * time.Minute)
	res, err = ex.Run(context.Background(), plan, engine.RunInput{Trigger: in.Trigger, Recorder: rec, Recorded: all})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionSucceeded {
		t.Fatalf("status %s: %s", res.Status, res.Error)
	}
	all = stored(all, rec.runs, res.NodeRuns)
	wait = byNode(all)["wait"]
	if wait.Status != engine.NodeSucceeded || !wait.StartedAt.Equal(start) || !wait.FinishedAt.Equal(clk.Now()) {
		t.Errorf("completed delay %+v", wait)
	}
	jsonEqual(t, wait.Output, string(trigger(`{"n":1}`)))
	if w.count("mail") != 1 || w.count("side") != 1 {
		t.Errorf("mail %d, side %d: each side effect exactly once", w.count("mail"), w.count("side"))
	}
}

func TestRunDelayUntil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   string
		wantWait bool
		wantAt   time.Time
	}{
		{"RFC 3339 in the future", `{"until":"2025-03-02T08:00:00Z"}`, true, time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)},
		{"RFC 3339 in the past does not wait", `{"until":"2025-01-01T00:00:00Z"}`, false, time.Time{}},
		{"expression giving a string", `{"until":"trigger.body.at"}`, true, time.Date(2025, 3, 1, 18, 30, 0, 0, time.UTC)},
		{"expression giving unix seconds", `{"until":"trigger.body.unix"}`, true, time.Unix(1740870000, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `wait:condition.delay:` + tt.config, `after:transform.echo`}, "hook->wait", "wait->after"))
			ex, _, _ := testExecutor(engine.ExecutorOptions{})
			res, err := ex.Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{"at":"2025-03-01T18:30:00Z","unix":1740870000}`)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantWait {
				if res.Status != engine.ExecutionWaiting || !res.ResumeAt.Equal(tt.wantAt) {
					t.Errorf("status %s (%s) resume %v, want waiting until %v", res.Status, res.Error, res.ResumeAt, tt.wantAt)
				}
			} else if res.Status != engine.ExecutionSucceeded {
				t.Errorf("status %s (%s), want succeeded", res.Status, res.Error)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `slow:transform.block`, `after:action.effect`}, "hook->slow", "slow->after"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-w.started
		cancel()
	}()
	res, err := runPlan(t, ctx, plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionCanceled {
		t.Fatalf("status %s (%s)", res.Status, res.Error)
	}
	if slow := byNode(res.NodeRuns)["slow"]; slow.Status != engine.NodeFailed || !strings.Contains(slow.Error, "canceled") {
		t.Errorf("interrupted node %+v", slow)
	}
	if w.count("after") != 0 {
		t.Errorf("a node started after cancellation")
	}
}

func TestRunExecutionTimeout(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `slow:transform.block`}, "hook->slow"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res, err := runPlan(t, ctx, plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionFailed || res.Error != "execution timed out" {
		t.Fatalf("status %s (%s)", res.Status, res.Error)
	}
}

func TestRunCanceledBeforeStart(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `x:action.effect`}, "hook->x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := runPlan(t, ctx, plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionCanceled || w.count("x") != 0 || len(res.NodeRuns) != 0 {
		t.Fatalf("status %s, calls %d, runs %v", res.Status, w.count("x"), res.NodeRuns)
	}
}

// TestRunCrashResume simulates a worker dying right after a side effect was recorded: the pure runs of the batch
// are lost, the recorded ones survive, and the next attempt must not repeat the side effect.
func TestRunCrashResume(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `prep:transform.data:{"jq":".body"}`, `charge:action.effect`, `mail:action.effect`, `done:transform.echo`},
		"hook->prep", "prep->charge", "charge->mail", "mail->done"))
	ctx, crash := context.WithCancel(context.Background())
	rec := &memRecorder{after: func(r engine.NodeRun) {
		if r.NodeID == "charge" {
			crash()
		}
	}}
	first, err := runPlan(t, ctx, plan, engine.RunInput{Trigger: trigger(`{"amount":5}`), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != engine.ExecutionCanceled || w.count("charge") != 1 || w.count("mail") != 0 {
		t.Fatalf("first run: %s, charge %d, mail %d", first.Status, w.count("charge"), w.count("mail"))
	}

	// The batch (hook, prep) died with the worker; only the recorder's runs remain.
	recorded := append([]engine.NodeRun(nil), rec.runs...)
	second, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"amount":5}`), Recorder: rec, Recorded: recorded})
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != engine.ExecutionSucceeded {
		t.Fatalf("second run: %s (%s)", second.Status, second.Error)
	}
	if w.count("charge") != 1 || w.count("mail") != 1 {
		t.Errorf("charge %d, mail %d: each side effect exactly once", w.count("charge"), w.count("mail"))
	}
	for _, r := range second.NodeRuns {
		if r.NodeID == "charge" {
			t.Errorf("charge was run again: %+v", r)
		}
	}
	// mail got charge's recorded output as input.
	var mail engine.NodeRun
	for _, r := range rec.runs {
		if r.NodeID == "mail" {
			mail = r
		}
	}
	jsonEqual(t, mail.Input, string(byNode(rec.runs)["charge"].Output))
}

func TestRunResumeReusesEveryFinishedRun(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, orderFlow(t))
	first, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"id":"A","lines":[{"price":500,"qty":1}]}`)})
	if err != nil || first.Status != engine.ExecutionSucceeded {
		t.Fatal(err, first.Status)
	}
	again, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`), Recorded: first.NodeRuns})
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != engine.ExecutionSucceeded || len(again.NodeRuns) != 0 {
		t.Fatalf("status %s, new runs %v", again.Status, again.NodeRuns)
	}
	jsonEqual(t, again.Output, string(first.Output))
	_ = w
}

func TestRunLoopResume(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"input.body.list"}`, `send:action.effect:{"fail":2,"permanent":true}`},
		"hook->loop", "loop.body->send"))
	rec := &memRecorder{}
	first, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"list":["a","b","c"]}`), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	// Item 0 fails (call 1), so the loop fails before item 1 starts.
	if first.Status != engine.ExecutionFailed || !strings.Contains(first.Error, "item 0") {
		t.Fatalf("first: %s %s", first.Status, first.Error)
	}
	all := stored(rec.runs, first.NodeRuns)
	keep := plan.RetryRuns(all)
	second, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"list":["a","b","c"]}`), Recorder: rec, Recorded: keep})
	if err != nil {
		t.Fatal(err)
	}
	// Item 0 fails again (call 2): the loop stops again.
	if second.Status != engine.ExecutionFailed {
		t.Fatalf("second: %s", second.Status)
	}
	all = stored(all, rec.runs, second.NodeRuns)
	keep = plan.RetryRuns(all)
	third, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"list":["a","b","c"]}`), Recorder: rec, Recorded: keep})
	if err != nil || third.Status != engine.ExecutionSucceeded {
		t.Fatalf("third: %v %s %s", err, third.Status, third.Error)
	}
	if w.count("send") != 5 {
		t.Errorf("send called %d times, want 5 (2 failures, then one per item)", w.count("send"))
	}
	loopRun := byNode(third.NodeRuns)["loop"]
	var results []map[string]any
	if err := json.Unmarshal(loopRun.Output, &results); err != nil || len(results) != 3 {
		t.Fatalf("loop output %s", loopRun.Output)
	}
}

func TestRetryRuns(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `a:action.effect`, `b:action.effect:{"fail":1,"permanent":true}`, `c:action.effect`, `side:transform.echo`},
		"hook->a", "a->b", "b->c", "hook->side"))
	rec := &memRecorder{}
	first, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"x":1}`), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != engine.ExecutionFailed || first.FailedNodeID != "b" {
		t.Fatalf("first: %s at %q", first.Status, first.FailedNodeID)
	}
	all := stored(rec.runs, first.NodeRuns)
	keep := plan.RetryRuns(all)
	var kept []string
	for _, r := range keep {
		kept = append(kept, r.NodeID)
	}
	slices.Sort(kept)
	if !slices.Equal(kept, []string{"a", "hook", "side"}) {
		t.Fatalf("kept %v", kept)
	}
	second, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{"x":1}`), Recorder: rec, Recorded: keep})
	if err != nil || second.Status != engine.ExecutionSucceeded {
		t.Fatalf("retry: %v %s %s", err, second.Status, second.Error)
	}
	if w.count("a") != 1 || w.count("b") != 2 || w.count("c") != 1 {
		t.Errorf("calls a=%d b=%d c=%d", w.count("a"), w.count("b"), w.count("c"))
	}
	// b got the input it had the first time.
	firstB := byNode(rec.runs[:2])["b"]
	var secondB engine.NodeRun
	for _, r := range rec.runs {
		if r.NodeID == "b" && r.Status == engine.NodeSucceeded {
			secondB = r
		}
	}
	jsonEqual(t, secondB.Input, string(firstB.Input))
}

func TestRunExpressionsSeeTheExecution(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, def(t, []string{
		`hook:trigger.webhook`,
		`a:transform.data:{"mapping":{"v":"{{ trigger.body.v + 1 }}"}}`,
		`b:transform.data:{"mapping":{"from_a":"{{ nodes.a.output.v }}","exec":"{{ execution.id }}/{{ execution.workflow_id }}/v{{ execution.version }}","input":"{{ input.v }}"}}`,
		`c:transform.data:{"jq":"{a: $nodes.a.output.v, exec: $execution.id, trig: $trigger.body.v, in: .}"}`,
	}, "hook->a", "a->b", "b->c"))
	res, err := runPlan(t, context.Background(), plan, engine.RunInput{
		Execution: engine.ExecutionInfo{ID: "e-1", WorkflowID: "w-9", Version: 4},
		Trigger:   trigger(`{"v":41}`),
	})
	if err != nil || res.Status != engine.ExecutionSucceeded {
		t.Fatalf("%v %s %s", err, res.Status, res.Error)
	}
	runs := byNode(res.NodeRuns)
	jsonEqual(t, runs["b"].Output, `{"from_a":42,"exec":"e-1/w-9/v4","input":42}`)
	jsonEqual(t, runs["c"].Output, `{"a":42,"exec":"e-1","trig":41,"in":{"from_a":42,"exec":"e-1/w-9/v4","input":42}}`)
}

func TestRunNodeMisbehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    string
		wantErr string
	}{
		{"a panic fails the node, not the worker", `x:transform.panic`, "node panicked: boom"},
		{"an undeclared port fails the node", `x:condition.port`, `chose port "", which node "x" does not have`},
		{"a runtime expression error fails the node", `x:condition.if:{"condition":"input.body.s > 1"}`, "invalid operation"},
		{"a non-boolean condition fails the node", `x:condition.if:{"condition":"input.body.s"}`, `gave the string "text", not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			d := def(t, []string{`hook:trigger.webhook`, tt.spec}, "hook->x")
			node(t, d, "x").Retry = &engine.RetryPolicy{MaxAttempts: 3}
			ex, _, _ := testExecutor(engine.ExecutorOptions{})
			res, err := ex.Run(context.Background(), compile(t, reg, d), engine.RunInput{Trigger: trigger(`{"s":"text"}`)})
			if err != nil {
				t.Fatal(err)
			}
			x := byNode(res.NodeRuns)["x"]
			if res.Status != engine.ExecutionFailed || !strings.Contains(x.Error, tt.wantErr) {
				t.Fatalf("status %s, x %+v", res.Status, x)
			}
			if x.Attempt != 1 {
				t.Errorf("permanent failures are not retried: %d attempts", x.Attempt)
			}
		})
	}
}

// TestRunJQResultLimit: a jq result past EVAL_MAX_OUTPUT_BYTES fails its node with one message naming the setting
// and its value, whether the program ran in a runner or in process (a plain reshape), and the execution's error
// names the node.
func TestRunJQResultLimit(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	pool := sandbox.NewPool(sandbox.Options{Limits: sandbox.Limits{MaxBytes: 1024}})
	t.Cleanup(func() { _ = pool.Close() })
	ex := engine.NewExecutor(engine.ExecutorOptions{Sandbox: pool, MaxOutputBytes: 1 << 20})
	for _, jq := range []string{`[range(1000)]`, `{copy: .}`} {
		plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `big:transform.data:{"jq":"` + jq + `"}`}, "hook->big"))
		res, err := ex.Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{"text":"` + strings.Repeat("x", 2000) + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		want := `node "big" failed: jq program's output is larger than EVAL_MAX_OUTPUT_BYTES (1024 bytes)`
		if res.Status != engine.ExecutionFailed || res.Error != want {
			t.Errorf("%s: status %s, error %q, want %q", jq, res.Status, res.Error, want)
		}
	}
}

func TestRunOutputLimit(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `big:transform.data:{"jq":"[range(1000)]"}`}, "hook->big"))
	ex := engine.NewExecutor(engine.ExecutorOptions{MaxOutputBytes: 100})
	res, err := ex.Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if big := byNode(res.NodeRuns)["big"]; res.Status != engine.ExecutionFailed || !strings.Contains(big.Error, "output is larger than NODE_OUTPUT_MAX (100 bytes)") ||
		!strings.Contains(big.Error, "NODE_OUTPUT_MAX") || !strings.Contains(res.Error, `node "big"`) {
		t.Fatalf("status %s, big %+v", res.Status, big)
	}
}

func TestRunRecorderFailure(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `a:action.effect`, `b:action.effect`}, "hook->a", "a->b"))
	_, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`), Recorder: &memRecorder{err: errors.New("db down")}})
	if err == nil || !strings.Contains(err.Error(), "db down") {
		t.Fatalf("err %v", err)
	}
	if w.count("b") != 0 {
		t.Errorf("the run went on after a side effect could not be recorded")
	}
}

func TestRunBadTrigger(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, orderFlow(t))
	res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: json.RawMessage(`{nope`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionFailed || !strings.Contains(res.Error, "trigger data") {
		t.Fatalf("status %s (%s)", res.Status, res.Error)
	}
}

func TestRunServicesAndEnvReachNodes(t *testing.T) {
	t.Parallel()
	reg := engine.NewRegistry()
	if err := reg.Register(engine.NodeType{Name: "trigger.manual", Category: engine.CategoryTrigger, Title: "Manual", Description: "Test.",
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
				return engine.Output{Data: in.Env.Trigger, JSON: in.Env.TriggerJSON}, nil
			}), nil
		}}); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		services *engine.Services
		output   any
		ok       bool
		exec     engine.ExecutionInfo
	}
	got := make(chan seen, 1)
	if err := reg.Register(engine.NodeType{Name: "action.probe", Category: engine.CategoryAction, Title: "Probe", Description: "Test.", SideEffects: true,
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
				out, ok := in.Env.Output("start")
				got <- seen{in.Services, out, ok, in.Env.Execution}
				return engine.Output{}, nil
			}), nil
		}}); err != nil {
		t.Fatal(err)
	}
	plan := compile(t, reg, def(t, []string{`start:trigger.manual`, `probe:action.probe`}, "start->probe"))
	services := &engine.Services{}
	res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: json.RawMessage(`{"k":"v"}`), Services: services, Execution: engine.ExecutionInfo{ID: "x"}})
	if err != nil || res.Status != engine.ExecutionSucceeded {
		t.Fatal(err, res)
	}
	s := <-got
	if s.services != services || !s.ok || s.exec.ID != "x" {
		t.Errorf("node saw %+v", s)
	}
	if m, _ := s.output.(map[string]any); m["k"] != "v" {
		t.Errorf("Env.Output(start) = %v", s.output)
	}
}

func TestRetryRunsInsideLoops(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `pre:transform.echo`, `wait:condition.delay:{"duration":"1h"}`, `loop:condition.loop:{"items":"[1,2,3]"}`,
			`a:transform.echo`, `b:transform.echo`, `after:transform.echo`, `x:action.effect`},
		"hook->pre", "pre->loop", "hook->wait", "loop.body->a", "a->b", "loop.done->after", "hook->x"))
	item := func(i int) *int { return &i }
	runs := []engine.NodeRun{
		{NodeID: "hook", Status: engine.NodeSucceeded},
		{NodeID: "pre", Status: engine.NodeSucceeded},
		{NodeID: "wait", Status: engine.NodeRunning, Output: json.RawMessage(`{"resume_at":"2030-01-01T00:00:00Z"}`)},
		{NodeID: "a", ItemIndex: item(0), Status: engine.NodeSucceeded},
		{NodeID: "b", ItemIndex: item(0), Status: engine.NodeSucceeded},
		{NodeID: "a", ItemIndex: item(1), Status: engine.NodeFailed},
		{NodeID: "a", ItemIndex: item(2), Status: engine.NodeSucceeded},
		{NodeID: "b", ItemIndex: item(2), Status: engine.NodeSucceeded},
		{NodeID: "loop", Status: engine.NodeFailed},
		{NodeID: "x", Status: engine.NodeRunning}, // a crashed worker's leftover
		{NodeID: "gone", Status: engine.NodeSucceeded},
	}
	var kept []string
	for _, r := range plan.RetryRuns(runs) {
		id := r.NodeID
		if r.ItemIndex != nil {
			id += fmt.Sprint("#", *r.ItemIndex)
		}
		kept = append(kept, id)
	}
	want := []string{"hook", "pre", "wait", "a#0", "b#0", "a#2", "b#2"}
	if !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}

	// A failure before the loop changes every item: nothing of the loop is kept.
	runs[1].Status = engine.NodeFailed
	kept = kept[:0]
	for _, r := range plan.RetryRuns(runs) {
		kept = append(kept, r.NodeID)
	}
	if !slices.Equal(kept, []string{"hook", "wait"}) {
		t.Errorf("kept %v", kept)
	}
}

func TestRunObserverSeesSkipsAndFinishes(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, orderFlow(t))
	var mu sync.Mutex
	seen := map[string][]engine.NodeEventKind{}
	_, err := runPlan(t, context.Background(), plan, engine.RunInput{
		Trigger: trigger(`{"id":"A","lines":[{"price":1,"qty":1}]}`),
		Observer: engine.ObserverFunc(func(_ context.Context, ev engine.NodeEvent) {
			mu.Lock()
			seen[ev.Run.NodeID] = append(seen[ev.Run.NodeID], ev.Kind)
			mu.Unlock()
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := seen["shape"]; !slices.Equal(got, []engine.NodeEventKind{engine.NodeEventStarted, engine.NodeEventFinished}) {
		t.Errorf("shape events %v", got)
	}
	if got := seen["vip"]; !slices.Equal(got, []engine.NodeEventKind{engine.NodeEventFinished}) {
		t.Errorf("skipped vip events %v", got)
	}
}

func TestRunRefusesUndeclaredParkingAndLooping(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	reg.MustRegister(engine.NodeType{Name: "transform.sneaky", Category: engine.CategoryTransform, Title: "S", Description: "S",
		Compile: func(cfg json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
			loop := strings.Contains(string(cfg), "loop")
			return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
				if loop {
					return engine.Output{Loop: &engine.Loop{Items: []any{1}}}, nil
				}
				return engine.Output{ParkUntil: in.Env.Now().Add(time.Hour)}, nil
			}), nil
		}})
	for cfg, want := range map[string]string{`{}`: "is not a waiting type", `{"loop":1}`: "is not a looping type"} {
		plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `x:transform.sneaky:` + cfg}, "hook->x"))
		res, err := runPlan(t, context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
		if err != nil || res.Status != engine.ExecutionFailed || !strings.Contains(res.Error, want) {
			t.Errorf("%s: %v %s %q", cfg, err, res.Status, res.Error)
		}
	}
}

func TestRunLoopSharesTheConcurrencyBound(t *testing.T) {
	t.Parallel()
	reg, w := setup(t)
	plan := compile(t, reg, def(t,
		[]string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"[1,2,3,4,5,6,7,8]","concurrency":8}`, `b:transform.wait`},
		"hook->loop", "loop.body->b"))
	res, err := engine.NewExecutor(engine.ExecutorOptions{MaxConcurrency: 3}).Run(context.Background(), plan, engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil || res.Status != engine.ExecutionSucceeded {
		t.Fatal(err, res.Error)
	}
	if w.maxInflight > 3 {
		t.Errorf("%d body nodes ran at once, want at most 3", w.maxInflight)
	}
	jsonEqual(t, byNode(res.NodeRuns)["loop"].Output, `["b","b","b","b","b","b","b","b"]`)
}

// TestRunResumedMarksTheFrontier resumes plans from a part of a finished run's records: exactly the nodes that were
// ready when the resumed pass began, and ran in it, carry its reason; nodes that became ready only through a run of
// this pass, skipped and reused nodes, and loop bodies do not.
func TestRunResumedMarksTheFrontier(t *testing.T) {
	t.Parallel()
	const reason = "its worker process stopped"
	branches := []string{`hook:trigger.webhook`, `prep:transform.data:{"jq":".body"}`, `a:action.effect`, `a2:action.effect`,
		`b:action.effect`, `c:transform.echo`, `pick:condition.if:{"condition":"true"}`, `yes:action.effect`, `no:action.effect`}
	branchEdges := []string{"hook->prep", "prep->a", "a->a2", "prep->b", "b->c", "prep->pick", "pick.true->yes", "pick.false->no"}
	tests := []struct {
		name     string
		nodes    []string
		edges    []string
		resumed  string
		recorded []string // the nodes whose runs the stopped pass recorded
		// wantMarked are the nodes whose runs in the resumed pass carry the reason; wantRan the others that ran.
		wantMarked, wantRan []string
	}{
		{name: "stopped after the first side effect", nodes: branches, edges: branchEdges, resumed: reason,
			recorded: []string{"hook", "prep", "a", "pick", "no"}, wantMarked: []string{"a2", "b", "yes"}, wantRan: []string{"c"}},
		{name: "stopped before any side effect", nodes: branches, edges: branchEdges, resumed: reason,
			recorded: []string{"hook", "prep"}, wantMarked: []string{"a", "b", "pick"}, wantRan: []string{"a2", "c", "yes"}},
		{name: "a skip decided by records is not marked, its siblings are", nodes: branches, edges: branchEdges, resumed: reason,
			recorded: []string{"hook", "prep", "a", "a2", "b", "pick"}, wantMarked: []string{"c", "yes"}},
		{name: "not a resumption", nodes: branches, edges: branchEdges,
			recorded: []string{"hook", "prep"}, wantRan: []string{"a", "a2", "b", "c", "pick", "yes"}},
		{name: "a loop carries the mark for its body",
			nodes: []string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"input.body.list"}`, `send:action.effect`, `after:action.effect`},
			edges: []string{"hook->loop", "loop.body->send", "loop.done->after"}, resumed: reason,
			recorded: []string{"hook"}, wantMarked: []string{"loop"}, wantRan: []string{"send", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			plan := compile(t, reg, def(t, tt.nodes, tt.edges...))
			in := engine.RunInput{Trigger: trigger(`{"list":[1,2]}`)}
			full, err := runPlan(t, context.Background(), plan, in)
			if err != nil || full.Status != engine.ExecutionSucceeded {
				t.Fatalf("full run: %v %s %s", err, full.Status, full.Error)
			}
			for _, r := range full.NodeRuns {
				if slices.Contains(tt.recorded, r.NodeID) {
					in.Recorded = append(in.Recorded, r)
				}
			}
			rec := &memRecorder{}
			in.Recorder, in.Resumed = rec, tt.resumed
			res, err := runPlan(t, context.Background(), plan, in)
			if err != nil || res.Status != engine.ExecutionSucceeded {
				t.Fatalf("resumed run: %v %s %s", err, res.Status, res.Error)
			}
			var marked, ran []string
			for _, r := range stored(rec.runs, res.NodeRuns) {
				switch {
				case r.Status == engine.NodeSkipped && r.RanAgain != "":
					t.Errorf("skipped node %s marked %q", r.NodeID, r.RanAgain)
				case r.Status == engine.NodeSkipped:
				case r.RanAgain == reason && r.ItemIndex == nil:
					marked = append(marked, r.NodeID)
				case r.RanAgain != "":
					t.Errorf("node %s (in a loop: %t) marked %q", r.NodeID, r.ItemIndex != nil, r.RanAgain)
				case !slices.Contains(ran, r.NodeID):
					ran = append(ran, r.NodeID)
				}
			}
			slices.Sort(marked)
			slices.Sort(ran)
			if !slices.Equal(marked, sorted(tt.wantMarked)) || !slices.Equal(ran, sorted(tt.wantRan)) {
				t.Errorf("marked %v and ran %v unmarked, want %v and %v", marked, ran, sorted(tt.wantMarked), sorted(tt.wantRan))
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
