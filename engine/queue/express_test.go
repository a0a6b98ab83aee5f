package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// expressIngester is the harness's ingester with the express path, as `concertmaster serve` runs it.
func (h *harness) expressIngester(tweak func(*queue.ExpressOptions)) *store.ExecutionIngester {
	h.t.Helper()
	opts := queue.ExpressOptions{Plans: engine.NewPlanLoader(engine.NewPlanCache(64), h.registry, h.store),
		Executor: engine.NewExecutor(engine.ExecutorOptions{})}
	h.t.Cleanup(func() { _ = opts.Executor.Close() })
	if tweak != nil {
		tweak(&opts)
	}
	g := h.ingester()
	g.UseExpress(queue.NewExpress(opts))
	return g
}

func (h *harness) accept(g *store.ExecutionIngester, head store.WorkflowHead, trigger string) uuid.UUID {
	h.t.Helper()
	e, err := g.Enqueue(context.Background(), store.NewExecution{OrganizationID: head.OrganizationID, WorkflowID: head.WorkflowID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook", TriggerData: json.RawMessage(trigger)})
	if err != nil {
		h.t.Fatal(err)
	}
	return e.ID
}

// jobs counts the River jobs of an execution.
func (h *harness) jobs(id uuid.UUID) int {
	h.t.Helper()
	var n int
	if err := h.store.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = 'execute' AND args->>'execution_id' = $1`, id.String()).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestExpressPathWritesPureExecutionsFinished accepts executions of a pure workflow with no worker running: each is
// already succeeded, with every node run recorded, when Enqueue returns, has no job, was created (accepted) before
// it started, and its end was published.
func TestExpressPathWritesPureExecutionsFinished(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(benchFlow, nil)
	g := h.expressIngester(nil)
	ended, unsubscribe := h.events.Subscribe(func(e store.ExecutionEvent) bool { return e.Status == store.StatusSucceeded }, 16)
	defer unsubscribe()
	waitListening(t, h) // the end is published once; the relay must be listening before it

	id := h.accept(g, head, `{"body":{"total":250,"email":"a@example.com"}}`)
	e, err := h.store.ExecutionGet(context.Background(), h.org.ID, id)
	if err != nil || e.Status != store.StatusSucceeded || e.FinishedAt == nil || e.StartedAt == nil {
		t.Fatalf("execution right after acceptance: %+v (%v)", e, err)
	}
	want := map[string]string{"hook": "succeeded", "shape": "succeeded", "big": "succeeded"}
	if got := h.nodeStatuses(id); len(got) != 3 || got["shape"] != want["shape"] || got["big"] != want["big"] || got["hook"] != want["hook"] {
		t.Errorf("node runs %v, want %v", got, want)
	}
	if n := h.jobs(id); n != 0 {
		t.Errorf("%d jobs for an execution run on the express path", n)
	}
	// Created when accepted, before it started: its times are in order, whatever the group commit's own time.
	for i := range 5 {
		if i > 0 {
			e, err = h.store.ExecutionGet(context.Background(), h.org.ID, h.accept(g, head, `{"body":{"total":1}}`))
			if err != nil {
				t.Fatal(err)
			}
		}
		if e.StartedAt == nil || e.FinishedAt == nil || e.StartedAt.Before(e.CreatedAt) || e.FinishedAt.Before(*e.StartedAt) {
			t.Errorf("created %v, started %v, finished %v", e.CreatedAt, e.StartedAt, e.FinishedAt)
		}
	}
	select {
	case ev := <-ended:
		if ev.ExecutionID != id || len(ev.Nodes) != 3 {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no succeeded event")
	}
}

// TestExpressPathQueuesWhatItMustNot runs the cases the express path hands to the queue: a workflow with a side
// effect, one that fails (its error belongs to a worker, with retries and error workflows), a run over budget and
// an organization whose flag says queue. Each is queued with its job, and a worker then finishes it as usual.
func TestExpressPathQueuesWhatItMustNot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	effect := h.workflow(orderFlow, nil)
	failing := h.workflow(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"shape","type":"transform.data","config":{"jq":"error(\"no\")"}}],"edges":[{"from":"hook","to":"shape"}]}`, nil)
	pure := h.workflow(benchFlow, nil)
	trigger := `{"body":{"total":250,"email":"a@example.com"}}`
	cases := []struct {
		name   string
		head   store.WorkflowHead
		tweak  func(*queue.ExpressOptions)
		status string // once a worker ran it
	}{
		{"side effect", effect, nil, store.StatusSucceeded},
		{"failure", failing, nil, store.StatusFailed},
		{"over budget", pure, func(o *queue.ExpressOptions) { o.Budget = time.Nanosecond }, store.StatusSucceeded},
		{"flag says queue", pure, func(o *queue.ExpressOptions) {
			o.Enabled = func(context.Context, uuid.UUID) bool { return false }
		}, store.StatusSucceeded},
	}
	ids := make([]uuid.UUID, len(cases))
	for i, c := range cases {
		ids[i] = h.accept(h.expressIngester(c.tweak), c.head, trigger)
		e, err := h.store.ExecutionGet(context.Background(), h.org.ID, ids[i])
		if err != nil || e.Status != store.StatusQueued || h.jobs(ids[i]) != 1 {
			t.Errorf("%s: %s with %d jobs after acceptance (%v), want queued with its job", c.name, e.Status, h.jobs(ids[i]), err)
		}
		if runs := h.nodeStatuses(ids[i]); len(runs) != 0 {
			t.Errorf("%s: node runs %v written at acceptance", c.name, runs)
		}
	}
	h.startWorker(time.Minute)
	for i, c := range cases {
		h.waitStatus(ids[i], c.status)
	}
	if n := h.effects.count("vip"); n != 1 {
		t.Errorf("the side effect ran %d times, want once", n)
	}
}

// TestExpressPathLogsFinishedExecutionsAsLogExecutionsSays: at LOG_EXECUTIONS=all an execution run on the express
// path gets the "execution finished" line a worker would write; at "failed" (the default) it gets none, since it
// succeeded.
func TestExpressPathLogsFinishedExecutionsAsLogExecutionsSays(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(benchFlow, nil)
	for _, c := range []struct {
		setting queue.LogExecutions
		logged  bool
	}{{queue.LogExecutionsAll, true}, {queue.LogExecutionsFailed, false}} {
		var logs lockedLog
		g := h.expressIngester(func(o *queue.ExpressOptions) {
			o.Logger, o.LogExecutions = slog.New(slog.NewJSONHandler(&logs, nil)), c.setting
		})
		id := h.accept(g, head, `{"body":{"total":250,"email":"a@example.com"}}`)
		if n := h.jobs(id); n != 0 {
			t.Fatalf("LOG_EXECUTIONS=%s: the execution was queued (%d jobs), not run on the express path", c.setting, n)
		}
		line := `"msg":"execution finished","execution_id":"` + id.String() + `"`
		if got := strings.Contains(logs.String(), line); got != c.logged {
			t.Errorf("LOG_EXECUTIONS=%s: logged %t, want %t; logs:\n%s", c.setting, got, c.logged, logs.String())
		}
	}
}

// lockedLog is a log destination safe for concurrent writes.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
