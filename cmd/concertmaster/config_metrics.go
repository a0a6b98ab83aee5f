package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricsConfig protects /metrics (README, "Accounts and security").
type metricsConfig struct {
	// Token (METRICS_TOKEN), when set, is the Bearer token /metrics requires.
	Token string
	// Addr (METRICS_ADDR), when set, serves /metrics on its own listener, and no longer on LISTEN_ADDR: the
	// metrics stay on a private interface while the app faces the internet.
	Addr string
	// OrganizationLabels (METRICS_ORGANIZATION_LABELS) and WorkflowLabels (METRICS_WORKFLOW_LABELS) cap the distinct
	// organization and workflow label values of the per-workflow execution series (queue.MetricsOptions).
	OrganizationLabels int
	WorkflowLabels     int
}

// maxMetricsLabels caps either label cap: beyond this Prometheus itself suffers.
const maxMetricsLabels = 10000

// minMetricsTokenLength keeps METRICS_TOKEN out of guessing range.
const minMetricsTokenLength = 16

// loadMetricsConfig reads METRICS_TOKEN and METRICS_ADDR.
func loadMetricsConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	if cfg.Metrics.Token = get("METRICS_TOKEN", ""); cfg.Metrics.Token != "" && len(cfg.Metrics.Token) < minMetricsTokenLength {
		bad("METRICS_TOKEN", "must be at least %d characters (try: openssl rand -hex 32)", minMetricsTokenLength)
	}
	if n, err := strconv.Atoi(get("METRICS_ORGANIZATION_LABELS", "100")); err != nil || n < 0 || n > maxMetricsLabels {
		bad("METRICS_ORGANIZATION_LABELS", "want a whole number from 0 to %d", maxMetricsLabels)
	} else {
		cfg.Metrics.OrganizationLabels = n
	}
	if n, err := strconv.Atoi(get("METRICS_WORKFLOW_LABELS", "0")); err != nil || n < 0 || n > maxMetricsLabels {
		bad("METRICS_WORKFLOW_LABELS", "want a whole number from 0 to %d", maxMetricsLabels)
	} else {
		cfg.Metrics.WorkflowLabels = n
	}
	if cfg.Metrics.Addr = get("METRICS_ADDR", ""); cfg.Metrics.Addr != "" {
		if _, _, err := net.SplitHostPort(cfg.Metrics.Addr); err != nil {
			bad("METRICS_ADDR", "want host:port, got %q", cfg.Metrics.Addr)
		} else if cfg.Metrics.Addr == cfg.ListenAddr && !strings.HasSuffix(cfg.Metrics.Addr, ":0") {
			bad("METRICS_ADDR", "must differ from LISTEN_ADDR")
		}
	}
}

// startMetricsListener serves h (the app's metrics handler) at /metrics on METRICS_ADDR; listening, when set, is
// told the address; health adds /healthz (a worker's liveness probe). stop closes it at once: a scrape cut short is
// retried by Prometheus.
func startMetricsListener(addr string, h http.Handler, logger *slog.Logger, listening func(string), health bool) (stop func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if health {
		// The liveness probe of a process without a web server (worker): answering proves the process is up.
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	logger.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	if listening != nil {
		listening(ln.Addr().String())
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener", "error", err)
		}
	}()
	return srv.Close, nil
}
