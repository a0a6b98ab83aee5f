package actions_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/sql/dbtest"
)

// targetDatabase creates a database for the node to query, with a small customers table, and returns the
// settings of a PostgreSQL integration reaching it (allow_writes as given) as an ordinary role of its own.
func targetDatabase(t *testing.T, allowWrites bool) string {
	t.Helper()
	return targetDatabaseAs(t, allowWrites, "")
}

// targetDatabaseAs is targetDatabase connecting as a new role created with the given extra attributes
// ("SUPERUSER") or grant ("pg_execute_server_program"), so tests can try privileged roles. Roles are
// cluster-wide: each gets a random name and is dropped after the test.
func targetDatabaseAs(t *testing.T, allowWrites bool, privilege string) string {
	t.Helper()
	pool, dbURL := dbtest.NewDatabase(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, tags jsonb, joined timestamptz,
			balance numeric(12,2), ref uuid);
		INSERT INTO customers VALUES
			(1, 'Ada', '["vip"]', '2024-01-02T03:04:05Z', 12.50, '0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e'),
			(2, 'Bob', NULL, NULL, NULL, NULL);
		CREATE TABLE payments (idempotency_key uuid PRIMARY KEY, order_id int NOT NULL, amount int NOT NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	role := "cm_test_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	password := "pw-" + uuid.NewString()
	create := fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password)
	switch privilege {
	case "":
	case "SUPERUSER":
		create += " SUPERUSER"
	default:
		create += " IN ROLE " + privilege
	}
	for _, stmt := range []string{create, "GRANT ALL ON customers, payments TO " + role} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"host":%q,"port":%s,"database":%q,"user":%q,"password":%q,"sslmode":"disable","allow_writes":%t}`,
		u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), role, password, allowWrites)
}

func TestDatabaseQueriesAreParameterizedAndReadOnly(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	readOnly := env.integration(t, actions.KindPostgres, targetDatabase(t, false), 0, 0)
	svc := env.services(env.factory(t, nil))
	query := func(cfg string) engine.NodeRun {
		_, runs, _ := runChain(t, svc, `{"body":{"name":"Ada","evil":"'; DROP TABLE customers; --"}}`,
			node{id: "db", typ: "action.database", cfg: cfg, retry: &engine.RetryPolicy{MaxAttempts: 2}})
		return runs["db"]
	}
	cfg := func(sql, extra string) string {
		return fmt.Sprintf(`{"integration_id":%q,"query":%q%s}`, readOnly, sql, extra)
	}

	out := output(t, query(cfg("SELECT id, name, tags, joined, balance, ref FROM customers WHERE name = $1 OR id = $2 ORDER BY id",
		`,"params":["{{ trigger.body.name }}","{{ 2 }}"]`)))
	rows := out["rows"].([]any)
	if len(rows) != 2 || out["row_count"] != float64(2) || out["truncated"] != false {
		t.Fatalf("output %v", out)
	}
	ada := rows[0].(map[string]any)
	if ada["id"] != float64(1) || ada["name"] != "Ada" || ada["tags"].([]any)[0] != "vip" ||
		ada["joined"] != "2024-01-02T03:04:05Z" || ada["balance"] != 12.5 || ada["ref"] != "0190a5b4-7c1e-7b9a-8f3e-2d1c0b9a8f7e" {
		t.Errorf("row as object: %v", ada)
	}
	if bob := rows[1].(map[string]any); bob["tags"] != nil || bob["name"] != "Bob" {
		t.Errorf("row with nulls: %v", bob)
	}

	// An injection attempt through a parameter stays data: it matches no name, and the table is still there.
	out = output(t, query(cfg("SELECT id FROM customers WHERE name = $1", `,"params":["{{ trigger.body.evil }}"]`)))
	if out["row_count"] != float64(0) {
		t.Errorf("injection matched rows: %v", out)
	}
	out = output(t, query(cfg("SELECT count(*) AS n FROM customers", "")))
	if out["rows"].([]any)[0].(map[string]any)["n"] != float64(2) {
		t.Errorf("table after injection attempt: %v", out)
	}

	for _, tc := range []struct {
		name, cfg, want string
		attempts        int
	}{
		{"a write in read mode", cfg("INSERT INTO customers (id, name) VALUES (3, 'Eve')", ""), "read-only transaction", 1},
		{"write mode without allow_writes", cfg("DELETE FROM customers", `,"mode":"write"`), "does not allow writes", 1},
		{"two statements", cfg("SELECT 1; DROP TABLE customers", ""), "multiple commands", 1},
		{"statement_timeout", cfg("SELECT pg_sleep(10)", `,"timeout":"200ms"`), "longer than its timeout", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := query(tc.cfg)
			if r.Status != engine.NodeFailed || r.Attempt != tc.attempts || !strings.Contains(r.Error, tc.want) {
				t.Errorf("run %s after %d attempts: %s; want %q", r.Status, r.Attempt, r.Error, tc.want)
			}
		})
	}
	out = output(t, query(cfg("SELECT count(*) AS n FROM customers", "")))
	if out["rows"].([]any)[0].(map[string]any)["n"] != float64(2) {
		t.Errorf("refused statements changed the table: %v", out)
	}

	out = output(t, query(cfg("SELECT g FROM generate_series(1, 10) AS g", `,"max_rows":3`)))
	if out["row_count"] != float64(3) || out["truncated"] != true {
		t.Errorf("row limit: %v", out)
	}
	// The SQL itself is never a template.
	if probs := engine.Validate(&engine.Definition{Nodes: []engine.Node{{ID: "in", Type: "trigger.webhook"},
		{ID: "db", Type: "action.database", Config: []byte(cfg("SELECT * FROM t WHERE name = '{{ input.name }}'", ""))}},
		Edges: []engine.Edge{{From: "in", To: "db"}}}, registry); len(probs) != 1 || probs[0].Field != "config.query" {
		t.Errorf("template in SQL: %v", probs)
	}
}

func TestDatabaseWritesWhenAllowed(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	writable := env.integration(t, actions.KindPostgres, targetDatabase(t, true), 0, 0)
	f := env.factory(t, nil)
	_, runs, _ := runChain(t, env.services(f), `{"body":{"id":3,"name":"Eve","tags":["new"]}}`, node{id: "db", typ: "action.database",
		cfg: fmt.Sprintf(`{"integration_id":%q,"mode":"write","query":"INSERT INTO customers (id, name, tags) VALUES ($1, $2, $3) RETURNING id, tags",
			"params":["{{ trigger.body.id }}","{{ trigger.body.name }}","{{ trigger.body.tags }}"]}`, writable)})
	out := output(t, runs["db"])
	row := out["rows"].([]any)[0].(map[string]any)
	if out["rows_affected"] != float64(1) || row["id"] != float64(3) || row["tags"].([]any)[0] != "new" {
		t.Errorf("insert: %v", out)
	}

	// Another organization cannot use the integration, and an internal database needs an admin's allowance.
	_, runs, _ = runChain(t, f.Services(env.other.ID, env.workflowID, env.executionID), `{}`, node{id: "db", typ: "action.database",
		cfg: fmt.Sprintf(`{"integration_id":%q,"query":"SELECT 1"}`, writable)})
	if r := runs["db"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "not found") {
		t.Errorf("other organization: %+v", r)
	}
	guarded := env.factory(t, func(c *actions.ServicesConfig) { c.OutboundAllowedHosts = nil })
	_, runs, _ = runChain(t, env.services(guarded), `{}`, node{id: "db", typ: "action.database",
		cfg: fmt.Sprintf(`{"integration_id":%q,"query":"SELECT 1"}`, writable)})
	if r := runs["db"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "OUTBOUND_ALLOWED_HOSTS") {
		t.Errorf("internal database: %+v", r)
	}
}

// TestDatabaseIdempotencyKeyMakesAnUpsertWriteOnce: with idempotency_key, the run's key is bound after the params,
// so an upsert keyed on it writes once however often its run is repeated (a resume after a lost record: the
// execution run again with the same id), and once per execution.
func TestDatabaseIdempotencyKeyMakesAnUpsertWriteOnce(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	db := env.integration(t, actions.KindPostgres, targetDatabase(t, true), 0, 0)
	svc := env.services(env.factory(t, nil))
	pay := node{id: "pay", typ: "action.database", cfg: fmt.Sprintf(`{"integration_id":%q,"mode":"write",
		"query":"INSERT INTO payments (idempotency_key, order_id, amount) VALUES ($3, $1, $2) ON CONFLICT (idempotency_key) DO NOTHING",
		"params":["{{ trigger.body.order }}","{{ trigger.body.amount }}"],"idempotency_key":true}`, db)}
	execution := uuid.NewString()
	var affected []any
	for _, run := range []string{execution, execution, uuid.NewString()} {
		_, runs, _ := runChainAs(t, svc, run, `{"body":{"order":7,"amount":250}}`, pay)
		affected = append(affected, output(t, runs["pay"])["rows_affected"])
	}
	if fmt.Sprint(affected) != "[1 0 1]" {
		t.Errorf("rows written by each run %v, want [1 0 1]: once per execution", affected)
	}
	_, runs, _ := runChain(t, svc, `{}`, node{id: "count", typ: "action.database", cfg: fmt.Sprintf(`{"integration_id":%q,
		"query":"SELECT count(*) AS n, count(*) FILTER (WHERE idempotency_key = $1::uuid) AS first FROM payments",
		"params":[%q]}`, db, engine.Input{NodeID: "pay", Env: &engine.Env{Execution: engine.ExecutionInfo{ID: execution}}}.IdempotencyKey())})
	if row := output(t, runs["count"])["rows"].([]any)[0].(map[string]any); row["n"] != float64(2) || row["first"] != float64(1) {
		t.Errorf("payments %v, want 2 rows, one under the first execution's key", row)
	}

	_, err := engine.Compile(&engine.Definition{Nodes: []engine.Node{{ID: "in", Type: "trigger.webhook"},
		{ID: "pay", Type: "action.database", Config: []byte(fmt.Sprintf(`{"integration_id":%q,"query":"SELECT 1",
		"params":[%s],"idempotency_key":true}`, db, strings.TrimSuffix(strings.Repeat(`"x",`, 100), ",")))}},
		Edges: []engine.Edge{{From: "in", To: "pay"}}}, registry)
	if err == nil || !strings.Contains(err.Error(), "idempotency_key") {
		t.Errorf("a key past the 100th parameter: %v, want an error naming idempotency_key", err)
	}
}
