package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

type testBundle struct {
	store *store.Store
	org   store.Organization
	user  store.User
}

func setup(t testing.TB) testBundle {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	user, org, err := st.UserCreateWithOrganization(context.Background(), store.NewUser{
		Email: "ada@example.com", Name: "Ada", PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner,
	})
	if err != nil {
		t.Fatal(err)
	}
	return testBundle{store: st, org: org, user: user}
}

const definition = `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`

func (b testBundle) workflow(t testing.TB) store.Workflow {
	t.Helper()
	wf, err := b.store.WorkflowCreate(context.Background(), store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
		Name: "Orders", Description: "routes big orders", Definition: json.RawMessage(definition), AuthorID: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

func TestWorkflowSaveVersionsAndConflicts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	if wf.Version != 1 {
		t.Fatalf("new workflow at version %d", wf.Version)
	}
	name := "Orders v2"
	saved, err := b.store.WorkflowSave(ctx, store.SystemActor, store.WorkflowUpdate{OrganizationID: b.org.ID, ID: wf.ID, BaseVersion: 1,
		Name: &name, Definition: json.RawMessage(definition), AuthorID: &b.user.ID})
	if err != nil || saved.Version != 2 || saved.Name != name {
		t.Fatalf("save: %+v %v", saved, err)
	}
	// A second editor who started from version 1 is told who saved in between.
	_, err = b.store.WorkflowSave(ctx, store.SystemActor, store.WorkflowUpdate{OrganizationID: b.org.ID, ID: wf.ID, BaseVersion: 1,
		Definition: json.RawMessage(definition)})
	if fault.CodeOf(err) != fault.Conflict || !strings.Contains(err.Error(), "version 2 was saved by Ada") {
		t.Fatalf("stale save: %v", err)
	}
	versions, err := b.store.WorkflowVersions(ctx, b.org.ID, wf.ID, 10)
	if err != nil || len(versions) != 2 || versions[0].Number != 2 || versions[0].AuthorName != "Ada" {
		t.Fatalf("versions: %+v %v", versions, err)
	}
	// Another organization sees nothing.
	if _, err := b.store.WorkflowGet(ctx, uuid.New(), wf.ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("cross-tenant get: %v", err)
	}
	list, err := b.store.WorkflowList(ctx, b.org.ID, store.WorkflowFilter{Query: "big orders"})
	if err != nil || len(list) != 1 {
		t.Errorf("search: %+v %v", list, err)
	}
	if _, err := b.store.WorkflowArchive(ctx, store.SystemActor, b.org.ID, wf.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.WorkflowSave(ctx, store.SystemActor, store.WorkflowUpdate{OrganizationID: b.org.ID, ID: wf.ID, BaseVersion: 2,
		Definition: json.RawMessage(definition)})
	if fault.CodeOf(err) != fault.Conflict || !strings.Contains(err.Error(), "archived") {
		t.Errorf("save archived: %v", err)
	}
}

func TestIngesterGroupsConcurrentTriggersAndPublishes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}

	events := store.NewExecutionEvents(b.store.Pool(), testArchetype())
	startService(t, events)
	received, unsubscribe := events.Subscribe(func(e store.ExecutionEvent) bool { return e.WorkflowID == wf.ID }, 1000)
	defer unsubscribe()

	ingester := b.store.NewExecutionIngester(testArchetype(), 5*time.Millisecond, 50)
	startService(t, ingester)

	// Let the listener connect before publishing.
	waitListening(t, b.store)

	const n = 120
	var wg sync.WaitGroup
	ids := make(chan uuid.UUID, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
				WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook",
				TriggerData: json.RawMessage(`{"body":{"n":1}}`)})
			if err != nil {
				t.Errorf("enqueue %d: %v", i, err)
				return
			}
			ids <- e.ID
		}(i)
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		// Each caller returned after its commit: the row and its job are there.
		e, err := b.store.ExecutionGet(ctx, b.org.ID, id)
		if err != nil || e.Status != store.StatusQueued || e.TriggerKind != "webhook" {
			t.Fatalf("execution %s: %+v %v", id, e, err)
		}
	}
	var jobs int
	if err := b.store.Pool().QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'execute'").Scan(&jobs); err != nil || jobs != n {
		t.Fatalf("river jobs = %d (%v), want %d", jobs, err, n)
	}
	// Fewer transactions than executions: the group commit grouped.
	var groups int
	if err := b.store.Pool().QueryRow(ctx, "SELECT count(DISTINCT xmin::text) FROM workflow_executions").Scan(&groups); err != nil {
		t.Fatal(err)
	}
	if groups >= n {
		t.Errorf("%d executions written in %d transactions: no grouping", n, groups)
	}
	seen := 0
	deadline := time.After(10 * time.Second)
	for seen < n {
		select {
		case e := <-received:
			if e.Status == store.StatusQueued {
				seen++
			}
		case <-deadline:
			t.Fatalf("received %d of %d queued events", seen, n)
		}
	}

	// A workflow that does not exist fails only its own request.
	_, err = ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: uuid.New(),
		WorkflowVersionID: head.VersionID, Version: 1, TriggerKind: "webhook"})
	if fault.CodeOf(err) != fault.NotFound {
		t.Errorf("bad workflow: %v", err)
	}
	ingester.Stop()
	if _, err := ingester.Enqueue(context.Background(), store.NewExecution{OrganizationID: b.org.ID}); !store.IsStopped(err) {
		t.Errorf("enqueue after stop: %v", err)
	}
}

func waitListening(t *testing.T, st *store.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := st.Pool().QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN concertmaster%' AND datname = current_database()").Scan(&n); err == nil && n > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the event listener did not connect")
}

// TestNodeRunsForResumeLeavesCheckpointedBatchesUnread records a loop over batches that checkpointed batch 0 and
// was in batch 1 (its side effect recorded), beside a plain loop whose item 0 ran: the runs to resume from are the
// checkpoint, batch 1's side effect and the plain loop's item, without inputs; batch 0's body is left unread.
func TestNodeRunsForResumeLeavesCheckpointedBatchesUnread(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	exec, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", CreatedBy: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	ref := queue.ExecutionRef{ID: exec.ID, OrganizationID: b.org.ID, WorkflowID: wf.ID}
	now := time.Now()
	run := func(node string, item int, port, output string) engine.NodeRun {
		return engine.NodeRun{NodeID: node, Type: "transform.data", Status: engine.NodeSucceeded, Attempt: 1, ItemIndex: &item,
			Port: port, Input: json.RawMessage(`{"items": [1, 2, 3]}`), Output: json.RawMessage(output), StartedAt: now, FinishedAt: now}
	}
	if err := b.store.BatchRecord(ctx, ref, []engine.NodeRun{run("part", 0, "", `{"n": 0}`), run("post", 0, "", `{"ok": 0}`),
		run("loop", 0, engine.PortBatch, `{"batch": 0}`)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []engine.NodeRun{run("post", 1, "", `{"ok": 1}`), run("shape", 0, "", `{"shaped": 0}`)} {
		if err := b.store.NodeRunRecord(ctx, ref, r); err != nil {
			t.Fatal(err)
		}
	}
	bodies := map[string]string{"part": "loop", "post": "loop", "shape": "each"}
	recorded, err := b.store.NodeRunsForResume(ctx, ref, bodies)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recorded {
		got = append(got, fmt.Sprintf("%s#%d %s", r.NodeID, *r.ItemIndex, r.Output))
		if r.Input != nil {
			t.Errorf("%s#%d was read with its input", r.NodeID, *r.ItemIndex)
		}
	}
	sort.Strings(got)
	if want := []string{`loop#0 {"batch": 0}`, `post#1 {"ok": 1}`, `shape#0 {"shaped": 0}`}; !slices.Equal(got, want) {
		t.Errorf("runs to resume from %q, want %q", got, want)
	}
	// Without the plan's bodies nothing is left out.
	if all, err := b.store.NodeRunsForResume(ctx, ref, nil); err != nil || len(all) != 5 {
		t.Errorf("without bodies: %d runs, %v", len(all), err)
	}
}

func TestExecutionLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	exec, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", CreatedBy: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	started, outcome, err := b.store.ExecutionStart(ctx, exec.ID)
	if err != nil || outcome != queue.Started || started.WasRunning {
		t.Fatalf("start: %+v %v %v", started, outcome, err)
	}
	ref := queue.ExecutionRef{ID: exec.ID, OrganizationID: b.org.ID, WorkflowID: wf.ID}
	now := time.Now()
	if err := b.store.NodeRunRecord(ctx, ref, engine.NodeRun{NodeID: "mail", Type: "action.email",
		Status: "succeeded", Attempt: 2, Input: json.RawMessage(`{}`), Output: json.RawMessage(`{"sent":true}`),
		StartedAt: now, FinishedAt: now, RanAgain: queue.ResumedWorkerStopped}); err != nil {
		t.Fatal(err)
	}
	// A crash: the job runs again and finds the recorded side effect.
	started, outcome, err = b.store.ExecutionStart(ctx, exec.ID)
	if err != nil || outcome != queue.Started || !started.HasRuns || !started.WasRunning {
		t.Fatalf("resume: %+v %v %v", started, outcome, err)
	}
	recorded, err := b.store.NodeRunsForResume(ctx, ref, nil)
	if err != nil || len(recorded) != 1 || recorded[0].NodeID != "mail" || recorded[0].Attempt != 2 ||
		recorded[0].RanAgain != queue.ResumedWorkerStopped || string(recorded[0].Output) != `{"sent": true}` || recorded[0].Input != nil {
		t.Fatalf("runs to resume from: %+v %v", recorded, err)
	}
	idx := 0
	resume := time.Now().Add(time.Hour)
	changed, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionWaiting,
		ResumeAt: resume, NodeRuns: []engine.NodeRun{
			{NodeID: "hook", Type: "trigger.webhook", Status: "succeeded", Attempt: 1, Output: json.RawMessage(`{}`), StartedAt: now, FinishedAt: now,
				RanAgain: queue.ResumedShutDown},
			{NodeID: "each", Type: "transform.data", Status: "succeeded", Attempt: 1, ItemIndex: &idx, StartedAt: now, FinishedAt: now},
			{NodeID: "wait", Type: "condition.delay", Status: "running", Attempt: 1, StartedAt: now},
		}})
	if err != nil || !changed {
		t.Fatalf("park: %v %v", changed, err)
	}
	got, _ := b.store.ExecutionGet(ctx, b.org.ID, exec.ID)
	if got.Status != store.StatusWaiting || got.ResumeAt == nil {
		t.Fatalf("parked execution: %+v", got)
	}
	var scheduled time.Time
	if err := b.store.Pool().QueryRow(ctx, "SELECT scheduled_at FROM river_job WHERE state = 'scheduled'").Scan(&scheduled); err != nil ||
		scheduled.Sub(resume).Abs() > time.Second {
		t.Fatalf("continuation job at %v (%v), want %v", scheduled, err, resume)
	}
	if _, outcome, _ := b.store.ExecutionStart(ctx, exec.ID); outcome != queue.Started {
		t.Fatal("a waiting execution must start again")
	}
	changed, err = b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionSucceeded,
		NodeRuns: []engine.NodeRun{{NodeID: "wait", Type: "condition.delay", Status: "succeeded", Attempt: 1, StartedAt: time.Now(), FinishedAt: time.Now()}}})
	if err != nil || !changed {
		t.Fatalf("finish: %v %v", changed, err)
	}
	runs, err := b.store.NodeRuns(ctx, b.org.ID, exec.ID)
	if err != nil || len(runs) != 4 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	for _, r := range runs {
		if r.NodeID == "wait" && (r.Status != "succeeded" || r.StartedAt.IsZero()) {
			t.Errorf("delay run not brought up to date: %+v", r)
		}
		if want := map[string]string{"mail": queue.ResumedWorkerStopped, "hook": queue.ResumedShutDown}[r.NodeID]; r.RanAgain != want {
			t.Errorf("run of %s ran again %q, want %q", r.NodeID, r.RanAgain, want)
		}
	}
	if _, outcome, _ := b.store.ExecutionStart(ctx, exec.ID); outcome != queue.AlreadyFinished {
		t.Error("a finished execution started again")
	}
	if _, err := b.store.ExecutionRequestCancel(ctx, store.SystemActor, b.org.ID, exec.ID); fault.CodeOf(err) != fault.Conflict {
		t.Errorf("cancel finished: %v", err)
	}
	if _, err := b.store.ExecutionRequestCancel(ctx, store.SystemActor, uuid.New(), exec.ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("cancel from another org: %v", err)
	}
	list, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Status: store.StatusSucceeded, WorkflowID: &wf.ID})
	if err != nil || len(list) != 1 {
		t.Errorf("list: %v %v", list, err)
	}
}

func TestExecutionStartHonoursTheConcurrencyLimitInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	limit := int32(1)
	wf, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID, Name: "Limited",
		Definition: json.RawMessage(definition), ConcurrencyLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	var ids []uuid.UUID
	for range 3 {
		e, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
			WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	// The youngest may not overtake; the oldest goes first.
	if _, outcome, _ := b.store.ExecutionStart(ctx, ids[2]); outcome != queue.OverConcurrencyLimit {
		t.Fatalf("third started first: %v", outcome)
	}
	if _, outcome, _ := b.store.ExecutionStart(ctx, ids[0]); outcome != queue.Started {
		t.Fatalf("first: %v", outcome)
	}
	if _, outcome, _ := b.store.ExecutionStart(ctx, ids[1]); outcome != queue.OverConcurrencyLimit {
		t.Fatalf("second while first runs: %v", outcome)
	}
	ref := queue.ExecutionRef{ID: ids[0], OrganizationID: b.org.ID, WorkflowID: wf.ID}
	if _, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionSucceeded}); err != nil {
		t.Fatal(err)
	}
	if _, outcome, _ := b.store.ExecutionStart(ctx, ids[1]); outcome != queue.Started {
		t.Fatalf("second after first finished: %v", outcome)
	}
}
