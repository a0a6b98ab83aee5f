package main

import (
	"time"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/store"
)

// observeConfig is what a process reports about its work beyond /metrics (README, "Observability").
type observeConfig struct {
	// LogExecutions (LOG_EXECUTIONS) says which finished executions get a log line: off, failed or all.
	LogExecutions queue.LogExecutions
	// OTLPEndpoint (OTEL_EXPORTER_OTLP_ENDPOINT) turns tracing on, exporting spans to this collector.
	OTLPEndpoint string
	// StatsRetention (STATS_RETENTION) is how long per-minute workflow statistics are kept.
	StatsRetention time.Duration
}

// loadObserveConfig reads LOG_EXECUTIONS, OTEL_EXPORTER_OTLP_ENDPOINT and STATS_RETENTION.
func loadObserveConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	var err error
	if cfg.Observe.LogExecutions, err = queue.ParseLogExecutions(get("LOG_EXECUTIONS", "")); err != nil {
		bad("LOG_EXECUTIONS", "%v", err)
	}
	if cfg.Observe.OTLPEndpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT", ""); cfg.Observe.OTLPEndpoint != "" {
		if _, err := tracing.TracesURL(cfg.Observe.OTLPEndpoint); err != nil {
			bad("OTEL_EXPORTER_OTLP_ENDPOINT", "want an http or https URL such as http://collector:4318")
		}
	}
	if d, err := time.ParseDuration(get("STATS_RETENTION", store.DefaultStatsRetention.String())); err != nil ||
		d < time.Hour || d > 5*366*24*time.Hour {
		bad("STATS_RETENTION", "want a duration from 1h to 5 years, such as 720h")
	} else {
		cfg.Observe.StatsRetention = d
	}
}
