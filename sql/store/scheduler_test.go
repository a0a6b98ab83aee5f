package store_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestSchedulersFireEachTickOnce runs two schedulers (as two instances would) against one database: a schedule
// that missed ten ticks during downtime fires once, not ten times, and not once per scheduler.
func TestSchedulersFireEachTickOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	def := json.RawMessage(`{"nodes":[{"id":"tick","type":"trigger.schedule","config":{"every":"1s"}}],"edges":[]}`)
	wf, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
		Name: "Every second", Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	overdue := time.Now().Add(-10 * time.Second)
	if _, err := b.store.WorkflowSetActive(ctx, store.SystemActor, b.org.ID, wf.ID, true, &overdue); err != nil {
		t.Fatal(err)
	}
	schedulers := []*store.Scheduler{
		b.store.NewScheduler(testArchetype(), nodes.NextScheduledRun, store.DefaultScheduleInterval),
		b.store.NewScheduler(testArchetype(), nodes.NextScheduledRun, store.DefaultScheduleInterval),
	}
	now := time.Now()
	var wg sync.WaitGroup
	fired := make([]int, len(schedulers))
	for i, sc := range schedulers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := sc.FireDue(ctx, now)
			if err != nil {
				t.Error(err)
			}
			fired[i] = n
		}()
	}
	wg.Wait()
	if fired[0]+fired[1] != 1 {
		t.Fatalf("fired %v, want one execution in all", fired)
	}
	next, err := b.store.WorkflowNextRun(ctx, b.org.ID, wf.ID)
	if err != nil || next == nil || !next.After(now) {
		t.Fatalf("next run %v (%v), want after %v", next, err, now)
	}
	if n, _ := schedulers[0].FireDue(ctx, now); n != 0 {
		t.Errorf("fired again before the next tick: %d", n)
	}
	list, _ := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{WorkflowID: &wf.ID})
	if len(list) != 1 || list[0].TriggerKind != "schedule" {
		t.Fatalf("executions %+v", list)
	}
	var trigger map[string]string
	_ = json.Unmarshal(list[0].TriggerData, &trigger)
	if trigger["scheduled_at"] == "" {
		t.Errorf("trigger data %s", list[0].TriggerData)
	}
	// Deactivating unregisters it.
	if _, err := b.store.WorkflowSetActive(ctx, store.SystemActor, b.org.ID, wf.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	if next, _ := b.store.WorkflowNextRun(ctx, b.org.ID, wf.ID); next != nil {
		t.Errorf("deactivated workflow still scheduled at %v", next)
	}
}
