package store_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestDatabaseOutageIsUnavailable: a database that refuses connections, and one that ends the session in use (as
// a restart does), make a store call fail as Unavailable with a Retry-After wait, which the HTTP surfaces answer
// with 503; the next call after the database is back works.
func TestDatabaseOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wantUnavailable := func(what string, err error) {
		t.Helper()
		wait, ok := fault.RetryAfter(err)
		if fault.CodeOf(err) != fault.Unavailable || !ok || wait < time.Second {
			t.Errorf("%s: %v (code %s, Retry-After %v %v), want Unavailable with a Retry-After", what, err,
				fault.CodeOf(err), wait, ok)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := "postgres://postgres@" + l.Addr().String() + "/none?sslmode=disable&connect_timeout=5"
	l.Close() // nothing listens there now
	pool, err := pgxpool.New(ctx, refusing)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	down, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.ExecutionGet(ctx, uuid.New(), uuid.New())
	wantUnavailable("a read from a database that refuses connections", err)
	_, err = down.ExecutionCreate(ctx, store.SystemActor, store.NewExecution{OrganizationID: uuid.New(),
		WorkflowID: uuid.New(), WorkflowVersionID: uuid.New(), Version: 1, TriggerKind: "manual", TriggerData: []byte(`{}`)})
	wantUnavailable("a write to a database that refuses connections", err)

	// One connection, whose session an administrator ends.
	_, dbURL := dbtest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	st, err := store.New(one)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := one.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1, 10000)", pid); err != nil {
		t.Fatal(err)
	}
	_, err = st.ExecutionGet(ctx, uuid.New(), uuid.New())
	wantUnavailable("a read on a session the database ended", err)
	if _, err := st.ExecutionGet(ctx, uuid.New(), uuid.New()); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("the next read: %v, want NotFound from a new session", err)
	}
}
