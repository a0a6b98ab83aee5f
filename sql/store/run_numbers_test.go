package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// runNumbers reads the run numbers of a workflow's executions, smallest first.
func runNumbers(t *testing.T, st *store.Store, wf uuid.UUID) []int64 {
	t.Helper()
	var got []int64
	if err := st.Pool().QueryRow(context.Background(), `SELECT coalesce(array_agg(run_number ORDER BY run_number), '{}')
		FROM workflow_executions WHERE workflow_id = $1`, wf).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// wantOneToN fails unless got is exactly 1 … n.
func wantOneToN(t *testing.T, name string, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d numbered executions, want %d: %v", name, len(got), n, got)
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("%s: numbers are not 1…%d without gaps or repeats: %v", name, n, got)
		}
	}
}

// TestRunNumbersAreUniqueAndGapFreeUnderConcurrency creates executions of two workflows at once through every kind
// of writer (the ingester's group commits, single creations, retries), with requests that fail mixed in, and
// checks that each workflow's numbers are exactly 1 … n.
func TestRunNumbersAreUniqueAndGapFreeUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wfA, wfB := b.workflow(t), b.workflow(t)
	headA, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wfA.ID)
	headB, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wfB.ID)
	ingester := b.store.NewExecutionIngester(testArchetype(), 5*time.Millisecond, 40)
	startService(t, ingester)

	const perWorkflow = 60 // through the ingester, per workflow; plus singles
	const singles = 15
	var wg sync.WaitGroup
	enqueue := func(head store.WorkflowHead) {
		defer wg.Done()
		_, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: head.WorkflowID,
			WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook"})
		if err != nil {
			t.Errorf("enqueue: %v", err)
		}
	}
	for i := range perWorkflow {
		wg.Add(2)
		go enqueue(headA)
		go enqueue(headB)
		if i%10 == 0 { // a request that fails its group: the group is written again one by one
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: b.org.ID, WorkflowID: uuid.New(),
					WorkflowVersionID: headA.VersionID, Version: 1, TriggerKind: "webhook"})
				if fault.CodeOf(err) != fault.NotFound {
					t.Errorf("bad workflow: %v", err)
				}
			}()
		}
	}
	for range singles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
				WorkflowID: wfA.ID, WorkflowVersionID: headA.VersionID, Version: headA.Version, TriggerKind: "manual"}); err != nil {
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	wantOneToN(t, "workflow A", runNumbers(t, b.store, wfA.ID), perWorkflow+singles)
	wantOneToN(t, "workflow B", runNumbers(t, b.store, wfB.ID), perWorkflow)

	// A retry takes the next number and is of kind retry; the execution it retries keeps its own.
	list, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{WorkflowID: &wfB.ID, Limit: 1})
	if err != nil || len(list) != 1 || list[0].RunNumber == 0 || list[0].Kind != store.KindProduction {
		t.Fatalf("newest of B: %+v %v", list, err)
	}
	ref := queue.ExecutionRef{ID: list[0].ID, OrganizationID: b.org.ID, WorkflowID: wfB.ID}
	if _, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	retry, err := b.store.ExecutionRetry(ctx, store.SystemActor, b.org.ID, list[0].ID, nil)
	if err != nil || retry.RunNumber != perWorkflow+1 || retry.Kind != store.KindRetry {
		t.Fatalf("retry: #%d kind %q (%v), want #%d retry", retry.RunNumber, retry.Kind, err, perWorkflow+1)
	}
	// The detail reads the number back.
	got, err := b.store.ExecutionGet(ctx, b.org.ID, retry.ID)
	if err != nil || got.RunNumber != retry.RunNumber {
		t.Fatalf("get: %+v %v", got, err)
	}
}

// TestExecutionKindsFilterAndDashboard: test runs are listed under their kind, and left out of the dashboard.
func TestExecutionKindsFilterAndDashboard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	create := func(kind string) store.Execution {
		t.Helper()
		e, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
			WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual", Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	prod := create("") // the default
	test1, test2 := create(store.KindTest), create(store.KindTest)
	for _, e := range []store.Execution{prod, test1, test2} {
		ref := queue.ExecutionRef{ID: e.ID, OrganizationID: b.org.ID, WorkflowID: wf.ID}
		status := engine.ExecutionFailed
		if e.ID == prod.ID {
			status = engine.ExecutionSucceeded
		}
		if _, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: status, Error: "x",
			StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if prod.Kind != store.KindProduction || test1.Kind != store.KindTest {
		t.Fatalf("kinds: %q %q", prod.Kind, test1.Kind)
	}
	cases := []struct {
		kind string
		want []uuid.UUID
	}{
		{"", []uuid.UUID{test2.ID, test1.ID, prod.ID}},
		{store.KindTest, []uuid.UUID{test2.ID, test1.ID}},
		{store.KindProduction, []uuid.UUID{prod.ID}},
		{store.KindRetry, nil},
	}
	for _, tc := range cases {
		list, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Kind: tc.kind})
		if err != nil {
			t.Fatal(err)
		}
		var got []uuid.UUID
		for _, e := range list {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("kind %q: %v, want %v", tc.kind, got, tc.want)
		}
	}
	// The dashboard's finished counts come from the rollup (TestStatsRollupHoursAndTestRuns keeps test runs apart
	// there); its recent failures are read live and leave test runs out.
	dash, err := b.store.DashboardGet(ctx, b.org.ID, store.DashboardQuery{Since: time.Now().Add(-time.Hour), Step: time.Hour, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(dash.RecentFailures) != 0 {
		t.Errorf("dashboard lists test runs among recent failures: %+v", dash.RecentFailures)
	}
}

// TestExecutionTriggerSearch finds executions by a value in their trigger data, typed or as text, pages through
// them, and refuses a malformed search naming the field.
func TestExecutionTriggerSearch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	bodies := []string{`{"body":{"email":"ann@example.com","total":42}}`, `{"body":{"email":"bob@example.com","total":"42"}}`,
		`{"body":{"email":"ann@example.com","total":7}}`, `{"body":{"customer":{"email":"ann@example.com"}}}`}
	ids := make([]uuid.UUID, len(bodies))
	for i, body := range bodies {
		e, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
			WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook",
			TriggerData: json.RawMessage(body)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.ID
	}
	cases := []struct {
		q    string
		want []uuid.UUID
	}{
		{"trigger.body.email=ann@example.com", []uuid.UUID{ids[2], ids[0]}},
		{`trigger.body.email="bob@example.com"`, []uuid.UUID{ids[1]}},
		{"trigger.body.total=42", []uuid.UUID{ids[1], ids[0]}}, // the number and its text
		{"trigger.body.customer.email = ann@example.com", []uuid.UUID{ids[3]}},
		{"trigger.body.email=nobody", nil},
	}
	for _, tc := range cases {
		list, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: tc.q})
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		var got []uuid.UUID
		for _, e := range list {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	// Pages continue from the cursor.
	first, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: "trigger.body.email=ann@example.com", Limit: 1})
	if err != nil || len(first) != 1 || first[0].ID != ids[2] {
		t.Fatalf("first page: %v %v", first, err)
	}
	next, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: "trigger.body.email=ann@example.com",
		Limit: 1, BeforeID: &first[0].ID})
	if err != nil || len(next) != 1 || next[0].ID != ids[0] {
		t.Fatalf("second page: %v %v", next, err)
	}
	for _, bad := range []string{"trigger.=x", "trigger.a..b=x", "trigger.a.b.c.d.e.f.g.h.i=x"} {
		_, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{Query: bad})
		if fe := fault.As(err); fe.Code != fault.Invalid || len(fe.Fields) != 1 || fe.Fields[0].Field != "q" {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestExecutionDeleteMany deletes finished executions with their node runs and audit entries, never unfinished
// ones nor another organization's.
func TestExecutionDeleteMany(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, _ := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	var ids []uuid.UUID
	for range 3 {
		e, err := b.store.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: b.org.ID,
			WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	now := time.Now()
	for _, id := range ids[:2] {
		ref := queue.ExecutionRef{ID: id, OrganizationID: b.org.ID, WorkflowID: wf.ID}
		if _, err := b.store.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionSucceeded,
			NodeRuns: []engine.NodeRun{{NodeID: "hook", Type: "trigger.webhook", Status: "succeeded", Attempt: 1,
				StartedAt: now, FinishedAt: now}}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.store.ExecutionDeleteMany(ctx, store.SystemActor, uuid.New(), ids); err != nil || len(got) != 0 {
		t.Fatalf("another organization deleted %v (%v)", got, err)
	}
	got, err := b.store.ExecutionDeleteMany(ctx, store.Actor{UserID: &b.user.ID}, b.org.ID, ids)
	slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if err != nil || !slices.Equal(got, ids[:2]) {
		t.Fatalf("deleted %v (%v), want the two finished %v", got, err, ids[:2])
	}
	var runs, audits, left int
	if err := b.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM node_executions),
		(SELECT count(*) FROM audit_log WHERE action = 'execution.delete'), (SELECT count(*) FROM workflow_executions)`).
		Scan(&runs, &audits, &left); err != nil {
		t.Fatal(err)
	}
	if runs != 0 || audits != 2 || left != 1 {
		t.Errorf("node runs %d, audit entries %d, executions left %d; want 0, 2, 1", runs, audits, left)
	}
}
