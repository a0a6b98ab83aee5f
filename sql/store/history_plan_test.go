package store_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// queryRecorder is a pgx tracer that keeps the statements a store sends, so that a test can EXPLAIN exactly what
// the store ran, with its arguments.
type queryRecorder struct {
	mu      sync.Mutex
	queries []recordedQuery
}

type recordedQuery struct {
	sql  string
	args []any
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, recordedQuery{sql: data.SQL, args: data.Args})
	return ctx
}

func (r *queryRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements recorded since the last take.
func (r *queryRecorder) take() []recordedQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.queries
	r.queries = nil
	return out
}

// planPartitions is what EXPLAIN ANALYZE says of a statement: the history partitions in its plan after pruning,
// the ones it actually read, and whether a Merge Append (which opens every partition's scan before returning a
// row) is in it.
type planPartitions struct {
	planned, read []string
	mergeAppend   bool
}

func explainAnalyze(t *testing.T, pool *pgxpool.Pool, q recordedQuery) planPartitions {
	t.Helper()
	var plan string
	if err := pool.QueryRow(context.Background(), "EXPLAIN (ANALYZE, FORMAT JSON) "+q.sql, q.args...).Scan(&plan); err != nil {
		t.Fatalf("explain %s: %v", q.sql, err)
	}
	var out planPartitions
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["Node Type"] == "Merge Append" {
				out.mergeAppend = true
			}
			if name, ok := v["Relation Name"].(string); ok && dayPartition.MatchString(name) {
				out.planned = append(out.planned, name)
				if loops, _ := v["Actual Loops"].(float64); loops > 0 {
					out.read = append(out.read, name)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	slices.Sort(out.planned)
	slices.Sort(out.read)
	return out
}

var dayPartition = regexp.MustCompile(`^workflow_executions_p[0-9]{8}$`)

func partitionOf(day time.Time) string { return "workflow_executions_p" + day.Format("20060102") }

// TestHistoryListsReadNewestPartitionsOnly runs the execution list (newest page, next page, filters, search) and the
// dashboard over five days of history and asserts from EXPLAIN ANALYZE of the very statements the store sent that
// they read the newest partitions and stop there (an ordered Append, no Merge Append), and that the dashboard's
// queries leave out every partition before its window.
func TestHistoryListsReadNewestPartitionsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, url := dbtest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	recorder := &queryRecorder{}
	cfg.ConnConfig.Tracer = recorder
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	st, err := store.New(traced)
	if err != nil {
		t.Fatal(err)
	}
	b := testBundle{store: st}
	b.user, b.org, err = st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ada@example.com", Name: "Ada",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	wf := b.workflow(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if _, err := migrations.EnsurePartitions(ctx, pool, today.AddDate(0, 0, -6), 7); err != nil {
		t.Fatal(err)
	}
	// 3,000 executions on each of the five days before today, every fifth failed: enough that a plan which reads
	// whole partitions costs more than one that stops early, as it does at scale.
	for day := 1; day <= 5; day++ {
		loadDay(t, pool, wf, today.AddDate(0, 0, -day), 3000)
	}
	if _, err := pool.Exec(ctx, "ANALYZE workflow_executions"); err != nil {
		t.Fatal(err)
	}
	yesterday, twoDaysAgo := today.AddDate(0, 0, -1), today.AddDate(0, 0, -2)
	recorder.take()

	explainList := func(t *testing.T, f store.ExecutionFilter) ([]store.Execution, planPartitions) {
		t.Helper()
		items, err := st.ExecutionList(ctx, b.org.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		queries := recorder.take()
		if len(queries) != 1 {
			t.Fatalf("the list sent %d statements, want 1", len(queries))
		}
		plan := explainAnalyze(t, pool, queries[0])
		if plan.mergeAppend {
			t.Error("the plan merges every partition (Merge Append) instead of reading them in order")
		}
		return items, plan
	}
	readNoneBefore := func(t *testing.T, plan planPartitions, day time.Time) {
		t.Helper()
		if len(plan.read) == 0 {
			t.Fatal("reads no partition")
		}
		for _, p := range plan.read {
			if p < partitionOf(day) {
				t.Errorf("reads %s, before %s (read: %v)", p, partitionOf(day), plan.read)
			}
		}
	}

	first, plan := explainList(t, store.ExecutionFilter{Limit: 50})

	if len(first) != 50 || !slices.IsSortedFunc(first, func(a, b store.Execution) int { return -strings.Compare(a.ID.String(), b.ID.String()) }) {
		t.Fatalf("first page: %d executions, want the 50 newest in descending id order", len(first))
	}
	if !first[0].CreatedAt.After(first[49].CreatedAt) {
		t.Errorf("first page is not newest first: %v … %v", first[0].CreatedAt, first[49].CreatedAt)
	}
	readNoneBefore(t, plan, yesterday)

	// The next page goes on from the cursor's id: it leaves out the partitions after the cursor's day and stops
	// in the day before.
	second, plan := explainList(t, store.ExecutionFilter{Limit: 50, BeforeID: &first[49].ID})
	if len(second) != 50 || second[0].ID.String() >= first[49].ID.String() {
		t.Fatalf("second page: %d executions, first %s after the cursor %s", len(second), second[0].ID, first[49].ID)
	}
	readNoneBefore(t, plan, twoDaysAgo)
	for _, p := range plan.planned {
		if p > partitionOf(yesterday) {
			t.Errorf("plans %s, after the cursor's day", p)
		}
	}

	// A page that the newest days do not fill is read again without the probe's bound: an older workflow's three
	// executions of five days ago.
	old, err := st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID, Name: "Old",
		Definition: json.RawMessage(definition), AuthorID: &b.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	loadDay(t, pool, old, today.AddDate(0, 0, -5), 3)
	recorder.take()
	if items, err := st.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{WorkflowID: &old.ID, Limit: 50}); err != nil || len(items) != 3 {
		t.Fatalf("old workflow's list: %d executions, %v; want 3", len(items), err)
	}
	if n := len(recorder.take()); n != 2 {
		t.Errorf("old workflow's list sent %d statements, want the probe and the full read", n)
	}

	failed := store.StatusFailed
	for _, f := range []store.ExecutionFilter{{Status: failed, Limit: 10}, {WorkflowID: &wf.ID, Limit: 10},
		{WorkflowID: &wf.ID, Status: failed, Limit: 10}} {
		items, plan := explainList(t, f)
		if len(items) != 10 {
			t.Fatalf("filter %+v: %d executions, want 10", f, len(items))
		}
		readNoneBefore(t, plan, yesterday)
	}

	// A search ranks the newest SearchCandidates matches: yesterday's 600 failures hold them, so the days between
	// are never read, however many matches they hold (the oldest days are, for one index entry: where the days
	// to search end).
	found, plan := explainList(t, store.ExecutionFilter{Query: "boom", Limit: 10})
	if len(found) != 10 {
		t.Fatalf("search: %d executions, want 10", len(found))
	}
	for _, e := range found {
		if e.Error != "boom" || e.CreatedAt.Before(yesterday) {
			t.Errorf("search found %s (%q, created %v), want yesterday's failures", e.ID, e.Error, e.CreatedAt)
		}
	}
	for _, p := range plan.read {
		if p > partitionOf(today.AddDate(0, 0, -5)) && p < partitionOf(yesterday) {
			t.Errorf("search reads %s, a day older than its newest 500 matches (read: %v)", p, plan.read)
		}
	}

	since := yesterday.Add(2 * time.Hour)
	d, err := st.DashboardGet(ctx, b.org.ID, store.DashboardQuery{Since: since, Step: time.Hour, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.RecentFailures) != 5 || d.RecentFailures[4].CreatedAt.Before(since) {
		t.Fatalf("dashboard failures: %+v, want the 5 latest since %v", d.RecentFailures, since)
	}
	queries := recorder.take()
	if len(queries) != 4 {
		t.Fatalf("the dashboard sent %d statements, want 4 (series, in flight, slowest, failures)", len(queries))
	}
	for _, q := range queries {
		plan := explainAnalyze(t, pool, q)
		for _, p := range plan.planned {
			statsBefore := strings.HasPrefix(p, "workflow_stats_minutes_p") && p < "workflow_stats_minutes_p"+yesterday.Format("20060102")
			if p < partitionOf(yesterday) || statsBefore {
				t.Errorf("dashboard query plans %s, before its window:\n%s", p, q.sql)
			}
		}
	}
}

// loadDay writes count executions of wf spread over day, with UUIDv7 ids of their creation times.
func loadDay(t *testing.T, pool *pgxpool.Pool, wf store.Workflow, day time.Time, count int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, status,
			trigger_kind, trigger_data, error, created_at, started_at, finished_at, updated_at)
		SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
				|| substr(md5(g::text || $4::text || $2::text), 1, 19))::uuid,
			$1, $2, v.id, 1, CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'succeeded' END, 'webhook', '{}',
			CASE WHEN g % 5 = 0 THEN 'boom' END, ts, ts, ts + interval '40 milliseconds', ts
		FROM (SELECT g, $4::timestamptz + make_interval(secs => g * 86000.0 / $3) AS ts
		      FROM generate_series(0, $3 - 1) g) s
		CROSS JOIN (SELECT id FROM workflow_versions WHERE workflow_id = $2 LIMIT 1) v`,
		wf.OrganizationID, wf.ID, count, day)
	if err != nil {
		t.Fatalf("load %s: %v", day.Format(time.DateOnly), err)
	}
}
