package migrations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/dbtest"
)

// versionBeforePartitions is the last migration with plain history tables.
const versionBeforePartitions = 14

// uuidV7At is SQL for a random UUIDv7 carrying the time ts (an SQL expression), as Go's uuid.NewV7 makes them.
func uuidV7At(ts string) string {
	return fmt.Sprintf(`(lpad(to_hex(floor(extract(epoch FROM %s) * 1000)::bigint), 12, '0') || '7'
		|| substr(md5(random()::text || clock_timestamp()::text), 1, 19))::uuid`, ts)
}

// loadHistory fills a database at schema versionBeforePartitions with an organization's history over the last
// four days and a week-old one: executions in every status, three node runs each, retries, webhook deliveries, audit
// entries, statistics, and the uploads and e-mail deliveries that reference executions.
func loadHistory(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(ctx, `
		INSERT INTO organizations (id, name, slug) VALUES ('0190a000-0000-7000-8000-000000000001', 'Acme', 'acme');
		INSERT INTO users (id, email, name, password_hash)
		VALUES ('0190a000-0000-7000-8000-000000000002', 'a@example.com', 'A', 'x');
		INSERT INTO workflows (id, organization_id, name, current_version)
		VALUES ('0190a000-0000-7000-8000-000000000003', '0190a000-0000-7000-8000-000000000001', 'Orders', 1);
		INSERT INTO workflow_versions (id, organization_id, workflow_id, number, definition)
		VALUES ('0190a000-0000-7000-8000-000000000004', '0190a000-0000-7000-8000-000000000001',
			'0190a000-0000-7000-8000-000000000003', 1, '{"nodes":[],"edges":[]}');
		INSERT INTO webhooks (id, organization_id, workflow_id, token, secret_ciphertext)
		VALUES ('0190a000-0000-7000-8000-000000000005', '0190a000-0000-7000-8000-000000000001',
			'0190a000-0000-7000-8000-000000000003', 'tok', '\x00');`)
	if err != nil {
		t.Fatalf("load organization: %v", err)
	}
	_, err = pool.Exec(ctx, fmt.Sprintf(`
		WITH times AS (
			SELECT g, now() - make_interval(mins => g * 19) AS ts FROM generate_series(0, 299) g
			UNION ALL SELECT 300, now() - interval '7 days'
		)
		INSERT INTO workflow_executions (id, organization_id, workflow_id, workflow_version_id, version, status,
			trigger_kind, trigger_data, error, resume_at, started_at, finished_at, created_at, updated_at)
		SELECT %s, '0190a000-0000-7000-8000-000000000001', '0190a000-0000-7000-8000-000000000003',
			'0190a000-0000-7000-8000-000000000004', 1,
			(ARRAY['succeeded', 'failed', 'waiting', 'queued', 'running', 'canceled'])[g %% 6 + 1],
			'webhook', jsonb_build_object('body', jsonb_build_object('n', g)),
			CASE WHEN g %% 6 = 1 THEN 'boom ' || g END,
			CASE WHEN g %% 6 = 2 THEN now() + interval '1 hour' END,
			ts + interval '1 second', CASE WHEN g %% 6 IN (0, 1, 5) THEN ts + make_interval(secs => g) END, ts, ts
		FROM times`, uuidV7At("ts")))
	if err != nil {
		t.Fatalf("load executions: %v", err)
	}
	_, err = pool.Exec(ctx, `
		UPDATE workflow_executions e SET retry_of = r.id
		FROM (SELECT id, lead(id) OVER (ORDER BY id) AS next FROM workflow_executions) r
		WHERE e.id = r.next AND e.status = 'failed';
		INSERT INTO node_executions (id, organization_id, execution_id, node_id, node_type, status, port, input,
			output, started_at, finished_at, created_at)
		SELECT gen_random_uuid(), e.organization_id, e.id, n, 'transform.data', 'succeeded', '',
			'{"in": 1}', jsonb_build_object('out', n), e.started_at, e.started_at, e.created_at
		FROM workflow_executions e, unnest(ARRAY['hook', 'map', 'check']) n;
		INSERT INTO webhook_deliveries (id, organization_id, webhook_id, status_code, size_bytes, execution_id,
			created_at)
		SELECT e.id, e.organization_id, '0190a000-0000-7000-8000-000000000005', 202, 10, e.id, e.created_at
		FROM workflow_executions e;
		INSERT INTO audit_log (id, organization_id, actor_user_id, action, target_type, target_id, created_at)
		SELECT e.id, e.organization_id, '0190a000-0000-7000-8000-000000000002', 'workflow.run', 'execution',
			e.id::text, e.created_at
		FROM workflow_executions e;
		INSERT INTO workflow_stats_minutes (organization_id, workflow_id, minute, succeeded, failed, canceled,
			duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_max_ms)
		SELECT DISTINCT '0190a000-0000-7000-8000-000000000001'::uuid, '0190a000-0000-7000-8000-000000000003'::uuid,
			date_trunc('minute', created_at), 1, 0, 0, 1, 2, 3, 4
		FROM workflow_executions;
		INSERT INTO email_deliveries (organization_id, execution_id, node_id, status, recipients, subject)
		SELECT organization_id, id, 'mail', 'sent', '{x@example.com}', 'hi' FROM workflow_executions WHERE status = 'failed';
		INSERT INTO uploads (organization_id, source, execution_id, storage_key, filename, content_type, size_bytes,
			sha256)
		SELECT organization_id, 'export', id, 'k/' || id, 'f.csv', 'text/csv', 1, '\x00'
		FROM workflow_executions WHERE status = 'succeeded';`)
	if err != nil {
		t.Fatalf("load history: %v", err)
	}
}

// checksums fingerprints every row of the history tables and of the tables that reference executions, over the
// columns given per table (the columns they had before the migrations under test: a later migration may add
// columns, which would change every row's text without changing a value). columns nil reads the tables' columns
// now and returns them for the second call.
func checksums(t *testing.T, ctx context.Context, pool *pgxpool.Pool, columns map[string]string) (map[string]string, map[string]string) {
	t.Helper()
	sums := map[string]string{}
	if columns == nil {
		columns = map[string]string{}
	}
	for _, table := range append(slices.Clone(migrations.HistoryTables), "email_deliveries", "uploads") {
		if columns[table] == "" {
			var names string
			err := pool.QueryRow(ctx, `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
				WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, table).Scan(&names)
			if err != nil {
				t.Fatalf("columns of %s: %v", table, err)
			}
			columns[table] = names
		}
		var count int
		var sum string
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(r, '|' ORDER BY r)), '')
			FROM (SELECT row(%s)::text AS r FROM %s) t`, columns[table], table)).Scan(&count, &sum)
		if err != nil {
			t.Fatalf("checksum %s: %v", table, err)
		}
		if count == 0 {
			t.Fatalf("%s holds no rows: the test would prove nothing", table)
		}
		sums[table] = fmt.Sprintf("%d rows, %s", count, sum)
	}
	return sums, columns
}

func TestPartitionMigrationKeepsEveryRow(t *testing.T) {
	pool, _ := emptyDatabase(t)
	ctx := context.Background()
	provider, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, versionBeforePartitions); err != nil {
		t.Fatalf("migrate to %d: %v", versionBeforePartitions, err)
	}
	loadHistory(t, ctx, pool)
	before, columns := checksums(t, ctx, pool, nil)

	if err := migrations.Up(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if after, _ := checksums(t, ctx, pool, columns); !mapsEqual(before, after) {
		t.Fatalf("rows changed by the migration:\nbefore %v\nafter  %v", before, after)
	}
	for _, table := range migrations.HistoryTables {
		var kind string
		if err := pool.QueryRow(ctx, "SELECT relkind::text FROM pg_class WHERE oid = $1::regclass", table).Scan(&kind); err != nil || kind != "p" {
			t.Errorf("%s: relkind %q (%v), want a partitioned table", table, kind, err)
		}
	}
	// Every row sits in the partition of its day, and the week-old row got a partition of its own.
	var misplaced, weekOld int
	err = pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM workflow_executions
		 WHERE history_partition_day(tableoid::regclass) <> (uuid_v7_time(id) AT TIME ZONE 'UTC')::date)
		+ (SELECT count(*) FROM node_executions n JOIN workflow_executions e ON e.id = n.execution_id
		   WHERE history_partition_day(n.tableoid::regclass) <> history_partition_day(e.tableoid::regclass)),
		(SELECT count(*) FROM workflow_executions
		 WHERE history_partition_day(tableoid::regclass) = (now() - interval '7 days')::date)`).Scan(&misplaced, &weekOld)
	if err != nil || misplaced != 0 || weekOld != 1 {
		t.Errorf("misplaced rows %d, rows in the week-old partition %d (%v)", misplaced, weekOld, err)
	}
	// The foreign keys into executions still hold both ways.
	if _, err := pool.Exec(ctx, `INSERT INTO email_deliveries (organization_id, execution_id, status, recipients, subject)
		VALUES ('0190a000-0000-7000-8000-000000000001', '0190a000-0000-7000-8000-0000000000ff', 'sent', '{}', '')`); err == nil {
		t.Error("an e-mail delivery of a missing execution was accepted")
	}
	var mails int
	err = pool.QueryRow(ctx, `WITH gone AS (DELETE FROM workflow_executions WHERE status = 'failed' RETURNING id)
		SELECT count(*) FROM gone`).Scan(&mails)
	if err != nil {
		t.Fatalf("delete failed executions: %v", err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM email_deliveries").Scan(&mails); err != nil || mails != 0 {
		t.Errorf("%d e-mail deliveries outlived their executions (%v)", mails, err)
	}

	// And back down: the plain tables again, with the same rows but those deleted above.
	if _, err := provider.DownTo(ctx, versionBeforePartitions); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	var kind string
	if err := pool.QueryRow(ctx, "SELECT relkind::text FROM pg_class WHERE oid = 'workflow_executions'::regclass").Scan(&kind); err != nil || kind != "r" {
		t.Errorf("after down: relkind %q (%v)", kind, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// emptyDatabase is a database without a schema, dropped when t ends.
func emptyDatabase(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, url := dbtest.NewDatabase(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// scannedPartitions lists the partitions a plan reads, from EXPLAIN (FORMAT JSON) of query with args.
func scannedPartitions(t *testing.T, ctx context.Context, pool *pgxpool.Pool, query string, args ...any) []string {
	t.Helper()
	var plan string
	if err := pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&plan); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var found []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if name, ok := v["Relation Name"].(string); ok && partitionName.MatchString(name) && !slices.Contains(found, name) {
				found = append(found, name)
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
	slices.Sort(found)
	return found
}

var partitionName = regexp.MustCompile(`_p[0-9]{8}$`)

func TestHistoryQueriesPrunePartitions(t *testing.T) {
	pool, _ := dbtest.NewDatabase(t)
	ctx := context.Background()
	now := time.Now().UTC()
	// Partitions for the four days before today too, so that an unpruned plan would show them.
	if _, err := migrations.EnsurePartitions(ctx, pool, now.AddDate(0, 0, -4), 0); err != nil {
		t.Fatal(err)
	}
	today := "_p" + now.Format("20060102")
	yesterday := "_p" + now.AddDate(0, 0, -1).Format("20060102")
	id := "" // an id created now
	if err := pool.QueryRow(ctx, "SELECT uuid_v7_floor(now())::text").Scan(&id); err != nil {
		t.Fatal(err)
	}
	org := "0190a000-0000-7000-8000-000000000001"
	cases := []struct {
		name  string
		query string
		args  []any
		want  []string
	}{
		{"execution detail", "SELECT * FROM workflow_executions WHERE id = $1 AND organization_id = $2", []any{id, org},
			[]string{"workflow_executions" + today}},
		{"node runs of an execution", "SELECT * FROM node_executions WHERE execution_id = $1 AND organization_id = $2",
			[]any{id, org}, []string{"node_executions" + today}},
		{"list since yesterday", `SELECT * FROM workflow_executions WHERE organization_id = $1
			AND created_at >= $2 AND id >= uuid_v7_floor($2::timestamptz - interval '1 hour')
			ORDER BY created_at DESC, id DESC LIMIT 50`, []any{org, now.Truncate(24*time.Hour).Add(2*time.Hour).AddDate(0, 0, -1)},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scannedPartitions(t, ctx, pool, tc.query, tc.args...)
			want := tc.want
			if want == nil { // yesterday's partition and every one after it
				for _, p := range got {
					if p < "workflow_executions"+yesterday {
						t.Errorf("scans %s, older than the filter", p)
					}
				}
				if len(got) == 0 {
					t.Error("scans no partition")
				}
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("scans %v, want %v", got, want)
			}
		})
	}
}
