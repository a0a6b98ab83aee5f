package actions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
)

// batchCSV generates orders whose notes hold quoted line breaks and commas, so batch boundaries fall right after
// multi-line records; amounts are integers, so sums are exact whichever order they are added in.
func batchCSV(rows int) string {
	var b strings.Builder
	b.WriteString("\uFEFFid,region,note,amount\n")
	for i := 1; i <= rows; i++ {
		note := "plain"
		if i%3 == 0 {
			note = fmt.Sprintf("\"line one\nline two, \"\"%d\"\"\"", i)
		}
		fmt.Fprintf(&b, "%d,%s,%s,%d\n", i, []string{"north", "south", "east"}[i%3], note, i%17)
	}
	return b.String()
}

// runDefinition compiles def and runs it once with in's recorder fields.
func runDefinition(t *testing.T, ctx context.Context, def *engine.Definition, svc *engine.Services, trigger string, in engine.RunInput) engine.RunResult {
	t.Helper()
	plan, err := engine.Compile(def, registry)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	executor := engine.NewExecutor(engine.ExecutorOptions{})
	t.Cleanup(func() { executor.Close() })
	in.Trigger, in.Services = json.RawMessage(trigger), svc
	in.Execution = engine.ExecutionInfo{ID: "exec-1", WorkflowID: uuid.NewString(), Version: 1}
	res, err := executor.Run(ctx, plan, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// batchedDefinition: parse in batches → loop (body: aggregate the batch per region [→ side effect]) → flatten the
// batches' groups → aggregate them again.
func batchedDefinition(batchSize int, sideEffectURL string) *engine.Definition {
	def := &engine.Definition{Nodes: []engine.Node{
		{ID: "in", Type: "trigger.webhook", Config: json.RawMessage(`{"auth":"none"}`)},
		{ID: "parse", Type: "transform.parse", Config: json.RawMessage(fmt.Sprintf(
			`{"file": "trigger.body.upload", "types": {"amount": "integer"}, "batch_size": %d}`, batchSize))},
		{ID: "loop", Type: "condition.loop", Config: json.RawMessage(`{"items": "input", "max_iterations": 100000}`)},
		{ID: "part", Type: "transform.aggregate", Config: json.RawMessage(`{"items": "input.items", "group_by": ["region"],
			"aggregations": [{"op": "count", "as": "rows"}, {"op": "sum", "field": "amount", "as": "amount"}]}`)},
		{ID: "flat", Type: "transform.data", Config: json.RawMessage(`{"jq": "[.[][]]"}`)},
		{ID: "total", Type: "transform.aggregate", Config: json.RawMessage(`{"group_by": ["region"],
			"aggregations": [{"op": "sum", "field": "rows", "as": "rows"}, {"op": "sum", "field": "amount", "as": "amount"}]}`)},
	}, Edges: []engine.Edge{{From: "in", To: "parse"}, {From: "parse", To: "loop"}, {From: "loop", Port: "body", To: "part"},
		{From: "loop", Port: "done", To: "flat"}, {From: "flat", To: "total"}}}
	if sideEffectURL != "" {
		// The body ends in the side effect, which passes the batch's groups on.
		def.Nodes = append(def.Nodes, engine.Node{ID: "post", Type: "action.http", Config: json.RawMessage(fmt.Sprintf(
			`{"method": "POST", "url": %q, "body": {"batch": "{{ item.batch }}", "rows": "{{ item.rows }}"}}`, sideEffectURL))},
			engine.Node{ID: "keep", Type: "transform.data", Config: json.RawMessage(`{"jq": "$nodes.part.output"}`)})
		def.Edges = append(def.Edges, engine.Edge{From: "part", To: "post"}, engine.Edge{From: "post", To: "keep"})
	}
	return def
}

// TestBatchedParseLoopAggregatesAsUnbatched runs a generated CSV through parse → aggregate whole, and through
// parse in batches → loop → aggregate per batch → aggregate of the batches, for several batch sizes (some cutting
// right after a multi-line record): the totals agree, and the batches were checkpointed one by one.
func TestBatchedParseLoopAggregatesAsUnbatched(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	svc := env.services(env.factory(t, nil))
	file, err := svc.Storage.Put(ctx, engine.NewFile{Name: "orders.csv", ContentType: "text/csv"}, strings.NewReader(batchCSV(1000)))
	if err != nil {
		t.Fatal(err)
	}
	trigger := fmt.Sprintf(`{"body": {"upload": {"ref": %q}}}`, file.Ref)

	_, runs, _ := runChain(t, svc, trigger,
		node{id: "parse", typ: "transform.parse", cfg: `{"file": "trigger.body.upload", "types": {"amount": "integer"}}`},
		node{id: "total", typ: "transform.aggregate", cfg: `{"items": "input.items", "group_by": ["region"],
			"aggregations": [{"op": "count", "as": "rows"}, {"op": "sum", "field": "amount", "as": "amount"}]}`})
	want := runs["total"].Output
	if runs["total"].Status != engine.NodeSucceeded || !strings.Contains(string(want), `"rows":334`) {
		t.Fatalf("unbatched: %s %s %s", runs["total"].Status, want, runs["total"].Error)
	}

	for _, size := range []int{1000, 333, 64, 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var mu sync.Mutex
			var checkpoints []engine.NodeRun
			res := runDefinition(t, ctx, batchedDefinition(size, ""), svc, trigger, engine.RunInput{
				Batches: engine.BatchRecorderFunc(func(_ context.Context, runs []engine.NodeRun) error {
					mu.Lock()
					defer mu.Unlock()
					checkpoints = append(checkpoints, runs[len(runs)-1])
					return nil
				})})
			if res.Status != engine.ExecutionSucceeded {
				t.Fatalf("%s: %s", res.Status, res.Error)
			}
			got := map[string]engine.NodeRun{}
			for _, r := range res.NodeRuns {
				if r.ItemIndex == nil {
					got[r.NodeID] = r
				}
			}
			if string(got["total"].Output) != string(want) {
				t.Errorf("batched total %s, want %s", got["total"].Output, want)
			}
			batches := (1000 + size - 1) / size
			p := engine.ProgressOf(checkpoints)
			if len(checkpoints) != batches || p == nil || p.Done != 1000 || p.Total != 1000 || p.BatchesDone != batches ||
				p.Unit != "rows" {
				t.Errorf("%d checkpoints, progress %+v, want %d batches of 1000 rows", len(checkpoints), p, batches)
			}
		})
	}
}

// TestBatchedLoopResumesAfterItsLastCheckpoint stops an execution after its third batch's checkpoint (as a worker
// dies), then resumes it from what was recorded: the batches checkpointed before are not loaded or run again, the
// side effect sees every batch exactly once, and the result is the uninterrupted one.
func TestBatchedLoopResumesAfterItsLastCheckpoint(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	svc := env.services(env.factory(t, nil))
	file, err := svc.Storage.Put(ctx, engine.NewFile{Name: "orders.csv", ContentType: "text/csv"}, strings.NewReader(batchCSV(500)))
	if err != nil {
		t.Fatal(err)
	}
	trigger := fmt.Sprintf(`{"body": {"upload": {"ref": %q}}}`, file.Ref)
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Batch any }
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		mu.Lock()
		seen[fmt.Sprint(body.Batch)]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	def := batchedDefinition(50, srv.URL+"/batches")

	// The store: side effects recorded as they finish, batches with their runs.
	var recorded []engine.NodeRun
	record := func(runs ...engine.NodeRun) {
		mu.Lock()
		defer mu.Unlock()
		recorded = append(recorded, runs...)
	}
	runCtx, stop := context.WithCancel(ctx)
	checkpoints := 0
	res := runDefinition(t, runCtx, def, svc, trigger, engine.RunInput{
		Recorder: engine.RecorderFunc(func(_ context.Context, run engine.NodeRun) error { record(run); return nil }),
		Batches: engine.BatchRecorderFunc(func(_ context.Context, runs []engine.NodeRun) error {
			record(runs...)
			if checkpoints++; checkpoints == 3 {
				stop() // the worker dies here: nothing more is recorded
			}
			return nil
		})})
	if res.Status != engine.ExecutionCanceled {
		t.Fatalf("first pass %s: %s", res.Status, res.Error)
	}
	if p := engine.ProgressOf(recorded); p == nil || p.BatchesDone != 3 || p.Done != 150 || p.Total != 500 {
		t.Fatalf("progress after the stop: %+v", p)
	}

	res = runDefinition(t, ctx, def, svc, trigger, engine.RunInput{Recorded: recorded, Resumed: "test",
		Recorder: engine.RecorderFunc(func(_ context.Context, run engine.NodeRun) error { record(run); return nil }),
		Batches: engine.BatchRecorderFunc(func(_ context.Context, runs []engine.NodeRun) error {
			for _, r := range runs[:len(runs)-1] {
				if r.ItemIndex != nil && *r.ItemIndex < 3 {
					t.Errorf("batch %d ran again: %s", *r.ItemIndex, r.NodeID)
				}
			}
			record(runs...)
			return nil
		})})
	if res.Status != engine.ExecutionSucceeded {
		t.Fatalf("resumed pass %s: %s", res.Status, res.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range 10 {
		if n := seen[fmt.Sprint(k)]; n != 1 {
			t.Errorf("batch %d posted %d times", k, n)
		}
	}
	if len(seen) != 10 {
		t.Errorf("posted batches %v", seen)
	}
	var total json.RawMessage
	for _, r := range res.NodeRuns {
		if r.NodeID == "total" {
			total = r.Output
		}
	}
	if !strings.Contains(string(total), `"rows":167`) {
		t.Errorf("total after resume %s", total)
	}
	if p := engine.ProgressOf(recorded); p == nil || p.BatchesDone != 10 || p.Done != 500 {
		t.Errorf("final progress %+v", p)
	}
}
