package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
)

// world is the outside world of a test: it counts what test nodes did, so tests can assert that a side effect ran
// exactly once.
type world struct {
	mu    sync.Mutex
	calls map[string]int
	// firstCalls holds, per node, a channel closed on its first call.
	firstCalls map[string]chan struct{}
	started    chan string
	// inflight and maxInflight measure concurrency.
	inflight, maxInflight int
	// barrier, when set, makes test.wait nodes wait for each other.
	barrier *sync.WaitGroup
}

func (w *world) call(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[id]++
	if w.calls[id] == 1 {
		close(w.firstCallLocked(id))
	}
	return w.calls[id]
}

// called returns a channel closed once node id has been called.
func (w *world) called(id string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstCallLocked(id)
}

func (w *world) firstCallLocked(id string) chan struct{} {
	ch, ok := w.firstCalls[id]
	if !ok {
		ch = make(chan struct{})
		w.firstCalls[id] = ch
	}
	return ch
}

func (w *world) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[id]
}

// effectConfig drives the test node types.
type effectConfig struct {
	// Fail makes the first Fail calls fail.
	Fail      int             `json:"fail"`
	Permanent bool            `json:"permanent"`
	RetryHint engine.Duration `json:"retry_after"`
	Port      string          `json:"port"`
	// Sleep holds each call that long (or until ctx ends).
	Sleep engine.Duration `json:"sleep"`
	// After holds each call until the named node has been called, to order nodes on parallel branches.
	After string `json:"after"`
}

// setup returns a registry with the built-in types and the test types, and the world those test types act on:
//   - action.effect (side effects) and transform.flaky (pure) output {"id", "input", "call"} and fail their first
//     `fail` calls;
//   - transform.block waits for its context to end;
//   - transform.wait waits on the world's barrier, to prove nodes run at the same time;
//   - transform.panic panics; transform.echo passes its input on;
//   - condition.port returns the port its config names, to test port checks.
func setup(t testing.TB) (*engine.Registry, *world) {
	t.Helper()
	reg := nodes.NewRegistry()
	w := &world{calls: map[string]int{}, firstCalls: map[string]chan struct{}{}, started: make(chan string, 100)}
	effect := func(ctx context.Context, in engine.Input, cfg effectConfig) (engine.Output, error) {
		n := w.call(in.NodeID)
		if cfg.After != "" {
			select {
			case <-w.called(cfg.After):
			case <-ctx.Done():
				return engine.Output{}, ctx.Err()
			}
		}
		if cfg.Sleep > 0 {
			select {
			case <-time.After(cfg.Sleep.Std()):
			case <-ctx.Done():
				return engine.Output{}, ctx.Err()
			}
		}
		if n <= cfg.Fail {
			err := fmt.Errorf("%s failed (call %d)", in.NodeID, n)
			switch {
			case cfg.Permanent:
				err = engine.Permanent(err)
			case cfg.RetryHint > 0:
				err = engine.RetryAfter(err, cfg.RetryHint.Std())
			}
			return engine.Output{}, err
		}
		return engine.Output{Data: map[string]any{"id": in.NodeID, "input": in.Data, "call": n}}, nil
	}
	compileEffect := func(raw json.RawMessage, _ *engine.Compiler) (engine.Runnable, error) {
		var cfg effectConfig
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, err
		}
		return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
			return effect(ctx, in, cfg)
		}), nil
	}
	register := func(nt engine.NodeType) {
		t.Helper()
		if nt.Title == "" {
			nt.Title, nt.Description = nt.Name, "A node type for tests."
		}
		if err := reg.Register(nt); err != nil {
			t.Fatal(err)
		}
	}
	register(engine.NodeType{Name: "action.effect", Category: engine.CategoryAction, SideEffects: true, Compile: compileEffect})
	register(engine.NodeType{Name: "transform.flaky", Category: engine.CategoryTransform, Compile: compileEffect})
	register(engine.NodeType{Name: "transform.echo", Category: engine.CategoryTransform,
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(_ context.Context, in engine.Input) (engine.Output, error) {
				return engine.Output{Data: in.Data, JSON: in.JSON}, nil
			}), nil
		}})
	register(engine.NodeType{Name: "transform.block", Category: engine.CategoryTransform,
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				w.call(in.NodeID)
				w.started <- in.NodeID
				<-ctx.Done()
				return engine.Output{}, ctx.Err()
			}), nil
		}})
	register(engine.NodeType{Name: "transform.wait", Category: engine.CategoryTransform,
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				w.mu.Lock()
				w.inflight++
				w.maxInflight = max(w.maxInflight, w.inflight)
				barrier := w.barrier
				w.mu.Unlock()
				if barrier != nil {
					barrier.Done()
					done := make(chan struct{})
					go func() { barrier.Wait(); close(done) }()
					select {
					case <-done:
					case <-ctx.Done():
						return engine.Output{}, ctx.Err()
					}
				} else {
					time.Sleep(2 * time.Millisecond)
				}
				w.mu.Lock()
				w.inflight--
				w.mu.Unlock()
				return engine.Output{Data: in.NodeID}, nil
			}), nil
		}})
	register(engine.NodeType{Name: "transform.panic", Category: engine.CategoryTransform,
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(context.Context, engine.Input) (engine.Output, error) {
				panic("boom")
			}), nil
		}})
	register(engine.NodeType{Name: "condition.port", Category: engine.CategoryCondition, Ports: []string{"a", "b"}, Compile: compileEffect})
	return reg, w
}

// def builds a definition from a compact text form: nodes as "id:type" or "id:type:{config}" and edges as
// "from->to" or "from.port->to". Options such as retry are set on the returned definition by the caller.
func def(t testing.TB, nodeSpecs []string, edgeSpecs ...string) *engine.Definition {
	t.Helper()
	d := &engine.Definition{}
	for _, s := range nodeSpecs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) < 2 {
			t.Fatalf("bad node spec %q", s)
		}
		n := engine.Node{ID: parts[0], Type: parts[1]}
		if len(parts) == 3 {
			n.Config = json.RawMessage(parts[2])
		}
		d.Nodes = append(d.Nodes, n)
	}
	for _, s := range edgeSpecs {
		from, to, ok := strings.Cut(s, "->")
		if !ok {
			t.Fatalf("bad edge spec %q", s)
		}
		e := engine.Edge{To: to}
		e.From, e.Port, _ = strings.Cut(from, ".")
		d.Edges = append(d.Edges, e)
	}
	return d
}

// node returns a pointer to the node with the given id, to adjust retry, timeout or on_error.
func node(t testing.TB, d *engine.Definition, id string) *engine.Node {
	t.Helper()
	for i := range d.Nodes {
		if d.Nodes[i].ID == id {
			return &d.Nodes[i]
		}
	}
	t.Fatalf("no node %q", id)
	return nil
}

func compile(t testing.TB, reg *engine.Registry, d *engine.Definition) *engine.Plan {
	t.Helper()
	p, err := engine.Compile(d, reg)
	if err != nil {
		var de *engine.DefinitionError
		if errors.As(err, &de) {
			for _, pr := range de.Problems {
				t.Errorf("problem: %s", pr)
			}
		}
		t.Fatalf("compile: %v", err)
	}
	return p
}

// clock is a test clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sleeps records retry waits instead of waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testExecutor returns an executor with a test clock, instant retries and jitter that always picks the ceiling, so
// waits are predictable.
func testExecutor(opts engine.ExecutorOptions) (*engine.Executor, *clock, *sleeps) {
	c, s := newClock(), &sleeps{}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	opts.Sleep = s.Sleep
	opts.Jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	return engine.NewExecutor(opts), c, s
}

// runPlan runs plan with an Executor of default options, closed (with its sandbox pool) when the test ends.
func runPlan(t testing.TB, ctx context.Context, plan *engine.Plan, in engine.RunInput) (engine.RunResult, error) {
	t.Helper()
	ex := engine.NewExecutor(engine.ExecutorOptions{})
	t.Cleanup(func() { _ = ex.Close() })
	return ex.Run(ctx, plan, in)
}

// memRecorder is a Recorder keeping runs in memory, as the node_executions table would.
type memRecorder struct {
	mu   sync.Mutex
	runs []engine.NodeRun
	// after, if set, is called after each record (to simulate a crash right after a side effect was stored).
	after func(engine.NodeRun)
	err   error
}

func (r *memRecorder) RecordNode(_ context.Context, run engine.NodeRun) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	r.runs = append(r.runs, run)
	r.mu.Unlock()
	if r.after != nil {
		r.after(run)
	}
	return nil
}

// stored merges runs the way storage upserting on (node_id, item_index) would.
func stored(batches ...[]engine.NodeRun) []engine.NodeRun {
	type key struct {
		id   string
		item int
	}
	var out []engine.NodeRun
	at := map[key]int{}
	for _, b := range batches {
		for _, r := range b {
			k := key{r.NodeID, -1}
			if r.ItemIndex != nil {
				k.item = *r.ItemIndex
			}
			if i, ok := at[k]; ok {
				out[i] = r
				continue
			}
			at[k] = len(out)
			out = append(out, r)
		}
	}
	return out
}

// byNode indexes runs outside loops by node id.
func byNode(runs []engine.NodeRun) map[string]engine.NodeRun {
	m := map[string]engine.NodeRun{}
	for _, r := range runs {
		if r.ItemIndex == nil {
			m[r.NodeID] = r
		}
	}
	return m
}

// statuses summarises runs outside loops as id → status.
func statuses(runs []engine.NodeRun) map[string]engine.NodeStatus {
	m := map[string]engine.NodeStatus{}
	for _, r := range runs {
		if r.ItemIndex == nil {
			m[r.NodeID] = r.Status
		}
	}
	return m
}

func trigger(body string) json.RawMessage {
	return json.RawMessage(`{"body":` + body + `,"headers":{"content-type":"application/json"},"query":{},"method":"POST"}`)
}

func jsonEqual(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", gb, wb)
	}
}
