package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// scaleDays is how many days of history BenchmarkHistoryScale spreads its executions over.
const scaleDays = 60

// BenchmarkHistoryScale (make bench-scale; skipped unless SCALE_EXECUTIONS is set) loads SCALE_EXECUTIONS executions
// with three node runs each over 60 days of partitions, in SQL, then reports the p95 of repeated list, filter and
// dashboard queries (the dashboard's from the statistics rollup, which it runs over the loaded days first), the time to prune 30 days, and the history tables' sizes before and after.
func BenchmarkHistoryScale(b *testing.B) {
	count, err := strconv.Atoi(os.Getenv("SCALE_EXECUTIONS"))
	if err != nil || count <= 0 {
		b.Skip("SCALE_EXECUTIONS is not set: run make bench-scale")
	}
	bundle := setup(b)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := migrations.EnsurePartitions(ctx, bundle.store.Pool(), now.AddDate(0, 0, -scaleDays), scaleDays+1); err != nil {
		b.Fatal(err)
	}
	wf := bundle.workflow(b)
	start := time.Now()
	loadScale(b, bundle, wf, count, now)
	b.Logf("loaded %d executions and %d node runs over %d days in %v", count, 3*count, scaleDays, time.Since(start).Round(time.Second))
	rollUpScale(b, bundle, now)
	reportSizes(b, bundle, "before prune")

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
		{"dashboard (last 24 hours, by hour)", func() error {
			_, err := bundle.store.DashboardGet(ctx, wf.OrganizationID, store.DashboardQuery{Since: now.Add(-24 * time.Hour),
				Step: time.Hour, Limit: 5})
			return err
		}},
		{"dashboard (last 30 days, by day)", func() error {
			_, err := bundle.store.DashboardGet(ctx, wf.OrganizationID, store.DashboardQuery{Since: now.AddDate(0, 0, -30),
				Step: 24 * time.Hour, Limit: 5})
			return err
		}},
		{"search (errors matching \"boom\", last 7 days)", func() error {
			since := now.AddDate(0, 0, -7)
			_, err := bundle.store.ExecutionList(ctx, wf.OrganizationID, store.ExecutionFilter{Query: "boom",
				CreatedAfter: &since, Limit: 50})
			return err
		}},
	}
	for _, q := range queries {
		b.Logf("%-40s p95 %v", q.name, p95(b, 50, q.run))
	}

	pruner := bundle.store.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now),
		store.HistoryRetention{Succeeded: 30 * 24 * time.Hour, Failed: 30 * 24 * time.Hour}, 0)
	start = time.Now()
	report, err := pruner.Prune(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("prune of 30 days: %v (%d partitions dropped, %d executions deleted in batches)",
		time.Since(start).Round(time.Millisecond), report.PartitionsDropped, report.ExecutionsDeleted)
	reportSizes(b, bundle, "after prune")
}

// loadScale writes count executions of wf spread evenly over the last scaleDays days (10% failed, the last
// hour's 1% still running), with three node runs each, with INSERT … SELECT generate_series in batches of a day.
func loadScale(b *testing.B, bundle testBundle, wf store.Workflow, count int, now time.Time) {
	ctx := context.Background()
	var versionID string
	if err := bundle.store.Pool().QueryRow(ctx, "SELECT id::text FROM workflow_versions WHERE workflow_id = $1", wf.ID).Scan(&versionID); err != nil {
		b.Fatal(err)
	}
	perDay := count / scaleDays
	step := float64(24*time.Hour/time.Millisecond) / float64(perDay)
	for day := scaleDays; day >= 1; day-- {
		dayStart := now.Add(-time.Duration(day) * 24 * time.Hour)
		_, err := bundle.store.Pool().Exec(ctx, `
			WITH e AS (
				INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, status,
					trigger_kind, trigger_data, error, created_at, started_at, finished_at, updated_at)
				SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
						|| substr(md5(g::text || $6), 1, 19))::uuid,
					$1, $2, $3, 1,
					CASE WHEN g % 10 = 0 THEN 'failed' WHEN $7 AND g % 100 = 1 THEN 'running' ELSE 'succeeded' END,
					'webhook', '{"body": {"order": 1}}', CASE WHEN g % 10 = 0 THEN 'boom' END,
					ts, ts, ts + interval '40 milliseconds', ts
				FROM (SELECT g, $4::timestamptz + make_interval(secs => g * $5 / 1000.0) AS ts
				      FROM generate_series(0, $8 - 1) g) s
				RETURNING id, organization_id, started_at
			)
			INSERT INTO node_executions (organization_id, execution_id, node_id, node_type, status, input, output,
				started_at, finished_at, created_at, updated_at)
			SELECT e.organization_id, e.id, n, 'transform.data', 'succeeded', '{"order": 1}', '{"order": 1}',
				e.started_at, e.started_at, e.started_at, e.started_at
			FROM e, unnest(ARRAY['hook', 'map', 'check']) n`,
			wf.OrganizationID, wf.ID, versionID, dayStart, step, strconv.Itoa(day), day == 1, perDay)
		if err != nil {
			b.Fatalf("load day %d: %v", day, err)
		}
	}
	if _, err := bundle.store.Pool().Exec(ctx, "ANALYZE workflow_executions; ANALYZE node_executions"); err != nil {
		b.Fatal(err)
	}
}

// rollUpScale runs the statistics rollup over the loaded days, as the running rollup would have done minute by
// minute, for the dashboard's queries (they read the rollup, not the executions).
func rollUpScale(b *testing.B, bundle testBundle, now time.Time) {
	ctx := context.Background()
	if _, err := bundle.store.Pool().Exec(ctx, `INSERT INTO stats_rollup_cursors (name, next_minute) VALUES ('workflow_stats', $1)
		ON CONFLICT (name) DO UPDATE SET next_minute = EXCLUDED.next_minute`, now.AddDate(0, 0, -scaleDays).Truncate(time.Minute)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	arch := &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now.Add(time.Minute))}
	rollup := bundle.store.NewStatsRollup(arch, store.StatsRollupConfig{Retention: (scaleDays + 1) * 24 * time.Hour})
	if _, err := rollup.Round(ctx); err != nil {
		b.Fatal(err)
	}
	var rows int64
	if err := bundle.store.Pool().QueryRow(ctx, "SELECT count(*) FROM workflow_stats_minutes").Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("rolled up %d days into %d statistics rows in %v", scaleDays, rows, time.Since(start).Round(time.Second))
	if _, err := bundle.store.Pool().Exec(ctx, "ANALYZE workflow_stats_minutes"); err != nil {
		b.Fatal(err)
	}
}

// p95 runs fn n times and returns the 95th percentile of its durations.
func p95(b *testing.B, n int, fn func() error) time.Duration {
	durations := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	return durations[n*95/100].Round(10 * time.Microsecond)
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
