package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// unrecordable is the workers' storage with a database that refuses every side-effecting node run: each pass
// over an execution with such a node fails, as it does while the database rejects the node runs' writes.
type unrecordable struct{ queue.ExecutionStore }

func (unrecordable) NodeRunRecord(context.Context, queue.ExecutionRef, engine.NodeRun) error {
	return errors.New("the database refused the node run")
}

// setMaxAttempts gives an execution's job another MaxAttempts than River's default (25).
func (h *harness) setMaxAttempts(id uuid.UUID, n int) {
	h.t.Helper()
	tag, err := h.store.Pool().Exec(context.Background(), `UPDATE river_job SET max_attempts = $2
		WHERE kind = 'execute' AND args->>'execution_id' = $1`, id.String(), n)
	if err != nil || tag.RowsAffected() != 1 {
		h.t.Fatalf("set max attempts: %v (%d jobs)", err, tag.RowsAffected())
	}
}

const effectFlow = `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
	{"id":"send","type":"action.test_effect","config":{}}],"edges":[{"from":"hook","to":"send"}]}`

// TestLastAttemptFailsTheExecution: an execution whose every pass fails (its side effect cannot be recorded) is
// retried until its job's last attempt, which fails it with the last error instead of leaving it running while
// River discards the job; the failure starts the error workflows like any other, and the job ends cancelled.
func TestLastAttemptFailsTheExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	flaky := h.activeWorkflow(h.org.ID, "Flaky", effectFlow, true)
	watcher := h.activeWorkflow(h.org.ID, "Watcher", `{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`, true)
	id := h.run(flaky, `{}`)
	h.setMaxAttempts(id, 2)
	h.startWorkerOpts(time.Minute, 10, 50*time.Millisecond, func(o *queue.WorkerOptions) { o.Store = unrecordable{o.Store} })

	f := h.waitStatus(id, store.StatusFailed)
	if !strings.HasPrefix(f.Error, "gave up after 2 attempts: run execution "+id.String()) ||
		!strings.Contains(f.Error, "the database refused the node run") {
		t.Errorf("error %q", f.Error)
	}
	if n := h.effects.count("send"); n != 2 {
		t.Errorf("the node ran %d times, want once per attempt (2)", n)
	}
	h.waitJob(id, "state = 'cancelled' AND attempt = 2")
	e := h.onlyExecution(watcher, "the error workflow")
	var got errorTrigger
	if err := json.Unmarshal(e.TriggerData, &got); err != nil {
		t.Fatal(err)
	}
	if got.Execution.ID != id || got.Error.Code != "execution_failed" || got.Error.Message != f.Error {
		t.Errorf("error workflow's trigger data %s", e.TriggerData)
	}
}

// TestSweeperFailsTheExecutionsOfGivenUpJobs: an execution whose job River discarded without a worker failing it
// (its rescuer gave up on a pass that never returned) or that someone cancelled in the job monitor is failed by
// the liveness sweeper, with its error workflows, and reported for the metrics; a finished execution whose job
// was cancelled after it ended is left as it is.
func TestSweeperFailsTheExecutionsOfGivenUpJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	wf := h.activeWorkflow(h.org.ID, "Orders", effectFlow, true)
	watcher := h.activeWorkflow(h.org.ID, "Watcher", `{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`, true)
	discarded, cancelled := h.run(wf, `{"n":1}`), h.run(wf, `{"n":2}`)
	// What River's rescuer does to a running job on its last attempt (riverqueue/river's job_rescuer.go).
	if _, err := h.store.Pool().Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now(),
		attempt = max_attempts, errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', max_attempts,
			'error', 'Stuck job rescued by JobRescuer', 'trace', ''))
		WHERE args->>'execution_id' = $1`, discarded.String()); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(h.store.Pool()), &river.Config{}) // the job monitor's
	if err != nil {
		t.Fatal(err)
	}
	var jobID int64
	if err := h.store.Pool().QueryRow(ctx, `SELECT id FROM river_job WHERE args->>'execution_id' = $1`,
		cancelled.String()).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.JobCancel(ctx, jobID); err != nil { // as the job monitor's cancel button does
		t.Fatal(err)
	}

	var mu sync.Mutex
	reported := map[uuid.UUID]bool{}
	l, err := h.store.NewWorkerLiveness(ctx, service.NewArchetype(slog.New(slog.DiscardHandler)), store.LivenessConfig{
		RescueAfter: time.Second, OnGaveUp: func(e queue.Execution) {
			mu.Lock()
			reported[e.ID] = true
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	h.start(l)

	d := h.waitStatus(discarded, store.StatusFailed)
	if d.Error != "gave up after 25 attempts: Stuck job rescued by JobRescuer" {
		t.Errorf("discarded job's execution: error %q", d.Error)
	}
	c := h.waitStatus(cancelled, store.StatusFailed)
	if c.Error != "its job was cancelled in the job queue" {
		t.Errorf("cancelled job's execution: error %q", c.Error)
	}
	mu.Lock()
	if !reported[discarded] || !reported[cancelled] || len(reported) != 2 {
		t.Errorf("reported %v", reported)
	}
	mu.Unlock()
	runs := h.executionsOf(watcher)
	if len(runs) != 2 {
		t.Fatalf("the error workflow ran %d times, want 2", len(runs))
	}
	for _, e := range runs {
		var got errorTrigger
		if err := json.Unmarshal(e.TriggerData, &got); err != nil {
			t.Fatal(err)
		}
		if want := map[uuid.UUID]string{discarded: d.Error, cancelled: c.Error}[got.Execution.ID]; got.Error.Message != want {
			t.Errorf("error workflow's trigger data %s", e.TriggerData)
		}
	}
}

// panicking is the workers' storage with a bug that panics on recording a side-effecting node run.
type panicking struct{ queue.ExecutionStore }

func (panicking) NodeRunRecord(context.Context, queue.ExecutionRef, engine.NodeRun) error {
	panic("a bug in recording")
}

// TestPanicOnTheLastAttemptFailsTheExecution: a pass that panics on its job's last attempt fails the execution
// rather than leaving it to a discarded job.
func TestPanicOnTheLastAttemptFailsTheExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.run(h.workflow(effectFlow, nil), `{}`)
	h.setMaxAttempts(id, 1)
	h.startWorkerOpts(time.Minute, 10, 50*time.Millisecond, func(o *queue.WorkerOptions) { o.Store = panicking{o.Store} })
	f := h.waitStatus(id, store.StatusFailed)
	if f.Error != "gave up after 1 attempt: the worker stopped on an internal error: a bug in recording" {
		t.Errorf("error %q", f.Error)
	}
	h.waitJob(id, "state = 'cancelled'")
}
