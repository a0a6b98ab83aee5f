package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/errgroup"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// scaleDays is how many days of history BenchmarkHistoryScale spreads its executions over.
const scaleDays = 60

// BenchmarkHistoryScale (make bench-scale; skipped unless SCALE_EXECUTIONS is set) loads SCALE_EXECUTIONS executions
// with three node runs each over 60 days of partitions (see loadScale), rolls them up with the statistics rollup,
// then reports the median and p95 of repeated list, filter, search and dashboard queries, the time to prune 30 days, and the
// history tables' sizes before and after. Each figure is printed with the machine's load average.
func BenchmarkHistoryScale(b *testing.B) {
	count, err := strconv.Atoi(os.Getenv("SCALE_EXECUTIONS"))
	if err != nil || count < scaleDays {
		b.Skip("SCALE_EXECUTIONS is not set: run make bench-scale")
	}
	bundle := setup(b) // a database of its own, dropped when the benchmark ends
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := migrations.EnsurePartitions(ctx, bundle.store.Pool(), now.AddDate(0, 0, -scaleDays), scaleDays+1); err != nil {
		b.Fatal(err)
	}
	tenants, wf := scaleTenants(b, bundle)
	loadScale(b, bundle, tenants, count, now)
	rollUpScale(b, bundle, now)
	reportSizes(b, bundle, "before prune")

	dashboard := func(step time.Duration, buckets int) func() error {
		return func() error { // what the dashboard page reads for a period (handlers/pages dashboard)
			until := time.Now().UTC().Truncate(step).Add(step)
			_, err := bundle.store.DashboardGet(ctx, wf.OrganizationID, store.DashboardQuery{
				Since: until.Add(-time.Duration(buckets) * step), Step: step, Limit: 5})
			if err == nil {
				_, err = bundle.store.StatsMinutes(ctx, wf.OrganizationID, nil, until.Add(-time.Hour), until)
			}
			return err
		}
	}
	queries := []struct {
		name string
		run  func() error
	}{
		{"list (newest 50)", func() error {
			_, err := bundle.store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{Limit: 50})
			return err
		}},
		{"filter (workflow, failed, last 7 days)", func() error {
			since := now.AddDate(0, 0, -7)
			_, err := bundle.store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{WorkflowID: &wf.ID,
				Status: store.StatusFailed, CreatedAfter: &since, Limit: 50})
			return err
		}},
		{"search (errors matching \"boom\", last 7 days)", func() error {
			since := now.AddDate(0, 0, -7)
			_, err := bundle.store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{Query: "boom",
				CreatedAfter: &since, Limit: 50})
			return err
		}},
		{"search (trigger.body.email=customer4242@example.com)", func() error {
			_, err := bundle.store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{
				Query: "trigger.body.email=customer4242@example.com", Limit: 50})
			return err
		}},
		{"dashboard (last 24 hours, by hour)", dashboard(time.Hour, 24)},
		{"dashboard (last 7 days, by 6 hours)", dashboard(6*time.Hour, 28)},
		{"dashboard (last 30 days, by day)", dashboard(24*time.Hour, 30)},
	}
	for _, q := range queries {
		p50, p95 := percentiles(b, 50, q.run)
		b.Logf("%-52s p50 %-9v p95 %-9v (load average %s)", q.name, p50, p95, loadAverage())
	}

	pruner := bundle.store.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now),
		store.HistoryRetention{Succeeded: 30 * 24 * time.Hour, Failed: 30 * 24 * time.Hour}, 0)
	start := time.Now()
	report, err := pruner.Prune(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("prune of 30 days: %v (%d partitions dropped, %d executions deleted in batches; load average %s)",
		time.Since(start).Round(time.Millisecond), report.PartitionsDropped, report.ExecutionsDeleted, loadAverage())
	reportSizes(b, bundle, "after prune")
}

// scaleWorkflows are the organizations and workflows BenchmarkHistoryScale's executions belong to, in equal shares.
type scaleWorkflows struct {
	orgs, workflows, versions []uuid.UUID
}

// scaleDefinition is the benchmark's workflows' definition: the three nodes their executions run.
const scaleDefinition = `{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},
	{"id":"map","type":"transform.data","config":{}},{"id":"check","type":"condition.if","config":{}}],
	"edges":[{"from":"hook","to":"map"},{"from":"map","to":"check"}]}`

// scaleTenants makes the measured organization (the bundle's) with six workflows, the first of which the filter
// reads, and three more organizations with two workflows each: the measured one holds half of the executions and
// its indexes interleave with the others'.
func scaleTenants(b *testing.B, bundle testBundle) (scaleWorkflows, store.Workflow) {
	ctx := context.Background()
	var t scaleWorkflows
	var measured store.Workflow
	add := func(org store.Organization, author uuid.UUID, n int) {
		for i := range n {
			wf, err := bundle.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org.ID,
				Name: fmt.Sprintf("%s flow %d", org.Name, i+1), Definition: json.RawMessage(scaleDefinition), AuthorID: &author})
			if err != nil {
				b.Fatal(err)
			}
			var version uuid.UUID
			if err := bundle.store.Pool().QueryRow(ctx, "SELECT id FROM workflow_versions WHERE workflow_id = $1",
				wf.ID).Scan(&version); err != nil {
				b.Fatal(err)
			}
			if measured.ID == uuid.Nil {
				measured = wf
			}
			t.orgs, t.workflows, t.versions = append(t.orgs, org.ID), append(t.workflows, wf.ID), append(t.versions, version)
		}
	}
	add(bundle.org, bundle.user.ID, 6)
	for i := range 3 {
		user, org, err := bundle.store.UserCreateWithOrganization(ctx, store.NewUser{Email: fmt.Sprintf("owner%d@example.com", i),
			Name: "Owner", PasswordHash: "x", OrganizationName: fmt.Sprintf("Tenant %d", i), Role: store.RoleOwner})
		if err != nil {
			b.Fatal(err)
		}
		add(org, user.ID, 2)
	}
	return t, measured
}

// scaleErrors are the failed executions' errors (%s: the execution's number); one failure in six is a "boom",
// which the search measure looks for.
var scaleErrors = []string{
	`boom: order %s rejected by the fraud check`,
	`HTTP 502 Bad Gateway from https://api.payments.example/v1/charges (order %s)`,
	`timeout: no answer from https://crm.example/api/contacts after 30s (order %s)`,
	`condition.if: field "amount" is not a number in item %s`,
	`HTTP 429 Too Many Requests from https://hooks.chat.example/services, retry after 12s (run %s)`,
	`transform.data: expression {{ $json.customer.address.city }} failed: customer has no address (order %s)`,
}

// loadScale writes count executions spread evenly over the last scaleDays days, with three node runs each, the
// way a restore would: the history tables' indexes but the primary keys are dropped, the days are inserted by
// scaleLoaders connections at once (INSERT … SELECT generate_series, a day a statement), then the indexes are
// built again from their own definitions and the tables vacuumed and analyzed. The schema at the end is the
// migrations' (the same index definitions, on every partition).
//
// The executions take the workflows in turn; 88% succeed, 10% fail (with an error and the node that failed), 2% are
// canceled, and in the last hour 3% are still queued, running or waiting. Triggers: 55% webhooks (a JSON body with
// an order, an amount and a customer's e-mail), 25% schedules, 10% forms, 10% manual (half of them the editor's
// test runs). Most finish 20–420 ms after their trigger, 2% take up to a minute, 0.3% wait minutes to hours.
func loadScale(b *testing.B, bundle testBundle, t scaleWorkflows, count int, now time.Time) {
	ctx := context.Background()
	pool := bundle.store.Pool()
	start := time.Now()
	var indexes []struct{ name, def string }
	rows, err := pool.Query(ctx, `
		SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') FROM pg_indexes
		WHERE schemaname = 'public' AND tablename IN ('workflow_executions', 'node_executions')
		  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'p')`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var ix struct{ name, def string }
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			b.Fatal(err)
		}
		indexes = append(indexes, ix)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, ix := range indexes {
		if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{ix.name}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}

	perDay := count / scaleDays
	step := float64(24*time.Hour/time.Millisecond) / float64(perDay)
	days := make([]int, scaleDays)
	for day := range days {
		days[day] = day
	}
	forEach(b, days, func(day int) error {
		dayStart := now.Add(-time.Duration(scaleDays-day) * 24 * time.Hour)
		if _, err := pool.Exec(ctx, scaleLoadDay, t.orgs, t.workflows, t.versions, dayStart, step,
			int64(day*perDay), perDay, now, scaleErrors); err != nil {
			return fmt.Errorf("load day %d: %w", day, err)
		}
		return nil
	})
	loaded := time.Since(start)

	// The run numbers the loader gave (n / workflows + 1 for the n-th execution) continue from the counters.
	total, n := perDay*scaleDays, len(t.workflows)
	for i, wf := range t.workflows {
		if _, err := pool.Exec(ctx, "UPDATE workflow_run_counters SET last_number = $2 WHERE workflow_id = $1",
			wf, (total-i+n-1)/n); err != nil {
			b.Fatal(err)
		}
	}

	indexStart := time.Now()
	forEach(b, indexes, func(ix struct{ name, def string }) error {
		// One statement's transaction: SET LOCAL leaves the pool's connection as it was.
		if _, err := pool.Exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'; "+ix.def); err != nil {
			return fmt.Errorf("%s: %w", ix.def, err)
		}
		return nil
	})
	indexed := time.Since(indexStart)
	// The executions' partitions are vacuumed and analyzed now (the list's and dashboard's index-only counts want
	// their visibility maps), the node runs' are left to autovacuum: read by execution only, and vacuuming them
	// would take as long as the load.
	vacuumStart := time.Now()
	var partitions []string
	rows, err = pool.Query(ctx, "SELECT relid::regclass::text FROM pg_partition_tree('workflow_executions') WHERE isleaf")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			b.Fatal(err)
		}
		partitions = append(partitions, p)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	forEach(b, partitions, func(p string) error {
		_, err := pool.Exec(ctx, "VACUUM "+pgx.Identifier{p}.Sanitize())
		return err
	})
	if _, err := pool.Exec(ctx, "ANALYZE workflow_executions"); err != nil { // the parent and each partition
		b.Fatal(err)
	}
	b.Logf("loaded %d executions and their node runs over %d days in %v: rows %v, %d indexes %v, executions vacuumed and analyzed %v (load average %s)",
		total, scaleDays, time.Since(start).Round(time.Second), loaded.Round(time.Second), len(indexes),
		indexed.Round(time.Second), time.Since(vacuumStart).Round(time.Second), loadAverage())
}

// scaleLoaders is how many connections load days, and build indexes, at once: the machine's two cores.
const scaleLoaders = 2

// scaleLoadDay inserts one day of executions numbered $6 to $6+$7-1 from $4 on, $5 milliseconds apart, with their
// node runs. h, a hash of the number, draws each execution's outcome, trigger and duration (see loadScale). An
// execution's id is a UUIDv7 of its creation time whose random part is its number n times four; its node runs'
// ids are the same plus 1, 2 and 3 (cheaper than hashing, and as unique).
const scaleLoadDay = `
WITH s AS (
    SELECT n, w, h, ts, t,
        CASE WHEN ts > $8::timestamptz - interval '1 hour' AND h % 100 < 3 THEN (ARRAY['running', 'queued', 'waiting'])[h % 100 + 1]
             WHEN (h / 1000) % 100 < 10 THEN 'failed' WHEN (h / 1000) % 100 < 12 THEN 'canceled'
             ELSE 'succeeded' END AS status,
        ts + make_interval(secs => CASE
            WHEN h % 1000 < 3 AND ts < $8::timestamptz - interval '3 hours' THEN 180 + h % 7200
            WHEN h % 100 < 2 THEN 1 + h % 60
            ELSE 0.02 + (h % 400) / 1000.0 END) AS done
    FROM (SELECT n, n % cardinality($2::uuid[]) + 1 AS w, abs(hashint8(n)::bigint) AS h,
                 (abs(hashint8(n)::bigint) / 100000) % 100 AS t,
                 $4::timestamptz + make_interval(secs => (n - $6) * $5 / 1000.0) AS ts
          FROM generate_series($6::bigint, $6 + $7 - 1) n) g
), e AS (
    INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, run_number, kind,
        status, trigger_kind, trigger_data, request_id, error, failed_node_id, created_at, started_at, finished_at,
        updated_at)
    SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(n * 4), 19, '0'))::uuid,
        ($1::uuid[])[w], ($2::uuid[])[w], ($3::uuid[])[w], 1, n / cardinality($2::uuid[]) + 1,
        CASE WHEN t >= 90 AND t < 95 THEN 'test' ELSE 'production' END, status,
        CASE WHEN t < 55 THEN 'webhook' WHEN t < 80 THEN 'schedule' WHEN t < 90 THEN 'form' ELSE 'manual' END,
        CASE WHEN t < 55 THEN jsonb_build_object('body', jsonb_build_object('order', n, 'amount', (n % 50000) / 100.0,
                'currency', 'EUR', 'email', 'customer' || n % 20000 || '@example.com'),
                'headers', jsonb_build_object('content-type', 'application/json', 'user-agent', 'shop/2.1'))
             WHEN t < 80 THEN jsonb_build_object('scheduled_at', date_trunc('minute', ts))
             WHEN t < 90 THEN jsonb_build_object('fields', jsonb_build_object('name', 'Customer ' || n % 20000,
                'email', 'customer' || n % 20000 || '@example.com', 'message', 'Please call me about order ' || n))
             ELSE jsonb_build_object('input', jsonb_build_object('order', n)) END,
        CASE WHEN t < 90 THEN 'req-' || to_hex(h) END,
        CASE WHEN status = 'failed' THEN format(($9::text[])[(h / 10000) % cardinality($9::text[]) + 1], n) END,
        CASE WHEN status = 'failed' THEN CASE WHEN h % 2 = 0 THEN 'map' ELSE 'check' END END,
        ts, ts + interval '3 milliseconds',
        CASE WHEN status IN ('succeeded', 'failed', 'canceled') THEN done END,
        CASE WHEN status IN ('succeeded', 'failed', 'canceled') THEN done ELSE ts END
    FROM s
    RETURNING id, organization_id, status, error, failed_node_id, trigger_data, started_at,
        coalesce(finished_at, started_at + interval '30 milliseconds') - started_at AS span
)
INSERT INTO node_executions (id, organization_id, execution_id, node_id, node_type, status, port, input, output, error,
    started_at, finished_at, created_at, updated_at)
SELECT overlay(e.id::text PLACING to_hex(('x' || right(e.id::text, 1))::bit(4)::int + node.i) FROM 36)::uuid,
    e.organization_id, e.id, node.id, node.type, r.status, CASE WHEN node.id = 'check' THEN 'true' ELSE '' END,
    CASE WHEN node.i > 1 THEN e.trigger_data END,
    CASE WHEN r.status = 'succeeded' THEN CASE node.i WHEN 1 THEN e.trigger_data
        WHEN 2 THEN jsonb_build_object('order', e.id, 'route', 'standard', 'items', 3) ELSE '{"passed": true}' END END,
    CASE WHEN r.status = 'failed' THEN e.error END,
    r.started, CASE WHEN r.status NOT IN ('running', 'skipped') THEN r.started + e.span / 3 END,
    r.started, r.started + e.span / 3
FROM e
CROSS JOIN (VALUES (1, 'hook', 'trigger.webhook'), (2, 'map', 'transform.data'), (3, 'check', 'condition.if')) AS node (i, id, type)
CROSS JOIN LATERAL (SELECT e.started_at + e.span * (node.i - 1) / 3 AS started,
    CASE WHEN node.id = e.failed_node_id THEN 'failed'
         WHEN e.status = 'failed' AND e.failed_node_id = 'map' AND node.i = 3 THEN 'skipped'
         WHEN e.status = 'canceled' AND node.i = 3 THEN 'skipped'
         WHEN e.status = 'running' AND node.i = 2 THEN 'running'
         ELSE 'succeeded' END AS status) r
WHERE e.status <> 'queued' AND NOT (e.status IN ('running', 'waiting') AND node.i = 3)`

// rollUpScale rolls the loaded days up into the statistics the dashboard reads, with the rollup's own aggregation
// a day at a time, scaleLoaders days at once (a day per transaction, rather than the running rollup's hour, and
// days in parallel: the same rows, sooner), then runs a round of the rollup itself for the last hour.
func rollUpScale(b *testing.B, bundle testBundle, now time.Time) {
	ctx := context.Background()
	start := time.Now()
	arch := &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now.Add(time.Minute))}
	rollup := bundle.store.NewStatsRollup(arch, store.StatsRollupConfig{Retention: (scaleDays + 1) * 24 * time.Hour})
	first := now.AddDate(0, 0, -scaleDays).Truncate(time.Hour)
	last := now.Truncate(time.Hour).Add(-time.Hour) // the round rolls up from here
	var days []time.Time
	for day := first; day.Before(last); day = day.Add(24 * time.Hour) {
		days = append(days, day)
	}
	forEach(b, days, func(day time.Time) error {
		end := day.Add(24 * time.Hour)
		if end.After(last) {
			end = last
		}
		return rollup.Aggregate(ctx, day, end)
	})
	if _, err := bundle.store.Pool().Exec(ctx, `INSERT INTO stats_rollup_cursors (name, next_minute) VALUES ('workflow_stats', $1)
		ON CONFLICT (name) DO UPDATE SET next_minute = EXCLUDED.next_minute`, last); err != nil {
		b.Fatal(err)
	}
	if _, err := rollup.Round(ctx); err != nil {
		b.Fatal(err)
	}
	var minutes, hours int64
	if err := bundle.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM workflow_stats_minutes),
		(SELECT count(*) FROM workflow_stats_hours)`).Scan(&minutes, &hours); err != nil {
		b.Fatal(err)
	}
	b.Logf("rolled up %d days into %d minute and %d hour statistics rows in %v (load average %s)", scaleDays, minutes,
		hours, time.Since(start).Round(time.Second), loadAverage())
	if _, err := bundle.store.Pool().Exec(ctx, "ANALYZE workflow_stats_minutes, workflow_stats_hours"); err != nil {
		b.Fatal(err)
	}
}

// forEach runs fn for each item, scaleLoaders at once, and fails b on the first error.
func forEach[T any](b *testing.B, items []T, fn func(T) error) {
	work := make(chan T, len(items))
	for _, item := range items {
		work <- item
	}
	close(work)
	var g errgroup.Group
	for range scaleLoaders {
		g.Go(func() error {
			for item := range work {
				if err := fn(item); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, for reading the figures printed beside it.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// percentiles runs fn n times and returns the median and the 95th percentile of its durations.
func percentiles(b *testing.B, n int, fn func() error) (p50, p95 time.Duration) {
	durations := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	return durations[n/2].Round(10 * time.Microsecond), durations[n*95/100].Round(10 * time.Microsecond)
}

// reportSizes logs the history tables' sizes, table and indexes, over every partition.
func reportSizes(b *testing.B, bundle testBundle, when string) {
	for _, table := range []string{"workflow_executions", "node_executions"} {
		var heap, indexes int64
		var partitions int
		err := bundle.store.Pool().QueryRow(context.Background(), `
			SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint, coalesce(sum(pg_indexes_size(relid)), 0)::bigint,
				count(*) FILTER (WHERE isleaf)::int
			FROM pg_partition_tree($1)`, table).Scan(&heap, &indexes, &partitions)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s %-20s %3d partitions, table %s, indexes %s", when, table, partitions, mib(heap), mib(indexes))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
