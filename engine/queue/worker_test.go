package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// effects is a side-effecting test node type: it counts its finished runs per node and, when told to, blocks
// until its context ends or the test releases it — a stand-in for an e-mail or HTTP call in flight.
type effects struct {
	mu   sync.Mutex
	done map[string]int
	// failOnce lists nodes whose first run fails for good.
	failOnce map[string]bool
	entered  chan string
	block    map[string]bool
	released chan struct{}
}

func newEffects() *effects {
	return &effects{done: map[string]int{}, failOnce: map[string]bool{}, entered: make(chan string, 100), block: map[string]bool{},
		released: make(chan struct{})}
}

func (f *effects) count(node string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done[node]
}

func (f *effects) setBlocking(node string, on bool) {
	f.mu.Lock()
	f.block[node] = on
	f.mu.Unlock()
}

func (f *effects) nodeType() engine.NodeType {
	return engine.NodeType{
		Name: "action.test_effect", Category: engine.CategoryAction, Title: "Test effect",
		Description: "Counts its runs.", SideEffects: true,
		ConfigSchema: json.RawMessage(`{"type":"object"}`), Example: json.RawMessage(`{}`),
		Compile: func(json.RawMessage, *engine.Compiler) (engine.Runnable, error) {
			return engine.RunnableFunc(func(ctx context.Context, in engine.Input) (engine.Output, error) {
				f.entered <- in.NodeID
				f.mu.Lock()
				blocking := f.block[in.NodeID]
				f.mu.Unlock()
				if blocking {
					select {
					case <-ctx.Done():
						return engine.Output{}, ctx.Err()
					case <-f.released:
					}
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.failOnce[in.NodeID] {
					delete(f.failOnce, in.NodeID)
					return engine.Output{}, engine.Permanent(fmt.Errorf("%s failed", in.NodeID))
				}
				f.done[in.NodeID]++
				return engine.Output{Data: map[string]any{"done": in.NodeID}}, nil
			}), nil
		},
	}
}

type harness struct {
	t        testing.TB
	store    *store.Store
	org      store.Organization
	registry *engine.Registry
	effects  *effects
	events   *store.ExecutionEvents
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	_, org, err := st.UserCreateWithOrganization(context.Background(), store.NewUser{Email: "ops@example.com",
		Name: "Ops", PasswordHash: "x", OrganizationName: "Ops", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, org: org, registry: nodes.NewRegistry(), effects: newEffects()}
	if err := h.registry.Register(h.effects.nodeType()); err != nil {
		t.Fatal(err)
	}
	h.events = store.NewExecutionEvents(pool, service.NewArchetype(slog.New(slog.DiscardHandler)))
	h.start(h.events)
	return h
}

// start starts a service for the rest of the test.
func (h *harness) start(s service.Service) {
	h.t.Helper()
	if err := s.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(s.Stop)
}

// ingester starts a group-commit ingester, as `concertmaster serve` runs one, for the rest of the test.
func (h *harness) ingester() *store.ExecutionIngester {
	h.t.Helper()
	g := h.store.NewExecutionIngester(service.NewArchetype(slog.New(slog.DiscardHandler)), store.DefaultIngestWindow,
		store.DefaultIngestMaxBatch)
	h.start(g)
	return g
}

// startWorker starts a River client with an execution worker, as `concertmaster worker` does, and returns it.
func (h *harness) startWorker(timeout time.Duration) (*river.Client[pgx.Tx], *queue.ExecuteWorker) {
	h.t.Helper()
	return h.startWorkerWith(timeout, 10, 50*time.Millisecond)
}

func (h *harness) startWorkerWith(timeout time.Duration, maxWorkers int, poll time.Duration) (*river.Client[pgx.Tx], *queue.ExecuteWorker) {
	h.t.Helper()
	return h.startWorkerOpts(timeout, maxWorkers, poll, nil)
}

// startWorkerOpts is startWorkerWith whose worker options tweak may change (the fairness limits).
func (h *harness) startWorkerOpts(timeout time.Duration, maxWorkers int, poll time.Duration,
	tweak func(*queue.WorkerOptions)) (*river.Client[pgx.Tx], *queue.ExecuteWorker) {
	h.t.Helper()
	writes := h.store.NewWorkerWrites(service.NewArchetype(slog.New(slog.DiscardHandler)), store.DefaultIngestWindow,
		store.DefaultIngestMaxBatch)
	if err := writes.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	opts := queue.WorkerOptions{Store: writes, Plans: engine.NewPlanLoader(engine.NewPlanCache(64), h.registry, h.store),
		Executor: engine.NewExecutor(engine.ExecutorOptions{}), ExecutionTimeout: timeout}
	if tweak != nil {
		tweak(&opts)
	}
	worker := queue.NewExecuteWorker(opts)
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := h.store.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: maxWorkers,
		ExecutionTimeout: timeout, FetchPollInterval: poll})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancels, unsubscribe := h.events.Subscribe(func(e store.ExecutionEvent) bool { return e.CancelRequested }, 100)
	go func() {
		for {
			select {
			case e := <-cancels:
				worker.CancelExecution(e.ExecutionID)
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := client.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		unsubscribe()
		cancel()
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = client.StopAndCancel(stopCtx)
		writes.Stop()
	})
	return client, worker
}

func (h *harness) workflow(def string, limit *int32) store.WorkflowHead {
	h.t.Helper()
	return h.workflowIn(h.org.ID, def, limit)
}

func (h *harness) workflowIn(orgID uuid.UUID, def string, limit *int32) store.WorkflowHead {
	h.t.Helper()
	ctx := context.Background()
	parsed, err := engine.ParseDefinition([]byte(def))
	if err != nil {
		h.t.Fatal(err)
	}
	if problems := h.registry.Validate(parsed); len(problems) > 0 {
		h.t.Fatalf("definition: %+v", problems)
	}
	wf, err := h.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: orgID, Name: "test",
		Definition: json.RawMessage(def), ConcurrencyLimit: limit})
	if err != nil {
		h.t.Fatal(err)
	}
	head, err := h.store.WorkflowHeadForRun(ctx, orgID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return head
}

func (h *harness) run(head store.WorkflowHead, trigger string) uuid.UUID {
	h.t.Helper()
	e, err := h.store.ExecutionCreate(context.Background(), store.SystemActor, store.NewExecution{OrganizationID: head.OrganizationID,
		WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version,
		TriggerKind: "manual", TriggerData: json.RawMessage(trigger)})
	if err != nil {
		h.t.Fatal(err)
	}
	return e.ID
}

func (h *harness) waitStatus(id uuid.UUID, want string) store.Execution {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := h.store.ExecutionGet(context.Background(), h.org.ID, id)
		if err != nil {
			h.t.Fatal(err)
		}
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (%s), want %s", id, e.Status, e.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) nodeStatuses(id uuid.UUID) map[string]string {
	h.t.Helper()
	runs, err := h.store.NodeRuns(context.Background(), h.org.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range runs {
		out[r.NodeID] = string(r.Status)
	}
	return out
}

func (h *harness) waitEntered(node string) {
	h.t.Helper()
	select {
	case got := <-h.effects.entered:
		if got != node {
			h.t.Fatalf("entered %s, want %s", got, node)
		}
	case <-time.After(30 * time.Second):
		h.t.Fatalf("node %s never ran", node)
	}
}

const orderFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","config":{}},
 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}},
 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}},
 {"id":"vip","type":"action.test_effect","config":{}},
 {"id":"normal","type":"action.test_effect","config":{}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"},
  {"from":"big","port":"true","to":"vip"},{"from":"big","port":"false","to":"normal"}]}`

func TestWorkerRunsAndRecordsEveryNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorker(time.Minute)
	head := h.workflow(orderFlow, nil)
	id := h.run(head, `{"body":{"total":250}}`)
	h.waitStatus(id, store.StatusSucceeded)
	want := map[string]string{"hook": "succeeded", "shape": "succeeded", "big": "succeeded", "vip": "succeeded", "normal": "skipped"}
	if got := h.nodeStatuses(id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("node runs %v, want %v", got, want)
	}
	runs, _ := h.store.NodeRuns(context.Background(), h.org.ID, id)
	for _, r := range runs {
		if r.NodeID == "shape" && string(r.Output) != `{"total": 250}` {
			t.Errorf("shape output %s", r.Output)
		}
		if r.NodeID == "big" && r.Port != "true" {
			t.Errorf("if took port %q", r.Port)
		}
	}
	if h.effects.count("vip") != 1 || h.effects.count("normal") != 0 {
		t.Errorf("effects: vip %d normal %d", h.effects.count("vip"), h.effects.count("normal"))
	}
}

// TestCrashResumeNeverRepeatsARecordedSideEffect stops the worker's River client in the middle of an execution
// (after one side effect was recorded, while a second is in flight) and starts another: the execution resumes after
// its last recorded node, and the recorded side effect happens once.
func TestCrashResumeNeverRepeatsARecordedSideEffect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(`{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"first","type":"action.test_effect","config":{}},
		{"id":"second","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"first"},{"from":"first","to":"second"}]}`, nil)
	h.effects.setBlocking("second", true)
	client, _ := h.startWorker(time.Minute)
	id := h.run(head, `{}`)
	h.waitEntered("first")
	h.waitEntered("second")

	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.StopAndCancel(stopCtx); err != nil {
		t.Fatal(err)
	}
	if e, _ := h.store.ExecutionGet(context.Background(), h.org.ID, id); e.Status != store.StatusRunning {
		t.Fatalf("after the worker stopped the execution is %s, want it left running", e.Status)
	}
	if got := h.nodeStatuses(id); got["first"] != "succeeded" || got["second"] != "" {
		t.Fatalf("recorded before the restart: %v", got)
	}

	h.effects.setBlocking("second", false)
	h.startWorker(time.Minute)
	h.waitStatus(id, store.StatusSucceeded)
	if h.effects.count("first") != 1 || h.effects.count("second") != 1 {
		t.Errorf("side effects: first %d, second %d; want 1 each", h.effects.count("first"), h.effects.count("second"))
	}
}

// TestWorkerThatIsNotAliveHandsItsExecutionsBack: a process that can no longer prove it is alive (its liveness
// lock is lost, and its jobs will be taken back) stops its running execution where it is, the side effect in flight
// not recorded as failed, and runs nothing of an execution fetched meanwhile. Alive again, it resumes both, and
// every side effect is recorded once.
func TestWorkerThatIsNotAliveHandsItsExecutionsBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(`{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"first","type":"action.test_effect","config":{}},
		{"id":"second","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"first"},{"from":"first","to":"second"}]}`, nil)
	h.effects.setBlocking("second", true)
	_, worker := h.startWorker(time.Minute)
	running := h.run(head, `{}`)
	h.waitEntered("first")
	h.waitEntered("second")

	worker.SetAlive(false)
	h.waitJob(running, "state <> 'running'")
	if got := h.nodeStatuses(running); got["first"] != "succeeded" || got["second"] != "" {
		t.Fatalf("recorded after the process stopped proving it is alive: %v", got)
	}
	h.effects.setBlocking("second", false)
	fetched := h.run(head, `{}`)
	h.waitJob(fetched, "coalesce((metadata->>'snoozes')::int, 0) > 0") // fetched, and handed back
	if n := h.effects.count("first"); n != 1 {
		t.Fatalf("the first side effect ran %d times while the process was not alive, want once (before)", n)
	}

	worker.SetAlive(true)
	h.waitStatus(running, store.StatusSucceeded)
	h.waitStatus(fetched, store.StatusSucceeded)
	if first, second := h.effects.count("first"), h.effects.count("second"); first != 2 || second != 2 {
		t.Errorf("side effects: first %d, second %d; want 2 each (once per execution)", first, second)
	}
}

// waitJob waits until the job of an execution meets cond, an SQL condition on its river_job row.
func (h *harness) waitJob(id uuid.UUID, cond string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var met bool
		var state string
		if err := h.store.Pool().QueryRow(context.Background(), `SELECT `+cond+`, state::text FROM river_job
			WHERE args->>'execution_id' = $1`, id.String()).Scan(&met, &state); err != nil {
			h.t.Fatal(err)
		}
		if met {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the job of execution %s (%s) does not meet %s", id, state, cond)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDurableDelaySurvivesARestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(`{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"wait","type":"condition.delay","config":{"duration":"1500ms"}},
		{"id":"after","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"wait"},{"from":"wait","to":"after"}]}`, nil)
	client, _ := h.startWorker(time.Minute)
	id := h.run(head, `{"body":{"x":1}}`)
	e := h.waitStatus(id, store.StatusWaiting)
	if e.ResumeAt == nil {
		t.Fatal("waiting execution has no resume time")
	}
	// No worker holds the execution while it waits: stop the only one.
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if h.effects.count("after") != 0 {
		t.Fatal("the node after the delay ran early")
	}
	h.startWorker(time.Minute)
	done := h.waitStatus(id, store.StatusSucceeded)
	if done.FinishedAt.Before(*e.ResumeAt) {
		t.Errorf("finished at %v, before the delay ended at %v", done.FinishedAt, e.ResumeAt)
	}
	if h.effects.count("after") != 1 {
		t.Errorf("after ran %d times", h.effects.count("after"))
	}
	if got := h.nodeStatuses(id); got["wait"] != "succeeded" || got["after"] != "succeeded" {
		t.Errorf("node runs %v", got)
	}
	if marked := h.ranAgain(id); len(marked) != 0 {
		t.Errorf("a delay's continuation is no resumption, yet runs are marked as run again: %v", marked)
	}
}

// ranAgain gives the execution's recorded node runs that carry a ran-again reason, as node id → reason.
func (h *harness) ranAgain(id uuid.UUID) map[string]string {
	h.t.Helper()
	runs, err := h.store.NodeRuns(context.Background(), h.org.ID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	marked := map[string]string{}
	for _, r := range runs {
		if r.RanAgain != "" {
			marked[r.NodeID] = r.RanAgain
		}
	}
	return marked
}

// TestResumedPassRecordsWhyNodesRanAgain stops a pass while a side effect is in flight (after another was
// recorded), leaves on the job what River or the liveness sweep would (nothing for a graceful shutdown), and
// resumes on a new worker: the stored runs of the nodes the resumed pass ran from its start (the trigger, lost
// with the stopped pass's batch, and the side effect that was in flight) carry the reason in plain words, and
// the recorded side effect is reused, not marked, not repeated.
func TestResumedPassRecordsWhyNodesRanAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		attempts []stopKind // what the stopped pass left on the job, beyond River's graceful hand-back
		want     string
	}{
		{name: "the worker shut down gracefully", want: queue.ResumedShutDown},
		{name: "the liveness sweep took the job back", attempts: []stopKind{stopTakenBack}, want: queue.ResumedWorkerStopped},
		{name: "a run could not be recorded", attempts: []stopKind{stopErrored}, want: queue.ResumedNotRecorded},
		{name: "River rescued the job", attempts: []stopKind{stopRescued}, want: queue.ResumedDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			head := h.workflow(`{"nodes":[
				{"id":"hook","type":"trigger.webhook","config":{}},
				{"id":"first","type":"action.test_effect","config":{}},
				{"id":"second","type":"action.test_effect","config":{}}],
				"edges":[{"from":"hook","to":"first"},{"from":"first","to":"second"}]}`, nil)
			h.effects.setBlocking("second", true)
			client, _ := h.startWorker(time.Minute)
			id := h.run(head, `{}`)
			h.waitEntered("first")
			h.waitEntered("second")
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := client.StopAndCancel(stopCtx); err != nil {
				t.Fatal(err)
			}
			h.waitJob(id, "state = 'available'")
			simulateAttempts(t, h, id, tt.attempts...)

			h.effects.setBlocking("second", false)
			h.startWorker(time.Minute)
			h.waitStatus(id, store.StatusSucceeded)
			want := map[string]string{"hook": tt.want, "second": tt.want}
			if got := h.ranAgain(id); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("runs marked as run again %v, want %v", got, want)
			}
			if h.effects.count("first") != 1 {
				t.Errorf("the recorded side effect ran %d times, want once", h.effects.count("first"))
			}
		})
	}
}

func TestCancelStopsARunningExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(`{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"slow","type":"action.test_effect","config":{}},
		{"id":"never","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"slow"},{"from":"slow","to":"never"}]}`, nil)
	h.effects.setBlocking("slow", true)
	h.startWorker(time.Minute)
	waitListening(t, h)
	id := h.run(head, `{}`)
	h.waitEntered("slow")
	if _, err := h.store.ExecutionRequestCancel(context.Background(), store.SystemActor, h.org.ID, id); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(id, store.StatusCanceled)
	if h.effects.count("never") != 0 || h.effects.count("slow") != 0 {
		t.Errorf("effects after cancel: slow %d never %d", h.effects.count("slow"), h.effects.count("never"))
	}
}

func TestConcurrencyLimitRunsExecutionsOneAtATimeInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	limit := int32(1)
	head := h.workflow(`{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"work","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"work"}]}`, &limit)
	var ids []uuid.UUID
	for range 4 {
		ids = append(ids, h.run(head, `{}`))
	}
	h.effects.setBlocking("work", true)
	h.startWorker(time.Minute)
	for i := range ids {
		h.waitEntered("work")
		// While one runs, the others stay queued.
		var running int
		for _, id := range ids {
			e, _ := h.store.ExecutionGet(context.Background(), h.org.ID, id)
			if e.Status == store.StatusRunning {
				running++
			}
		}
		if running != 1 {
			t.Fatalf("%d executions running at once with a limit of 1", running)
		}
		h.effects.released <- struct{}{}
		h.waitStatus(ids[i], store.StatusSucceeded)
	}
	// The record says so too: each started once the one before it had finished.
	var prev store.Execution
	for i, id := range ids {
		e, err := h.store.ExecutionGet(context.Background(), h.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && e.StartedAt.Before(*prev.FinishedAt) {
			t.Errorf("execution %d (created %v) started at %v, before execution %d (created %v, started %v) finished at %v",
				i, e.CreatedAt, *e.StartedAt, i-1, prev.CreatedAt, *prev.StartedAt, *prev.FinishedAt)
		}
		prev = e
	}
}

func waitListening(t testing.TB, h *harness) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var n atomic.Int32
	for time.Now().Before(deadline) {
		var c int32
		if err := h.store.Pool().QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN concertmaster%' AND datname = current_database()").Scan(&c); err == nil && c > 0 {
			n.Store(c)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the event listener did not connect")
}

// TestRetryFromTheFailedNodeKeepsWhatRanBefore retries a failed execution from its failed node: the side effect
// before it is carried over, not repeated, and the new execution resumes at the failed node.
func TestRetryFromTheFailedNodeKeepsWhatRanBefore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	def := `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"charge","type":"action.test_effect","config":{}},
		{"id":"notify","type":"action.test_effect","config":{}}],
		"edges":[{"from":"hook","to":"charge"},{"from":"charge","to":"notify"}]}`
	head := h.workflow(def, nil)
	h.effects.failOnce["notify"] = true
	h.startWorker(time.Minute)
	id := h.run(head, `{}`)
	failed := h.waitStatus(id, store.StatusFailed)
	if !strings.Contains(failed.Error, "notify failed") || failed.FailedNodeID != "notify" {
		t.Fatalf("failed at %q: %q", failed.FailedNodeID, failed.Error)
	}
	plan, err := engine.Compile(mustParse(t, def), h.registry)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := h.store.NodeRuns(context.Background(), h.org.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := h.store.ExecutionRetry(context.Background(), store.SystemActor, h.org.ID, id, plan.RetryRuns(runs))
	if err != nil {
		t.Fatal(err)
	}
	h.waitStatus(retry.ID, store.StatusSucceeded)
	if h.effects.count("charge") != 1 || h.effects.count("notify") != 1 {
		t.Errorf("side effects: charge %d notify %d, want 1 each", h.effects.count("charge"), h.effects.count("notify"))
	}
	if got := h.nodeStatuses(retry.ID); got["charge"] != "succeeded" || got["notify"] != "succeeded" {
		t.Errorf("retry's runs %v", got)
	}
}

func mustParse(t *testing.T, def string) *engine.Definition {
	t.Helper()
	d, err := engine.ParseDefinition([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
