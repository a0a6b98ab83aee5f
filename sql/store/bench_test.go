package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// benchSenders is how many goroutines submit at once, as many concurrent requests or workers would.
const benchSenders = 64

// benchWorkflow returns a store on a fresh database and the head of an active workflow in it.
func benchWorkflow(b *testing.B) (*store.Store, store.WorkflowHead) {
	b.Helper()
	pool, _ := dbtest.NewDatabase(b)
	st, err := store.New(pool)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "bench@example.com", Name: "Bench",
		PasswordHash: "x", OrganizationName: "Bench", Role: store.RoleOwner})
	if err != nil {
		b.Fatal(err)
	}
	wf, err := st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org.ID, Name: "bench",
		Definition: json.RawMessage(definition)})
	if err != nil {
		b.Fatal(err)
	}
	head, err := st.WorkflowHeadForRun(ctx, org.ID, wf.ID)
	if err != nil {
		b.Fatal(err)
	}
	return st, head
}

func benchIngester(b *testing.B, st *store.Store) *store.ExecutionIngester {
	b.Helper()
	g := st.NewExecutionIngester(testArchetype(), store.DefaultIngestWindow, store.DefaultIngestMaxBatch)
	startService(b, g)
	return g
}

// parallel runs op b.N times over benchSenders goroutines and reports op/s.
func parallel(b *testing.B, op func(i int) error) {
	b.Helper()
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ResetTimer()
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range benchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkIngesterEnqueue measures the execution ingester's group commit alone: concurrent callers each wait for
// the commit holding their execution row and River job.
func BenchmarkIngesterEnqueue(b *testing.B) {
	st, head := benchWorkflow(b)
	g := benchIngester(b, st)
	trigger := json.RawMessage(`{"body":{"total":250}}`)
	parallel(b, func(int) error {
		_, err := g.Enqueue(context.Background(), store.NewExecution{OrganizationID: head.OrganizationID,
			WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version,
			TriggerKind: "webhook", TriggerData: trigger})
		return err
	})
}

// BenchmarkWorkerWritesComplete measures the workers' grouped completions alone: concurrent workers each finish an
// execution with one pure node run and wait for the commit holding it.
func BenchmarkWorkerWritesComplete(b *testing.B) {
	st, head := benchWorkflow(b)
	g := benchIngester(b, st)
	refs := make([]queue.ExecutionRef, b.N)
	parallel(b, func(i int) error {
		e, err := g.Enqueue(context.Background(), store.NewExecution{OrganizationID: head.OrganizationID,
			WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
		refs[i] = queue.ExecutionRef{ID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID}
		return err
	})
	writes := benchWorkerWrites(b, st)
	now := time.Now()
	parallel(b, func(i int) error {
		_, err := writes.ExecutionComplete(context.Background(), queue.Completion{Execution: refs[i],
			Status: engine.ExecutionSucceeded, StartedAt: now, NodeRuns: []engine.NodeRun{{NodeID: "hook",
				Type: "trigger.webhook", Status: engine.NodeSucceeded, Attempt: 1, Output: json.RawMessage(`{}`),
				StartedAt: now, FinishedAt: now}}})
		return err
	})
}

func benchWorkerWrites(b *testing.B, st *store.Store) *store.WorkerWrites {
	b.Helper()
	w := st.NewWorkerWrites(testArchetype(), store.DefaultIngestWindow, store.DefaultIngestMaxBatch)
	startService(b, w)
	return w
}
