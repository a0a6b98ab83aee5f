package queue_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/sql/store"
)

const benchFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","config":{}},
 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total, email: .body.email}"}},
 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`

// BenchmarkExecutionsEndToEnd measures the platform's hot path on a real PostgreSQL: webhook-style triggers
// accepted through the group-commit ingester (execution row + River job per trigger), worked by a River client,
// every node run recorded, the execution marked finished. It reports executions per second and the p50/p99 time
// from a trigger's acceptance to its execution's end.
func BenchmarkExecutionsEndToEnd(b *testing.B) {
	h := newHarness(b)
	head := h.workflow(benchFlow, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ingester := h.ingester()
	h.startWorkerWith(time.Minute, 200, 100*time.Millisecond)

	finished := make(chan store.ExecutionEvent, 1<<16)
	events, unsubscribe := h.events.Subscribe(func(e store.ExecutionEvent) bool {
		return e.NodeID == "" && (e.Status == store.StatusSucceeded || e.Status == store.StatusFailed)
	}, 1<<16)
	defer unsubscribe()
	go func() {
		for e := range events {
			finished <- e
		}
	}()
	waitListening(b, h)

	trigger := json.RawMessage(`{"body":{"total":250,"email":"a@example.com"},"headers":{},"query":{},"method":"POST"}`)
	const senders = 64
	accepted := make(map[string]time.Time, b.N)
	var mu sync.Mutex
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan struct{}, b.N)
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				e, err := ingester.Enqueue(ctx, store.NewExecution{OrganizationID: h.org.ID, WorkflowID: head.WorkflowID,
					WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "webhook", TriggerData: trigger})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				accepted[e.ID.String()] = time.Now()
				mu.Unlock()
			}
		}()
	}
	latencies := make([]time.Duration, 0, b.N)
	timeout := time.After(5 * time.Minute)
	for len(latencies) < b.N {
		select {
		case e := <-finished:
			if e.Status != store.StatusSucceeded {
				b.Fatalf("execution %s %s", e.ExecutionID, e.Status)
			}
			mu.Lock()
			at, ok := accepted[e.ExecutionID.String()]
			mu.Unlock()
			if ok {
				latencies = append(latencies, time.Since(at))
			} else {
				latencies = append(latencies, 0) // finished before its sender recorded the acceptance
			}
		case <-timeout:
			b.Fatalf("%d of %d executions finished", len(latencies), b.N)
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	b.StopTimer()

	var runs int
	if err := h.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM node_executions").Scan(&runs); err != nil || runs != 3*b.N {
		b.Fatalf("%d node runs recorded for %d executions (%v)", runs, b.N, err)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Milliseconds()), "p99-ms")
}
