package main

import (
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/queue"
)

func TestObserveConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y"}), configNeeds{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Observe.LogExecutions != queue.LogExecutionsFailed || cfg.Observe.OTLPEndpoint != "" ||
		cfg.Observe.StatsRetention != 30*24*time.Hour {
		t.Errorf("defaults = %+v", cfg.Observe)
	}
	for env, name := range map[string]string{
		"LOG_EXECUTIONS=some":                        "LOG_EXECUTIONS",
		"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318": "OTEL_EXPORTER_OTLP_ENDPOINT",
		"STATS_RETENTION=10m":                        "STATS_RETENTION",
		"STATS_RETENTION=forever":                    "STATS_RETENTION",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", k: v}), configNeeds{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name %s", env, err, name)
		}
	}
}
