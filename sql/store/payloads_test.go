package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// countObjects counts the files a Local backend keeps in dir (its temporary directory aside).
func countObjects(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "tmp" {
			return fs.SkipDir
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPayloadOffload walks a large payload through its life on real PostgreSQL and the Local backend: offloaded at
// ingest and at node-run writes, read back whole by workers, scoped to its organization, carried by a retry, and
// swept once its executions are pruned; small payloads write no object.
func TestPayloadOffload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	files, err := storage.NewLocal(dir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	const limit = 1024
	b.store.UsePayloads(files, limit)
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	ingester := b.store.NewExecutionIngester(testArchetype(), time.Millisecond, 50)
	startService(t, ingester)
	writes := b.store.NewWorkerWrites(testArchetype(), time.Millisecond, 50)
	startService(t, writes)
	enqueue := func(trigger string) store.NewExecution {
		t.Helper()
		e, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
			WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook", TriggerData: json.RawMessage(trigger)})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	claims := func() int {
		var n int
		if err := b.store.Pool().QueryRow(ctx, "SELECT count(*) FROM execution_payloads").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Small: inline, no object, no claim; the marker alone sends even a small value out.
	small := enqueue(`{"body":{"n":1},"method":"POST"}`)
	if got := countObjects(t, dir); got != 0 || claims() != 0 {
		t.Fatalf("small payload wrote %d objects, %d claims", got, claims())
	}
	marked := enqueue(`{"body":{"$payload":{"key":"00000000000000000000000000000000"}}}`)
	if got, _ := b.store.ExecutionGet(ctx, b.org.ID, marked.ID); store.ParsePayloadRef(got.TriggerData) == nil {
		t.Errorf("a value holding the marker stayed inline: %s", got.TriggerData)
	}

	bigBody := `{"body":{"text":"` + strings.Repeat("é", 3000) + `"},"method":"POST"}`
	big := enqueue(bigBody)
	row, err := b.store.ExecutionGet(ctx, b.org.ID, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref := store.ParsePayloadRef(row.TriggerData)
	if ref == nil || ref.Size != int64(len(bigBody)) || !strings.HasPrefix(bigBody, ref.Preview) || len(ref.Preview) > 1024 ||
		len(row.TriggerData) > 2048 {
		t.Fatalf("large trigger data not referenced: %d bytes %.200s", len(row.TriggerData), row.TriggerData)
	}

	// The worker sees the whole value, on the fast path and on the resuming one.
	started, outcome, err := writes.ExecutionStart(ctx, big.ID)
	if err != nil || outcome != queue.Started || string(started.TriggerData) != bigBody {
		t.Fatalf("worker start: %v %v, trigger %d bytes", outcome, err, len(started.TriggerData))
	}
	execRef := queue.ExecutionRef{ID: big.ID, OrganizationID: b.org.ID, WorkflowID: wf.ID}
	bigOut := `{"items":"` + strings.Repeat("x", 5000) + `"}`
	now := time.Now()
	if err := writes.NodeRunRecord(ctx, execRef, engine.NodeRun{NodeID: "call", Type: "action.http", Status: "succeeded",
		Attempt: 1, Input: json.RawMessage(`{}`), Output: json.RawMessage(bigOut), StartedAt: now, FinishedAt: now}); err != nil {
		t.Fatal(err)
	}
	resumed, _, err := b.store.ExecutionStart(ctx, big.ID)
	if err != nil || string(resumed.TriggerData) != bigBody || !resumed.HasRuns {
		t.Fatalf("resume: %v", err)
	}
	recorded, err := b.store.NodeRunsForResume(ctx, execRef, nil)
	if err != nil || len(recorded) != 1 || string(recorded[0].Output) != bigOut {
		t.Fatalf("resume: %v, %d recorded", err, len(recorded))
	}
	if _, err := writes.ExecutionComplete(ctx, queue.Completion{Execution: execRef, Status: engine.ExecutionSucceeded,
		StartedAt: now, NodeRuns: []engine.NodeRun{{NodeID: "shape", Type: "transform.data", Status: "succeeded", Attempt: 1,
			Input: json.RawMessage(bigOut), Output: json.RawMessage(`{"ok":true}`), StartedAt: now, FinishedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	runs, err := b.store.NodeRuns(ctx, b.org.ID, big.ID)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	for _, r := range runs {
		held := map[string]json.RawMessage{"call": r.Output, "shape": r.Input}[r.NodeID]
		if ref := store.ParsePayloadRef(held); ref == nil || ref.Size != int64(len(bigOut)) {
			t.Errorf("run %s keeps %d bytes inline, want a reference", r.NodeID, len(held))
		}
	}
	// trigger, marker, the recorded output, the completed input
	if got := countObjects(t, dir); got != 4 || claims() != 4 {
		t.Fatalf("%d objects, %d claims; want 4 of each", got, claims())
	}

	// Full fetch: within the organization and the execution only.
	rc, err := b.store.OpenPayload(ctx, b.org.ID, &big.ID, ref.Key)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(full, []byte(bigBody)) {
		t.Error("the full payload differs from what was sent")
	}
	other := setupOtherOrg(t, b)
	if _, err := b.store.OpenPayload(ctx, other, nil, ref.Key); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("another organization opened the payload: %v", err)
	}
	if _, err := b.store.OpenPayload(ctx, b.org.ID, &small.ID, ref.Key); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("another execution's payload opened: %v", err)
	}

	// A retry carries the references and claims them: its trigger data is whole for its worker.
	var keep []engine.NodeRun
	for _, r := range runs {
		if r.NodeID == "call" {
			keep = append(keep, r)
		}
	}
	retry, err := b.store.ExecutionRetry(ctx, store.SystemActor, b.org.ID, big.ID, keep)
	if err != nil {
		t.Fatal(err)
	}
	retried, _, err := b.store.ExecutionStart(ctx, retry.ID)
	if err != nil || string(retried.TriggerData) != bigBody || countObjects(t, dir) != 4 {
		t.Fatalf("retry start: %v, trigger %d bytes, %d objects", err, len(retried.TriggerData), countObjects(t, dir))
	}
	if _, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: retry.ID,
		OrganizationID: b.org.ID, WorkflowID: wf.ID}, Status: engine.ExecutionSucceeded, StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []any{small.ID, marked.ID} {
		if _, err := b.store.Pool().Exec(ctx, "UPDATE workflow_executions SET status = 'succeeded', finished_at = now() WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
	}

	// Pruning the first execution keeps the objects its retry still refers to; pruning all sweeps them.
	if _, err := b.store.Pool().Exec(ctx, "DELETE FROM workflow_executions WHERE id = ANY($1)", []any{big.ID, marked.ID}); err != nil {
		t.Fatal(err)
	}
	later := clockwork.NewFakeClockAt(time.Now().Add(2 * time.Hour))
	pruneAll := b.store.NewHistoryPruner(slog.New(slog.DiscardHandler), later, store.HistoryRetention{}, 10)
	report, err := pruneAll.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The marker's object and the completed input went; the retry keeps the trigger and the recorded output.
	if got := countObjects(t, dir); got != 2 || report.PayloadsDeleted != 2 {
		t.Fatalf("after the first execution's pruning: %d objects (report %+v), want the retry's 2", got, report)
	}
	if rc, err := b.store.OpenPayload(ctx, b.org.ID, &retry.ID, ref.Key); err != nil {
		t.Fatalf("the retry's payload after its first execution's pruning: %v", err)
	} else {
		rc.Close()
	}
	pruner := b.store.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(time.Now().AddDate(0, 0, 3)),
		store.HistoryRetention{Succeeded: 24 * time.Hour, Failed: 24 * time.Hour}, 10)
	if _, err := b.store.Pool().Exec(ctx, "UPDATE workflow_executions SET status = 'succeeded'"); err != nil {
		t.Fatal(err)
	}
	report, err = pruner.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := countObjects(t, dir); got != 0 || claims() != 0 || report.PayloadsDeleted != 2 {
		t.Fatalf("after pruning everything: %d objects, %d claims, report %+v", got, claims(), report)
	}
}

// setupOtherOrg makes a second organization, for checks across tenants.
func setupOtherOrg(t *testing.T, b testBundle) uuid.UUID {
	t.Helper()
	_, org, err := b.store.UserCreateWithOrganization(context.Background(), store.NewUser{
		Email: "eve@example.com", Name: "Eve", PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	return org.ID
}

// bigOutputEvaluator runs every execution ahead of the queue with one node whose output is large, and keeps what
// it is told was committed.
type bigOutputEvaluator struct {
	output    string
	committed chan queue.Completion
}

func (e *bigOutputEvaluator) Evaluate(_ context.Context, x queue.Execution) (queue.Completion, bool) {
	now := time.Now()
	return queue.Completion{Execution: queue.ExecutionRef{ID: x.ID, OrganizationID: x.OrganizationID, WorkflowID: x.WorkflowID},
		Status: engine.ExecutionSucceeded, StartedAt: now, NodeRuns: []engine.NodeRun{{NodeID: "shape", Type: "transform.data",
			Status: "succeeded", Attempt: 1, Input: x.TriggerData, Output: json.RawMessage(e.output), StartedAt: now, FinishedAt: now}}}, true
}

func (e *bigOutputEvaluator) Committed(_ queue.Execution, c queue.Completion) { e.committed <- c }

// TestPayloadOffloadOnTheExpressPath: an execution run ahead of the queue has its large node output offloaded by
// the group commit, while the express path itself is told of the whole value.
func TestPayloadOffloadOnTheExpressPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	files, err := storage.NewLocal(dir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	b.store.UsePayloads(files, 1024)
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	ingester := b.store.NewExecutionIngester(testArchetype(), time.Millisecond, 50)
	startService(t, ingester)
	eval := &bigOutputEvaluator{output: `{"list":"` + strings.Repeat("q", 4000) + `"}`, committed: make(chan queue.Completion, 1)}
	ingester.UseExpress(eval)
	e, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook", TriggerData: json.RawMessage(`{"body":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-eval.committed:
		if string(c.NodeRuns[0].Output) != eval.output {
			t.Error("the express path was told of a reference, not the value")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the completion was never committed")
	}
	runs, err := b.store.NodeRuns(ctx, b.org.ID, e.ID)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	if ref := store.ParsePayloadRef(runs[0].Output); ref == nil || ref.Size != int64(len(eval.output)) ||
		store.ParsePayloadRef(runs[0].Input) != nil {
		t.Errorf("express run stored output %.80s, input %s", runs[0].Output, runs[0].Input)
	}
	if got := countObjects(t, dir); got != 1 {
		t.Errorf("%d objects, want the output's only", got)
	}
}

// TestBatchRecordOffloadsTheBatches records a loop's batch whose rows are larger than the inline limit: the body's
// input goes to the file storage, and so does the checkpoint's, but the checkpoint's output stays inline, so the
// execution's progress is still read from it, and a resume reads the body's output whole.
func TestBatchRecordOffloadsTheBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	files, err := storage.NewLocal(dir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	b.store.UsePayloads(files, 1024)
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	exec, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", CreatedBy: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	ref := queue.ExecutionRef{ID: exec.ID, OrganizationID: b.org.ID, WorkflowID: wf.ID}
	rows := `{"rows":["` + strings.Repeat("r", 4000) + `"]}`
	result := `{"sum":"` + strings.Repeat("9", 2000) + `"}`
	checkpoint := `{"batch":0,"batches":2,"size":10,"total":20,"unit":"rows","result":` + result + `}`
	now := time.Now()
	item := 0
	if err := b.store.BatchRecord(ctx, ref, []engine.NodeRun{
		{NodeID: "sum", Type: "transform.aggregate", Status: engine.NodeSucceeded, Attempt: 1, ItemIndex: &item,
			Input: json.RawMessage(rows), Output: json.RawMessage(result), StartedAt: now, FinishedAt: now},
		{NodeID: "loop", Type: "condition.loop", Status: engine.NodeSucceeded, Attempt: 1, ItemIndex: &item, Port: engine.PortBatch,
			Input: json.RawMessage(rows), Output: json.RawMessage(checkpoint), StartedAt: now, FinishedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	runs, err := b.store.NodeRuns(ctx, b.org.ID, exec.ID)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %d, %v", len(runs), err)
	}
	for _, r := range runs {
		if store.ParsePayloadRef(r.Input) == nil {
			t.Errorf("%s keeps its %d-byte input inline", r.NodeID, len(r.Input))
		}
		switch r.NodeID {
		case "sum":
			if store.ParsePayloadRef(r.Output) == nil {
				t.Errorf("the body keeps its %d-byte output inline", len(r.Output))
			}
		case "loop":
			if !jsonEqual(r.Output, checkpoint) {
				t.Errorf("the checkpoint's output is not kept inline: %.120s", r.Output)
			}
		}
	}
	if p := engine.ProgressOf(runs); p == nil || p.Done != 10 || p.Total != 20 || p.BatchesDone != 1 {
		t.Errorf("progress from the recorded checkpoint: %+v", p)
	}
	if got := countObjects(t, dir); got != 3 {
		t.Errorf("%d objects stored; want 3 (the body's input and output, the checkpoint's input)", got)
	}
	resumed, err := b.store.NodeRunsForResume(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resumed {
		if r.NodeID == "sum" && !jsonEqual(r.Output, result) {
			t.Errorf("a resume reads the body's output as %.120s", r.Output)
		}
	}
}

// jsonEqual reports whether raw is the JSON text want stands for (PostgreSQL's jsonb rewrites spacing).
func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(raw, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}
