package migrations_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/dbtest"
)

func TestUpIsIdempotentAndCreatesTheSchema(t *testing.T) {
	pool, _ := dbtest.NewDatabase(t) // already migrated from the template
	ctx := context.Background()
	if err := migrations.Up(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	for _, table := range []string{"users", "organizations", "memberships", "invitations", "sessions", "api_tokens",
		"refresh_tokens", "workflows", "workflow_versions", "workflow_permissions", "workflow_executions",
		"node_executions", "forms", "form_submissions", "uploads", "integrations", "webhooks", "email_deliveries",
		"audit_log", "river_job", "river_leader", "goose_db_version"} {
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
}

func TestUUIDv7IsTimeOrdered(t *testing.T) {
	pool, _ := dbtest.NewDatabase(t)
	ctx := context.Background()
	rows, err := pool.Query(ctx, "SELECT uuid_generate_v7()::text FROM generate_series(1, 50)")
	if err != nil {
		t.Fatal(err)
	}
	var prev string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id[14] != '7' || !(id[19] >= '8' && id[19] <= 'b') {
			t.Errorf("%s is not a version 7, RFC 9562 variant UUID", id)
		}
		if prev != "" && id[:13] < prev[:13] {
			t.Errorf("%s sorts before the earlier %s", id, prev)
		}
		prev = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestFullTextSearchOnWorkflows(t *testing.T) {
	pool, _ := dbtest.NewDatabase(t)
	ctx := context.Background()
	var found string
	err := pool.QueryRow(ctx, `
		WITH org AS (INSERT INTO organizations (name, slug) VALUES ('A', 'a') RETURNING id),
		     wf AS (INSERT INTO workflows (organization_id, name, description)
		            SELECT id, 'Invoice sync', 'Copies paid invoices to the ledger' FROM org RETURNING id)
		SELECT 'inserted' FROM wf`).Scan(&found)
	if err != nil {
		t.Fatal(err)
	}
	err = pool.QueryRow(ctx, "SELECT name FROM workflows WHERE search @@ plainto_tsquery('simple', 'ledger')").Scan(&found)
	if err != nil || found != "Invoice sync" {
		t.Errorf("search found %q, %v", found, err)
	}
}
