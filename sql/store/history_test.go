package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/store"
)

// historyFixture writes executions at chosen times, each with three node runs, an audit entry and, when failed,
// an e-mail delivery (a row that references its execution by foreign key).
type historyFixture struct {
	t  *testing.T
	b  testBundle
	wf store.Workflow
}

func newHistoryFixture(t *testing.T, now time.Time, daysBack int) historyFixture {
	b := setup(t)
	if _, err := migrations.EnsurePartitions(context.Background(), b.store.Pool(), now.AddDate(0, 0, -daysBack), daysBack+1); err != nil {
		t.Fatal(err)
	}
	return historyFixture{t: t, b: b, wf: b.workflow(t)}
}

func (f historyFixture) execution(status string, created time.Time) uuid.UUID {
	f.t.Helper()
	ctx := context.Background()
	id := v7At(created)
	var finished *time.Time
	if status == store.StatusSucceeded || status == store.StatusFailed || status == store.StatusCanceled {
		finished = &created
	}
	_, err := f.b.store.Pool().Exec(ctx, `
		WITH e AS (
			INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, status,
				trigger_kind, created_at, started_at, finished_at, resume_at)
			SELECT $1, $2, $3, v.id, 1, $4, 'webhook', $5, $5, $6, CASE WHEN $4 = 'waiting' THEN now() + interval '1 day' END
			FROM workflow_versions v WHERE v.workflow_id = $3 ORDER BY number DESC LIMIT 1
			RETURNING id, organization_id, status
		), runs AS (
			INSERT INTO node_executions (organization_id, execution_id, node_id, node_type, status, output)
			SELECT e.organization_id, e.id, n, 'transform.data', 'succeeded', '{"x": 1}'
			FROM e, unnest(ARRAY['a', 'b', 'c']) n
		), audit AS (
			INSERT INTO audit_log (id, organization_id, action, target_type, target_id, created_at)
			SELECT e.id, e.organization_id, 'execution.run', 'execution', e.id::text, $5 FROM e
		)
		INSERT INTO email_deliveries (organization_id, execution_id, status, recipients, subject)
		SELECT organization_id, id, 'sent', '{a@example.com}', 'hi' FROM e WHERE status = 'failed'`,
		id, f.wf.OrganizationID, f.wf.ID, status, created, finished)
	if err != nil {
		f.t.Fatalf("execution %s at %v: %v", status, created, err)
	}
	return id
}

// count runs a count query.
func (f historyFixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.b.store.Pool().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (f historyFixture) exists(id uuid.UUID) (execution bool, runs int) {
	f.t.Helper()
	return f.count("SELECT count(*) FROM workflow_executions WHERE id = $1", id) == 1,
		f.count("SELECT count(*) FROM node_executions WHERE execution_id = $1", id)
}

func TestHistoryPruner(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	midnight := now.Truncate(24 * time.Hour)
	f := newHistoryFixture(t, now, 45)
	ctx := context.Background()

	// Day 40 ago: finished executions only, past every retention: its partitions go whole.
	gone := []uuid.UUID{f.execution(store.StatusSucceeded, midnight.AddDate(0, 0, -40).Add(time.Hour)),
		f.execution(store.StatusFailed, midnight.AddDate(0, 0, -40).Add(2*time.Hour))}
	// Day 39 ago: the same, but one execution is still waiting, just before the partition's end: the partition
	// stays, its finished rows go batch by batch, the waiting one stays with its node runs.
	dayWithWaiting := midnight.AddDate(0, 0, -38)
	gone = append(gone, f.execution(store.StatusSucceeded, dayWithWaiting.Add(-20*time.Hour)),
		f.execution(store.StatusCanceled, dayWithWaiting.Add(-10*time.Hour)))
	waiting := f.execution(store.StatusWaiting, dayWithWaiting.Add(-time.Millisecond))
	queued := f.execution(store.StatusQueued, dayWithWaiting.Add(-2*time.Hour))
	// 15 days ago: past the succeeded retention (10 days), not the failed one (20 days).
	gone = append(gone, f.execution(store.StatusSucceeded, now.AddDate(0, 0, -15)))
	failedKept := f.execution(store.StatusFailed, now.AddDate(0, 0, -15))
	recent := f.execution(store.StatusSucceeded, now.Add(-time.Hour))

	pruner := f.b.store.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now),
		store.HistoryRetention{Succeeded: 10 * 24 * time.Hour, Failed: 20 * 24 * time.Hour, Audit: 39 * 24 * time.Hour}, 1)
	report, err := pruner.Prune(ctx)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	for _, id := range gone {
		if e, runs := f.exists(id); e || runs != 0 {
			t.Errorf("pruned %s: execution left %v, node runs left %d", id, e, runs)
		}
	}
	for name, id := range map[string]uuid.UUID{"waiting": waiting, "queued": queued, "failed within retention": failedKept,
		"recent": recent} {
		if e, runs := f.exists(id); !e || runs != 3 {
			t.Errorf("%s %s: execution kept %v, node runs kept %d of 3", name, id, e, runs)
		}
	}
	day40 := midnight.AddDate(0, 0, -40).Format("20060102")
	for _, table := range []string{"workflow_executions", "node_executions", "audit_log"} {
		if n := f.count("SELECT count(*) FROM pg_class WHERE relname = $1", table+"_p"+day40); n != 0 {
			t.Errorf("partition %s_p%s not dropped", table, day40)
		}
	}
	if n := f.count("SELECT count(*) FROM pg_class WHERE relname = $1",
		"workflow_executions_p"+dayWithWaiting.AddDate(0, 0, -1).Format("20060102")); n != 1 {
		t.Error("the partition holding a waiting execution was dropped")
	}
	if n := f.count("SELECT count(*) FROM email_deliveries"); n != 1 {
		t.Errorf("%d e-mail deliveries left, want the kept failed execution's only", n)
	}
	if report.PartitionsDropped == 0 || report.ExecutionsDeleted != 3 || report.NodeRunsDeleted != 9 {
		t.Errorf("report %+v: want partitions dropped, 3 executions and 9 node runs deleted in batches", report)
	}

	// A second round finds nothing more to do, and today's partitions are there after Maintain.
	report, err = pruner.Maintain(ctx)
	if err != nil || report.PartitionsDropped != 0 || report.ExecutionsDeleted != 0 {
		t.Errorf("second round: %+v, %v", report, err)
	}
}

// TestHistoryPrunerLeavesTheHotPathFree holds a prune batch open, its rows locked and deleted but not committed,
// while new executions are accepted, run and finished: none of them waits for the pruner.
func TestHistoryPrunerLeavesTheHotPathFree(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	f := newHistoryFixture(t, now, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 6 {
		f.execution(store.StatusSucceeded, now.AddDate(0, 0, -3).Add(time.Duration(i)*time.Minute))
	}
	// A waiting execution keeps the partition from being dropped whole: the prune goes batch by batch.
	waiting := f.execution(store.StatusWaiting, now.AddDate(0, 0, -3))
	pruner := f.b.store.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now),
		store.HistoryRetention{Succeeded: 24 * time.Hour, Failed: 24 * time.Hour}, 2)
	held, release := make(chan struct{}), make(chan struct{})
	first := true
	pruner.SetBeforeBatchCommit(func(context.Context) {
		if first {
			first = false
			close(held)
			<-release
		}
	})
	pruned := make(chan error, 1)
	go func() {
		_, err := pruner.Prune(ctx)
		pruned <- err
	}()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the prune never reached its first batch")
	}

	head, err := f.b.store.WorkflowHeadForRun(ctx, f.b.org.ID, f.wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		e, err := f.b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: f.b.org.ID,
			WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual",
			TriggerData: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))})
		if err != nil {
			t.Fatalf("accept while a prune batch is open: %v", err)
		}
		ref := queue.ExecutionRef{ID: e.ID, OrganizationID: e.OrganizationID, WorkflowID: e.WorkflowID}
		if _, _, err := f.b.store.ExecutionStart(ctx, e.ID); err != nil {
			t.Fatalf("start: %v", err)
		}
		at := time.Now()
		if err := f.b.store.NodeRunRecord(ctx, ref, engine.NodeRun{NodeID: "hook", Type: "trigger.webhook",
			Status: engine.NodeSucceeded, Attempt: 1, StartedAt: at, FinishedAt: at}); err != nil {
			t.Fatalf("record node run: %v", err)
		}
		if changed, err := f.b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref,
			Status: engine.ExecutionSucceeded, StartedAt: at}); err != nil || !changed {
			t.Fatalf("finish while a prune batch is open: %v, %v", changed, err)
		}
	}
	select {
	case err := <-pruned:
		t.Fatalf("the prune ended while its batch was held: %v", err)
	default:
	}
	close(release)
	if err := <-pruned; err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n := f.count("SELECT count(*) FROM workflow_executions WHERE status = 'succeeded' AND created_at > now() - interval '1 hour'"); n != 20 {
		t.Errorf("%d new executions finished, want 20", n)
	}
	if n := f.count("SELECT count(*) FROM workflow_executions WHERE created_at < now() - interval '1 day'"); n != 1 {
		t.Errorf("%d old executions left after the prune, want the waiting one", n)
	}
	if e, runs := f.exists(waiting); !e || runs != 3 {
		t.Errorf("the waiting execution: kept %v, node runs %d of 3", e, runs)
	}
}
