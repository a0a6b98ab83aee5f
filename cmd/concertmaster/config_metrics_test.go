package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsTokenAndListener serves the real app with METRICS_TOKEN, then with METRICS_ADDR as well: the token is
// required on /metrics wherever it is served, and with a listener of its own /metrics leaves the main one.
func TestMetricsTokenAndListener(t *testing.T) {
	t.Parallel()
	const token = "metrics-token-0123456789"
	scrape := func(t *testing.T, url, bearer string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && strings.HasSuffix(url, "/metrics") && !strings.Contains(string(body), "go_goroutines ") {
			t.Errorf("GET %s: 200 without the metrics", url)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name       string
		ownAddr    bool
		mainStatus int // /metrics on LISTEN_ADDR with the right token
	}{
		{"token on the main listener", false, 200},
		{"token on a listener of its own", true, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": migratedDatabase(t), "LISTEN_ADDR": "127.0.0.1:0",
				"SECRET_KEY": testSecretKey, "METRICS_TOKEN": token}
			if tc.ownAddr {
				env["METRICS_ADDR"] = "127.0.0.1:0"
			}
			base, metricsBase := startServeWithMetrics(t, env)
			if got := scrape(t, base+"/metrics", token); got != tc.mainStatus {
				t.Errorf("main listener /metrics = %d, want %d", got, tc.mainStatus)
			}
			if got := scrape(t, base+"/healthz", ""); got != 200 {
				t.Errorf("/healthz = %d", got)
			}
			target := base + "/metrics"
			if tc.ownAddr {
				target = metricsBase + "/metrics"
				if metricsBase == "" || metricsBase == base {
					t.Fatalf("no listener of its own: %q", metricsBase)
				}
				if got := scrape(t, metricsBase+"/healthz", ""); got != 404 {
					t.Errorf("the metrics listener serves the app: /healthz = %d", got)
				}
			}
			for bearer, want := range map[string]int{"": 401, "wrong": 401, token + "x": 401, token[:10]: 401, token: 200} {
				if got := scrape(t, target, bearer); got != want {
					t.Errorf("%s with %q = %d, want %d", target, bearer, got, want)
				}
			}
		})
	}
}

// startServeWithMetrics is startServe that also returns the metrics listener's base URL ("" without METRICS_ADDR).
func startServeWithMetrics(t *testing.T, env map[string]string) (base, metrics string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh, metricsCh := make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, envFrom(env), serveOptions{web: true, workers: true,
			listening:        func(addr string) { addrCh <- addr },
			metricsListening: func(addr string) { metricsCh <- "http://" + addr }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case addr := <-addrCh:
		base = "http://" + addr
	case err := <-done:
		done <- nil // for the cleanup, which waits for serve to return
		t.Fatalf("serve stopped early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start listening")
	}
	select {
	case metrics = <-metricsCh:
	default: // the metrics listener, when configured, starts before the main one
	}
	return base, metrics
}

func TestMetricsConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for env, name := range map[string]string{"METRICS_TOKEN=short": "METRICS_TOKEN", "METRICS_ADDR=nowhere": "METRICS_ADDR",
		"METRICS_WORKFLOW_LABELS=-1": "METRICS_WORKFLOW_LABELS", "METRICS_WORKFLOW_LABELS=many": "METRICS_WORKFLOW_LABELS",
		"METRICS_ORGANIZATION_LABELS=10001": "METRICS_ORGANIZATION_LABELS"} {
		k, v, _ := strings.Cut(env, "=")
		_, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", k: v}), configNeeds{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name %s", env, err, name)
		}
	}
}
