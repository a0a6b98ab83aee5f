package store_test

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// manualClock is the lag probe's clock, moved by the test.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *manualClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// waitUntil polls cond until it holds, failing t after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func replicaLagMetric(t *testing.T, rr *store.ReadReplica) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rr)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "concertmaster_db_replica_lag_seconds" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no concertmaster_db_replica_lag_seconds metric")
	return 0
}

// TestReadReplicaServesListsAndFallsBack runs against a real streaming replica made with pg_basebackup from a
// private primary: lists come from the replica while it keeps up, from the primary once it lags beyond the bound
// or stops, and a read marked as following a write always comes from the primary.
func TestReadReplicaServesListsAndFallsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	primary := dbtest.NewCluster(t)
	primary.Exec("postgres", "CREATE DATABASE concertmaster")
	primaryPool := openPool(t, primary.URL("concertmaster"))
	if err := migrations.Up(ctx, primaryPool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	replica := dbtest.NewReplica(t, primary)
	replicaPool := openPool(t, replica.URL("concertmaster"))

	st, err := store.New(primaryPool)
	if err != nil {
		t.Fatal(err)
	}
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rr := store.NewReadReplica(primaryPool, replicaPool, store.ReadReplicaConfig{MaxLag: 5 * time.Second, Now: clock.Now})
	st.SetReadReplica(rr)
	user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "ada@example.com", Name: "Ada",
		PasswordHash: "x", OrganizationName: "Acme", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	b := testBundle{store: st, org: org, user: user}
	b.named(t, "Alpha", "")
	list := func(ctx context.Context) string {
		t.Helper()
		items, err := st.WorkflowList(ctx, org.ID, store.WorkflowFilter{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		names := workflowNames(items)
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	usable := func() bool {
		_ = rr.Check(ctx)
		lag, ok := rr.Lag()
		return ok && lag == 0
	}
	waitUntil(t, "the replica has replayed everything", usable)
	waitUntil(t, "the replica serves Alpha", func() bool { return list(ctx) == "Alpha" })

	// Replay paused: the replica is behind, but within the bound it still serves, so a new workflow is missing
	// from the list, and present for a read that follows its write.
	if _, err := replicaPool.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	b.named(t, "Beta", "")
	if err := rr.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := list(ctx); got != "Alpha" {
		t.Fatalf("within the lag bound, the list came from %q, want the replica's Alpha", got)
	}
	if got := list(store.ReadPrimary(ctx)); got != "Alpha,Beta" {
		t.Fatalf("a read after a write got %q, want the primary's Alpha,Beta", got)
	}

	// Beyond the bound: the primary serves, and the lag is exported.
	clock.Advance(10 * time.Second)
	if err := rr.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, ok := rr.Lag(); ok || lag != 10*time.Second {
		t.Fatalf("lag %s usable %v, want 10s and not usable", lag, ok)
	}
	if got := replicaLagMetric(t, rr); got != 10 {
		t.Errorf("lag metric %v, want 10", got)
	}
	if got := list(ctx); got != "Alpha,Beta" {
		t.Fatalf("beyond the lag bound the list was %q, want the primary's Alpha,Beta", got)
	}

	// Replay resumed: the replica catches up and serves again.
	if _, err := replicaPool.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the replica caught up", usable)
	if got := list(ctx); got != "Alpha,Beta" {
		t.Fatalf("caught up, the list was %q", got)
	}

	// Replica stopped: the very next read falls back, before any probe notices.
	replica.Stop()
	b.named(t, "Gamma", "")
	if got := list(ctx); got != "Alpha,Beta,Gamma" {
		t.Fatalf("with the replica down, the list was %q, want the primary's", got)
	}
	if err := rr.Check(ctx); err == nil {
		t.Fatal("the probe of a stopped replica succeeded")
	}
	if _, ok := rr.Lag(); ok {
		t.Fatal("a stopped replica is still usable")
	}
}
