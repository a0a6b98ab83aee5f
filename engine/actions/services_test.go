package actions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
)

// TestNodesSayWhichServiceIsMissing gives each action node the worker's services less one field: the node fails
// naming what is missing (or, for the response cache, does what engine.Services documents: caches nothing),
// rather than quietly doing less than its config asks.
func TestNodesSayWhichServiceIsMissing(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	f := env.factory(t, nil)
	var hits atomic.Int32
	srv := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "%d", hits.Add(1)) })
	limited := env.integration(t, actions.KindHTTP, `{"auth":"none"}`, 100, time.Hour)
	database := env.integration(t, actions.KindPostgres, targetDatabase(t, false), 0, 0)
	smtp := env.integration(t, actions.KindSMTP,
		`{"host":"127.0.0.1","port":2525,"tls":"none","from":"a@example.com"}`, 0, 0)

	for _, tc := range []struct {
		name    string
		without func(*engine.Services)
		typ     string
		cfg     string
		want    string
	}{
		{"rate limiter", func(s *engine.Services) { s.RateLimiter = nil }, "action.http",
			fmt.Sprintf(`{"url":"%s/limited","integration_id":%q}`, srv.URL, limited), "no rate limiter"},
		{"integrations", func(s *engine.Services) { s.Integrations = nil }, "action.http",
			fmt.Sprintf(`{"url":"%s/limited","integration_id":%q}`, srv.URL, limited), "integrations are not available"},
		{"databases", func(s *engine.Services) { s.Databases = nil }, "action.database",
			fmt.Sprintf(`{"integration_id":%q,"query":"SELECT 1"}`, database), "database connections are not available"},
		{"mailer", func(s *engine.Services) { s.Mailer = nil }, "action.email",
			fmt.Sprintf(`{"integration_id":%q,"to":["b@example.com"],"subject":"s","text":"t"}`, smtp), "e-mail is not available"},
		{"storage", func(s *engine.Services) { s.Storage = nil }, "action.file_export",
			`{"format":"json","filename":"x.json"}`, "file storage is not available"},
		{"HTTP", func(s *engine.Services) { s.HTTP = nil }, "action.http",
			fmt.Sprintf(`{"url":"%s/plain"}`, srv.URL), "HTTP requests are not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := *env.services(f)
			tc.without(&svc)
			_, runs, _ := runChain(t, &svc, `{}`, node{id: "n", typ: tc.typ, cfg: tc.cfg,
				retry: &engine.RetryPolicy{MaxAttempts: 3}})
			r := runs["n"]
			if r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, tc.want) {
				t.Errorf("run %s after %d attempt(s): %s; want a permanent failure saying %q", r.Status, r.Attempt, r.Error, tc.want)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server was called %d times by nodes missing a service", n)
	}

	t.Run("response cache", func(t *testing.T) {
		svc := *env.services(f)
		svc.ResponseCache = nil
		cfg := fmt.Sprintf(`{"url":"%s/cacheable","response":{"cache_ttl":"1h"}}`, srv.URL)
		for i := range 2 {
			out := output(t, mustRun(t, &svc, cfg))
			if _, cached := out["cached"]; cached || out["body"] != fmt.Sprint(i+1) {
				t.Errorf("run %d without a cache: %v", i+1, out)
			}
		}
	})
}

// TestRateGateWaitsForTheNextWindow: a full window that ends within the gate's wait is waited out in place; a
// longer one, or one past the node's deadline, is left to the engine's retry.
func TestRateGateWaitsForTheNextWindow(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*actions.RateGate, *clockwork.FakeClock) {
		clock := clockwork.NewFakeClock()
		return actions.NewRateGate(ratelimit.NewMemoryClock(0, clock.Now), 10*time.Second, clock), clock
	}
	ctx := context.Background()

	t.Run("waits in place", func(t *testing.T) {
		t.Parallel()
		gate, clock := setup(t)
		in := engine.Integration{ID: "a", RateLimit: 1, RateInterval: 5 * time.Second}
		if err := gate.Wait(ctx, in); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- gate.Wait(ctx, in) }()
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := clock.BlockUntilContext(waitCtx, 1); err != nil {
			t.Fatalf("the second request did not wait: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("returned before its window: %v", err)
		default:
		}
		clock.Advance(5 * time.Second)
		if err := <-done; err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
	t.Run("leaves long waits to a retry", func(t *testing.T) {
		t.Parallel()
		gate, _ := setup(t)
		in := engine.Integration{ID: "b", RateLimit: 1, RateInterval: time.Minute}
		_ = gate.Wait(ctx, in)
		err := gate.Wait(ctx, in)
		if err == nil || engine.IsPermanent(err) || !strings.Contains(err.Error(), "rate limit of 1 requests per 1m0s reached") {
			t.Fatalf("over the limit for a minute: %v", err)
		}
	})
	t.Run("leaves waits past the deadline to a retry", func(t *testing.T) {
		t.Parallel()
		gate, _ := setup(t)
		in := engine.Integration{ID: "c", RateLimit: 1, RateInterval: 5 * time.Second}
		_ = gate.Wait(ctx, in)
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := gate.Wait(short, in); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a wait past the deadline: %v", err)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		t.Parallel()
		gate, _ := setup(t)
		for range 100 {
			if err := gate.Wait(ctx, engine.Integration{ID: "d"}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
