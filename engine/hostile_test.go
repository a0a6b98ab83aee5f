package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/sandbox"
)

// Findings 1–3 of the isolation issue, as whole executions: each hostile node fails with a message naming its
// limit, and the process (this test binary) lives on. Before the sandbox, the first case ended the process with
// "fatal error: stack overflow" while encoding the node's output.
func TestHostileNodesFailTheirExecutionNotTheProcess(t *testing.T) {
	t.Parallel()
	if raceDetector {
		t.Skip("hostile programs run in the pass without the race detector (see sandbox.skipUnderRace)")
	}
	// A minute for each evaluation, so that on a busy machine each meets the limit it is about, not the clock; a
	// second where the clock is the limit.
	slow := sandbox.NewPool(sandbox.Options{Limits: sandbox.Limits{Timeout: time.Minute}})
	quick := sandbox.NewPool(sandbox.Options{Limits: sandbox.Limits{Timeout: time.Second}})
	t.Cleanup(func() { slow.Close(); quick.Close() })
	tests := []struct {
		name, node, want string
	}{
		{"deep value built by jq", `x:transform.data:{"jq":"reduce range(1000000) as $i (null; [.])"}`, "nested deeper than"},
		{"string repeated by jq", `x:transform.data:{"jq":"(\"x\" * 1000000000) | length"}`, "memory"},
		{"runaway recursion in jq", `x:transform.data:{"jq":"def f: [f]; f"}`, "memory"},
		{"nested reduce in a condition", `x:condition.if:{"condition":"let r = 1..2000; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1,0),0),0) > 0"}`, "ran longer than 1s"},
		{"deep value built by a mapping", `x:transform.data:{"mapping":{"v":"{{ toJSON(map(1..300000, trigger.body.s)) }}"}}`, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, _ := setup(t)
			plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, tt.node}, "hook->x"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			pool := slow
			if strings.Contains(tt.want, "longer") {
				pool = quick
			}
			res, err := engine.NewExecutor(engine.ExecutorOptions{Sandbox: pool}).Run(ctx, plan, engine.RunInput{Trigger: trigger(`{"s":"` + strings.Repeat("y", 1000) + `"}`)})
			if err != nil {
				t.Fatal(err)
			}
			x := byNode(res.NodeRuns)["x"]
			if res.Status != engine.ExecutionFailed || x.Status != engine.NodeFailed || !strings.Contains(x.Error, tt.want) {
				t.Fatalf("status %s, node %s: %q; want failed with %q", res.Status, x.Status, x.Error, tt.want)
			}
		})
	}
}

// A trigger nested deeper than the limit fails its execution with a message, and never reaches a node.
func TestDeepTriggerDataFailsTheExecution(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, `x:transform.data:{"jq":"."}`}, "hook->x"))
	deep := strings.Repeat(`{"a":`, 9999) + `1` + strings.Repeat(`}`, 9999)
	res, err := engine.NewExecutor(engine.ExecutorOptions{}).Run(context.Background(), plan, engine.RunInput{Trigger: []byte(deep)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionFailed || !strings.Contains(res.Error, "nested deeper than 128 levels") {
		t.Fatalf("status %s, error %q", res.Status, res.Error)
	}
}

// Cancel stops a runaway evaluation in a running execution, expression or jq program, although its own time
// limit is an hour away: Run returns canceled, so the evaluation's goroutine has returned (an expression's CPU is
// its goroutine's) and the jq runner was killed (the pool holds no busy runner).
func TestCancelStopsARunawayEvaluation(t *testing.T) {
	t.Parallel()
	for name, node := range map[string]string{
		"expression": `x:condition.if:{"condition":"let r = 1..5000; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1,0),0),0) > 0"}`,
		"jq":         `x:transform.data:{"jq":"def f: f; f"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := sandbox.NewPool(sandbox.Options{Runners: 1, Limits: sandbox.Limits{Timeout: time.Hour}})
			t.Cleanup(func() { pool.Close() })
			reg, _ := setup(t)
			plan := compile(t, reg, def(t, []string{`hook:trigger.webhook`, node}, "hook->x"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			canceledAt := make(chan time.Time, 1)
			observer := engine.ObserverFunc(func(_ context.Context, ev engine.NodeEvent) {
				if ev.Run.NodeID == "x" && ev.Kind == engine.NodeEventStarted {
					// Well into the evaluation, most likely; were it not started yet, it would end at once.
					time.AfterFunc(300*time.Millisecond, func() { canceledAt <- time.Now(); cancel() })
				}
			})
			done := make(chan engine.RunResult, 1)
			go func() {
				res, _ := engine.NewExecutor(engine.ExecutorOptions{Sandbox: pool}).Run(ctx, plan,
					engine.RunInput{Trigger: trigger(`{}`), Observer: observer})
				done <- res
			}()
			select {
			case res := <-done:
				if res.Status != engine.ExecutionCanceled {
					t.Fatalf("status %s (%s), want canceled", res.Status, res.Error)
				}
				// The bound, generous for a machine this busy: the guard checks every 256 steps, and
				// the runner is killed at once.
				if took := time.Since(<-canceledAt); took > 2*time.Second {
					t.Errorf("the evaluation stopped %s after cancel", took)
				} else {
					t.Logf("the evaluation stopped %s after cancel", took)
				}
			case <-time.After(2 * time.Minute): // alone, the evaluation would run for an hour
				t.Fatal("cancel did not stop the evaluation")
			}
			// The runner is gone, not back in the pool: nothing of the program is left running.
			out, err := pool.RunJQ(context.Background(), sandbox.JQ{Program: `1`, Input: []byte(`null`)})
			if err != nil || string(out) != `[1]` {
				t.Fatalf("the pool after cancel: %s %v", out, err)
			}
		})
	}
}

// 999 parallel branches (the most a workflow holds), each stuck in a two-second program ran one after another for minutes, since every
// branch was already waiting for a place when the first failed. Now a failure halts the branches still waiting:
// only those holding a place (MaxConcurrency) run.
func TestAFailureStopsTheBranchesStillWaiting(t *testing.T) {
	t.Parallel()
	reg, _ := setup(t)
	nodes := []string{`hook:trigger.webhook`}
	var edges []string
	for i := range 999 {
		nodes = append(nodes, fmt.Sprintf(`x%d:transform.data:{"jq":"error(\"branch %d failed\")"}`, i, i))
		edges = append(edges, fmt.Sprintf("hook->x%d", i))
	}
	plan := compile(t, reg, def(t, nodes, edges...))
	const places = 4
	res, err := engine.NewExecutor(engine.ExecutorOptions{MaxConcurrency: places}).Run(context.Background(), plan,
		engine.RunInput{Trigger: trigger(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.ExecutionFailed || !strings.Contains(res.Error, "failed") {
		t.Fatalf("status %s: %q", res.Status, res.Error)
	}
	// The trigger, and each branch that held a place when the first failure halted the execution.
	if ran := len(res.NodeRuns) - 1; ran > places {
		t.Fatalf("%d branches ran after the first failure; want at most the %d holding a place", ran, places)
	}
}
