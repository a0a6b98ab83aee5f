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

// benchTrigger is a webhook delivery of typical size.
var benchTrigger = json.RawMessage(`{"body":{"order_id":"A-1001","email":"buyer@example.com","currency":"EUR",
"lines":[{"sku":"X-1","price":12.5,"qty":2},{"sku":"Y-2","price":80,"qty":1},{"sku":"Z-3","price":4.25,"qty":4}]},
"headers":{"content-type":"application/json","user-agent":"shop/1.0","x-request-id":"8a4f","accept":"*/*"},
"query":{},"method":"POST"}`)

func benchPlan(b *testing.B, transform string) *engine.Plan {
	b.Helper()
	d := &engine.Definition{
		Nodes: []engine.Node{
			{ID: "hook", Type: "trigger.webhook"},
			{ID: "shape", Type: "transform.data", Config: json.RawMessage(transform)},
			{ID: "big", Type: "condition.if", Config: json.RawMessage(`{"condition":"input.total > 100"}`)},
		},
		Edges: []engine.Edge{{From: "hook", To: "shape"}, {From: "shape", To: "big"}},
	}
	plan, err := engine.Compile(d, nodes.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

func runBench(b *testing.B, plan *engine.Plan, nodeCount int) {
	b.Helper()
	ex := engine.NewExecutor(engine.ExecutorOptions{})
	in := engine.RunInput{Execution: engine.ExecutionInfo{ID: "e", WorkflowID: "w", Version: 1}, Trigger: benchTrigger}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := ex.Run(ctx, plan, in)
		if err != nil || res.Status != engine.ExecutionSucceeded {
			b.Fatal(err, res.Error)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodeCount), "ns/node")
}

// BenchmarkRun3Nodes is DESIGN.md's performance workflow, webhook → transform → if, as the engine sees it: trigger
// decoding, three node runs, their records encoded for storage. The database is not part of it.
func BenchmarkRun3Nodes(b *testing.B) {
	b.Run("jq", func(b *testing.B) {
		runBench(b, benchPlan(b, `{"jq":"{id: .body.order_id, email: .body.email, total: (.body.lines | map(.price * .qty) | add)}"}`), 3)
	})
	b.Run("mapping", func(b *testing.B) {
		runBench(b, benchPlan(b, `{"mapping":{"id":"{{ input.body.order_id }}","email":"{{ input.body.email }}","total":"{{ sum(input.body.lines, #.price * #.qty) }}"}}`), 3)
	})
}

// BenchmarkRun3NodesParallel runs the same workflow from every core at once, as a worker pool would.
func BenchmarkRun3NodesParallel(b *testing.B) {
	plan := benchPlan(b, `{"jq":"{id: .body.order_id, email: .body.email, total: (.body.lines | map(.price * .qty) | add)}"}`)
	ex := engine.NewExecutor(engine.ExecutorOptions{})
	in := engine.RunInput{Execution: engine.ExecutionInfo{ID: "e", WorkflowID: "w", Version: 1}, Trigger: benchTrigger}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := ex.Run(context.Background(), plan, in); err != nil || res.Status != engine.ExecutionSucceeded {
				b.Error(err, res.Error)
				return
			}
		}
	})
}

// BenchmarkRunChain measures the run loop's own cost per node: a chain of pass-through nodes does no work of its
// own, so the difference between chain lengths is scheduling, recording and input building.
func BenchmarkRunChain(b *testing.B) {
	reg, _ := setup(b)
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n+1), func(b *testing.B) {
			specs := []string{"hook:trigger.webhook"}
			var edges []string
			prev := "hook"
			for i := range n {
				id := fmt.Sprintf("n%d", i)
				specs = append(specs, id+":transform.echo")
				edges = append(edges, prev+"->"+id)
				prev = id
			}
			runBench(b, compile(b, reg, def(b, specs, edges...)), n+1)
		})
	}
}

// BenchmarkRunFanOut measures concurrent branches: one trigger feeding n pass-through nodes.
func BenchmarkRunFanOut(b *testing.B) {
	reg, _ := setup(b)
	const n = 8
	specs := []string{"hook:trigger.webhook"}
	var edges []string
	for i := range n {
		id := fmt.Sprintf("n%d", i)
		specs = append(specs, id+":transform.echo")
		edges = append(edges, "hook->"+id)
	}
	runBench(b, compile(b, reg, def(b, specs, edges...)), n+1)
}

// BenchmarkRunLoop measures a loop of 100 items through a one-node body.
func BenchmarkRunLoop(b *testing.B) {
	reg, _ := setup(b)
	items := "[" + strings.TrimSuffix(strings.Repeat(`{"n":1},`, 100), ",") + "]"
	plan := compile(b, reg, def(b, []string{`hook:trigger.webhook`, `loop:condition.loop:{"items":"` + strings.ReplaceAll(items, `"`, `\"`) + `"}`,
		`body:transform.data:{"jq":".n + 1"}`}, "hook->loop", "loop.body->body"))
	runBench(b, plan, 102)
}

// BenchmarkCompile is what PlanCache saves per execution.
func BenchmarkCompile(b *testing.B) {
	reg := nodes.NewRegistry()
	raw, _ := json.Marshal(orderFlow(b))
	b.ReportAllocs()
	for b.Loop() {
		d, err := engine.ParseDefinition(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := engine.Compile(d, reg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlanCacheHit(b *testing.B) {
	c := engine.NewPlanCache(1000)
	plan := benchPlan(b, `{"jq":"."}`)
	c.Add("v1", plan)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetOrCompile("v1", func() (*engine.Plan, error) { return nil, nil }); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkPlanCacheChurn asks for twice as many versions as the cache holds, so most calls miss, compile (here a
// function returning a ready plan) and evict.
func BenchmarkPlanCacheChurn(b *testing.B) {
	c := engine.NewPlanCache(64)
	plan := benchPlan(b, `{"jq":"."}`)
	keys := make([]string, 128)
	for i := range keys {
		keys[i] = fmt.Sprint("v", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i + 7) % len(keys)
			if _, err := c.GetOrCompile(keys[i], func() (*engine.Plan, error) { return plan, nil }); err != nil {
				b.Error(err)
			}
		}
	})
}
