package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestBackupUnderLoadRestoresEveryAcceptedExecution follows the README's backup procedure on a live instance:
// executions keep arriving and running while pg_dump takes a dump, which is restored into a fresh cluster where a
// new instance starts. Every execution accepted before the dump began is in the restored database, and every
// execution there finishes exactly once: each node recorded once, whether the dump caught it queued, running (its
// River job held by a worker of the old instance, taken back by the new one) or finished.
func TestBackupUnderLoadRestoresEveryAcceptedExecution(t *testing.T) {
	live := startPrivateCluster(t)
	liveURL := live.createDatabase(t, "live")
	livePool := connectPool(t, liveURL)
	hook := activeWebhookWorkflow(t, livePool, "Backup", `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{}},
		{"id":"shape","type":"transform.data","config":{"jq":"{n: .body.n}"}},
		{"id":"big","type":"condition.if","config":{"condition":"input.n >= 0"}}],
		"edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`)
	base := startServe(t, map[string]string{"DATABASE_URL": liveURL, "SECRET_KEY": testSecretKey,
		"LISTEN_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "DATA_DIR": t.TempDir(), "WORKER_CONCURRENCY": "4"})
	url := base + "/hooks/" + hook.Token

	// Load: one signed call after another until told to stop, each accepted id noted with when its 202 came.
	type ack struct {
		id uuid.UUID
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if status, id, _ := signedCall(t, url, hook.Secret, n); status == http.StatusAccepted {
				mu.Lock()
				acks = append(acks, ack{id: id, at: time.Now()})
				mu.Unlock()
			}
		}
	}()
	accepted := func() int { mu.Lock(); defer mu.Unlock(); return len(acks) }
	waitFor(t, "the first executions are accepted", 2*time.Minute, func() (bool, string) {
		return accepted() >= 30, fmt.Sprint(accepted(), " accepted")
	})

	// The dump, while the load goes on: its snapshot is taken when it starts.
	dumpStart := time.Now()
	var dump bytes.Buffer
	cmd := live.command("pg_dump", "--format=custom", "--dbname="+liveURL)
	cmd.Stdout = &dump
	if out, err := cmd.StderrPipe(); err == nil {
		go io.Copy(io.Discard, out) //nolint:errcheck // pg_dump's notices
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	afterDump := accepted() + 10
	waitFor(t, "executions are accepted after the dump", 2*time.Minute, func() (bool, string) {
		return accepted() >= afterDump, fmt.Sprint(accepted(), " accepted")
	})
	close(stop)
	<-stopped
	var before []uuid.UUID
	for _, a := range acks {
		if a.at.Before(dumpStart) {
			before = append(before, a.id)
		}
	}

	// Restore into a fresh cluster and start an instance on it.
	fresh := startPrivateCluster(t)
	fresh.createEmptyDatabase(t, "restored")
	restore := fresh.command("pg_restore", "--exit-on-error", "--no-owner", "--dbname="+fresh.url("restored"))
	restore.Stdin = &dump
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	restoredPool := connectPool(t, fresh.url("restored"))
	var restored []uuid.UUID
	rows, err := restoredPool.Query(context.Background(), `SELECT id FROM workflow_executions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		restored = append(restored, id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	inRestore := map[uuid.UUID]bool{}
	for _, id := range restored {
		inRestore[id] = true
	}
	for _, id := range before {
		if !inRestore[id] {
			t.Fatalf("execution %s, accepted before the dump began, is not in the restored database", id)
		}
	}
	var unfinished int
	if err := restoredPool.QueryRow(context.Background(), `SELECT count(*) FROM workflow_executions
		WHERE status IN ('queued', 'running', 'waiting')`).Scan(&unfinished); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d accepted in all, %d before the dump; the dump holds %d, %d of them unfinished", accepted(),
		len(before), len(restored), unfinished)

	startServe(t, map[string]string{"DATABASE_URL": fresh.url("restored"), "SECRET_KEY": testSecretKey,
		"LISTEN_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "DATA_DIR": t.TempDir(), "WORKER_RESCUE_AFTER": "1s"})
	if _, ok := waitExecutionsSucceeded(t, restoredPool, restored, time.Now().Add(3*time.Minute)); !ok {
		describeUnfinished(t, restoredPool, restored)
		t.FailNow()
	}
	var wrong int
	var sample string
	if err := restoredPool.QueryRow(context.Background(), `SELECT count(*), coalesce(min(summary), '') FROM (
		SELECT e.id, string_agg(n.node_id || ':' || n.status, ',' ORDER BY n.node_id) AS summary
		FROM workflow_executions e LEFT JOIN node_executions n ON n.execution_id = e.id
		GROUP BY e.id) runs
		WHERE summary IS DISTINCT FROM 'big:succeeded,hook:succeeded,shape:succeeded'`).Scan(&wrong, &sample); err != nil {
		t.Fatal(err)
	}
	if wrong > 0 {
		t.Errorf("%d restored executions do not have each node recorded once, succeeded (e.g. %q)", wrong, sample)
	}
}

// createEmptyDatabase creates a database without migrating it: a restore brings the schema.
func (c *pgCluster) createEmptyDatabase(t *testing.T, name string) {
	t.Helper()
	if out, err := c.command("createdb", "-h", "127.0.0.1", "-p", c.port, "-U", "postgres", name).CombinedOutput(); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
}
