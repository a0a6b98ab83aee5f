package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/handlers/httpx"
)

// BenchmarkSignedWebhooksEndToEnd is DESIGN.md's yardstick, run against the real binary's serve command on a real
// PostgreSQL: signed webhook calls to a 3-node workflow (webhook → transform → if), each acknowledged with 202
// after its group commit, each execution run by the in-process workers with every node run recorded. It reports
// executions per second (from the first call to the last execution finished) and the p50/p99 acknowledgement time.
func BenchmarkSignedWebhooksEndToEnd(b *testing.B) {
	dbURL := migratedDatabase(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	hook := activeWebhookWorkflow(b, pool, "Bench", `{"nodes":[
		 {"id":"hook","type":"trigger.webhook","config":{}},
		 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total, email: .body.email}"}},
		 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
		 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`)

	base := startServe(b, map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0",
		"SECRET_KEY": testSecretKey, "LOG_LEVEL": "error", "WORKER_CONCURRENCY": "200", "DATABASE_MAX_CONNS": "40",
		"WEBHOOK_RATE_LIMIT": "100000", "ORG_TRIGGER_RATE_LIMIT": "1000000"})
	url := base + "/hooks/" + hook.Token
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	const senders = 64
	// Each call carries its own order number, as real events do: the same body signed in the same second is a
	// replay, which the webhook refuses.
	work := make(chan []byte, b.N)
	for i := range b.N {
		work <- []byte(fmt.Sprintf(`{"total":250,"email":"a@example.com","order":%d}`, i))
	}
	close(work)
	var mu sync.Mutex
	acks := make([]time.Duration, 0, b.N)
	failures := make(chan error, senders)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(hook.Secret, time.Now(), body))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures <- fmt.Errorf("webhook answered %d", resp.StatusCode)
					return
				}
				mu.Lock()
				acks = append(acks, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var done int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM workflow_executions WHERE status = 'succeeded'").Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done == b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d executions finished", done, b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	var runs int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM node_executions").Scan(&runs); err != nil || runs != 3*b.N {
		b.Fatalf("%d node runs recorded for %d executions (%v)", runs, b.N, err)
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(acks[len(acks)/2].Microseconds())/1000, "ack-p50-ms")
	b.ReportMetric(float64(acks[len(acks)*99/100].Microseconds())/1000, "ack-p99-ms")
}
