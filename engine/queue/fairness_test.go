package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river/rivertype"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// stopKind is how a simulated earlier attempt of a job ended.
type stopKind int

const (
	stopRescued   stopKind = iota // the pass never returned: River's JobRescuer took the job back
	stopTakenBack                 // the process died: the liveness sweep took the job back
	stopPanicked
	stopErrored // an ordinary error (a node run not recorded, the database gone), which is not a stop
)

// simulateAttempts writes, for each kind, what River leaves on a job whose attempt ended that way: the attempt as a
// fetch counts it, then the attempt error as the rescuer (same message, no trace) or the executor (a panic's
// trace) records it, and the job available again. This is a worker process dying mid-job without waiting for
// River's rescuer, whose interval (30 s) cannot be shortened from outside River.
func simulateAttempts(t *testing.T, h *harness, execID uuid.UUID, kinds ...stopKind) {
	t.Helper()
	ctx := context.Background()
	for i, kind := range kinds {
		attemptErr := rivertype.AttemptError{At: time.Now(), Attempt: i + 1}
		switch kind {
		case stopRescued:
			attemptErr.Error = "Stuck job rescued by JobRescuer"
		case stopTakenBack:
			attemptErr.Error = queue.WorkerGoneError
		case stopPanicked:
			attemptErr.Error, attemptErr.Trace = "runtime error: index out of range", "goroutine 7 [running]:\nmain.node()"
		case stopErrored:
			attemptErr.Error = fmt.Sprintf("run execution %s: record run of node \"first\": conn closed", execID)
		}
		raw, err := json.Marshal(attemptErr)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := h.store.Pool().Exec(ctx, `UPDATE river_job
			SET attempt = attempt + 1, attempted_at = now(), errors = array_append(coalesce(errors, '{}'), $2::jsonb),
			    state = 'available', scheduled_at = now()
			WHERE args->>'execution_id' = $1 AND state = 'available'`, execID.String(), raw)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("simulate attempt %d of %s: %v (%d rows)", i+1, execID, err, tag.RowsAffected())
		}
	}
}

func TestExecutionThatStopsItsWorkerTooOftenFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	head := h.workflow(orderFlow, nil)

	// Two stops (and an ordinary error, which is no stop) are under the limit of three: the execution runs.
	survivor := h.run(head, `{"body":{"total":250}}`)
	simulateAttempts(t, h, survivor, stopRescued, stopErrored, stopPanicked)
	// Three stops: the next pickup fails it without running a node.
	poison := h.run(head, `{"body":{"total":250}}`)
	simulateAttempts(t, h, poison, stopTakenBack, stopPanicked, stopRescued)

	h.startWorkerOpts(time.Minute, 2, 50*time.Millisecond, func(o *queue.WorkerOptions) { o.MaxWorkerStops = 3 })
	failed := h.waitStatus(poison, store.StatusFailed)
	if want := "the execution stopped its worker 3 times; it was failed to protect the instance"; failed.Error != want {
		t.Errorf("error %q, want %q", failed.Error, want)
	}
	h.waitStatus(survivor, store.StatusSucceeded)
	if n := h.effects.count("vip"); n != 1 {
		t.Errorf("the side effect ran %d times, want once (the survivor's only)", n)
	}
	// The job is done with, not retried, and the process that failed it goes on working.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var state string
		if err := h.store.Pool().QueryRow(context.Background(),
			`SELECT state FROM river_job WHERE args->>'execution_id' = $1`, poison.String()).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "completed" {
			break
		}
		if state != "running" || time.Now().After(deadline) { // River records the outcome shortly after the pass
			t.Fatalf("the poison execution's job is %s, want completed", state)
		}
	}
	h.waitStatus(h.run(head, `{"body":{"total":250}}`), store.StatusSucceeded)
}

func TestOrganizationCapHoldsAcrossWorkerProcesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, other, err := h.store.UserCreateWithOrganization(context.Background(), store.NewUser{Email: "other@example.com",
		Name: "Other", PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	h.effects.setBlocking("vip", true)
	capped := func(o *queue.WorkerOptions) { o.OrgMaxRunning = 2 }
	head := h.workflow(orderFlow, nil)
	// The first worker process fills the cap; the second, with room to spare, must learn that from the database.
	h.startWorkerOpts(time.Minute, 2, 50*time.Millisecond, capped)
	var ids []uuid.UUID
	for range 2 {
		ids = append(ids, h.run(head, `{"body":{"total":250}}`))
	}
	h.waitEntered("vip")
	h.waitEntered("vip")
	h.startWorkerOpts(time.Minute, 5, 50*time.Millisecond, capped)
	for range 4 {
		ids = append(ids, h.run(head, `{"body":{"total":250}}`))
	}
	// Wait until each of the four others has been picked up and held back at least once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var snoozed int
		if err := h.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE args->>'organization_id' = $1 AND (metadata->>'snoozes')::int >= 1`, h.org.ID.String()).Scan(&snoozed); err != nil {
			t.Fatal(err)
		}
		if snoozed >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the executions over the cap were snoozed, want 4", snoozed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h.effects.entered); n != 0 {
		t.Fatalf("%d more executions of the organization run, over its cap of 2", n)
	}

	// Another organization is not held back by the first one's cap.
	otherHead := h.workflowIn(other.ID, benchFlow, nil)
	otherID := h.run(otherHead, `{"body":{"total":250,"email":"b@example.com"}}`)
	waitStatusIn(t, h, other.ID, otherID, store.StatusSucceeded)

	close(h.effects.released)
	for _, id := range ids {
		h.waitStatus(id, store.StatusSucceeded)
	}
}

func waitStatusIn(t *testing.T, h *harness, org, id uuid.UUID, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := h.store.ExecutionGet(context.Background(), org, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s is %s (%s), want %s", id, e.Status, e.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFloodFromOneOrganizationDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// A stopped clock: the share is granted once, however long enqueuing the flood takes on this machine.
	frozen := time.Now()
	h.store.SetOrgQueueShare(100, func() time.Time { return frozen })
	_, orgB, err := h.store.UserCreateWithOrganization(context.Background(), store.NewUser{Email: "b@example.com",
		Name: "B", PasswordHash: "x", OrganizationName: "B", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	headA := h.workflow(benchFlow, nil)
	headB := h.workflowIn(orgB.ID, benchFlow, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ingester := h.ingester()
	enqueue := func(head store.WorkflowHead, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		work := make(chan struct{}, n)
		for range n {
			work <- struct{}{}
		}
		close(work)
		for range 32 {
			wg.Go(func() {
				for range work {
					if _, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: head.OrganizationID,
						WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version,
						TriggerKind: "webhook", TriggerData: json.RawMessage(`{"body":{"total":250}}`)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	enqueue(headA, 2000)
	enqueue(headB, 5)

	h.startWorkerWith(time.Minute, 20, 50*time.Millisecond)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var unfinished int
		if err := h.store.Pool().QueryRow(ctx, `SELECT count(*) FROM workflow_executions
			WHERE organization_id = $1 AND finished_at IS NULL`, orgB.ID).Scan(&unfinished); err != nil {
			t.Fatal(err)
		}
		if unfinished == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of B's executions unfinished", unfinished)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// How much of A's backlog finished before B's last execution did: with organizations worked in arrival order
	// it would be all 2,000; with lanes, about A's share (100) plus what the workers had in hand.
	var aBefore int
	if err := h.store.Pool().QueryRow(ctx, `SELECT count(*) FROM workflow_executions a
		WHERE a.organization_id = $1 AND a.finished_at IS NOT NULL
		  AND a.finished_at < (SELECT max(finished_at) FROM workflow_executions WHERE organization_id = $2)`,
		h.org.ID, orgB.ID).Scan(&aBefore); err != nil {
		t.Fatal(err)
	}
	if aBefore > 500 {
		t.Errorf("%d of A's 2000 executions finished before B's 5 did, want at most 500", aBefore)
	}
	var failed []string
	rows, err := h.store.Pool().Query(ctx, `SELECT coalesce(error, '') FROM workflow_executions WHERE status = 'failed'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		_ = rows.Scan(&e)
		failed = append(failed, e)
	}
	if len(failed) > 0 {
		t.Errorf("%d executions failed: %s", len(failed), strings.Join(failed[:min(3, len(failed))], "; "))
	}
}

func TestLanesSendAnOrganizationBeyondItsShareToTheOverflowLane(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lanes := queue.NewLanes(3, func() time.Time { return now })
	a, b := uuid.New(), uuid.New()
	var got []int
	for range 5 {
		got = append(got, lanes.Priority(a, 2))
	}
	got = append(got, lanes.Priority(b, 1))
	now = now.Add(time.Second / 2) // one and a half executions' worth of share
	got = append(got, lanes.Priority(a, 2), lanes.Priority(a, 2))
	if want := "[2 2 2 4 4 1 2 4]"; fmt.Sprint(got) != want {
		t.Errorf("priorities %v, want %s", got, want)
	}
	var none *queue.Lanes
	if p := none.Priority(a, 3); p != 3 {
		t.Errorf("nil lanes gave %d, want the workflow's 3", p)
	}
}
