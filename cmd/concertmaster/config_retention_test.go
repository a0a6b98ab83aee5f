package main

import (
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/sql/store"
)

func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y"}), configNeeds{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.HistoryRetention{Succeeded: 30 * 24 * time.Hour, Failed: 90 * 24 * time.Hour,
		Audit: 365 * 24 * time.Hour, Stats: 30 * 24 * time.Hour}
	if cfg.Retention != want || cfg.HistoryMaintenanceInterval != time.Hour {
		t.Errorf("defaults = %+v, every %v", cfg.Retention, cfg.HistoryMaintenanceInterval)
	}
	cfg, err = loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y",
		"EXECUTION_RETENTION_SUCCEEDED": "0", "EXECUTION_RETENTION_FAILED": "48h"}), configNeeds{})
	if err != nil || cfg.Retention.Succeeded != 0 || cfg.Retention.Failed != 48*time.Hour {
		t.Errorf("set: %+v, %v", cfg.Retention, err)
	}
	for env, name := range map[string]string{
		"EXECUTION_RETENTION_SUCCEEDED=1h":   "EXECUTION_RETENTION_SUCCEEDED",
		"EXECUTION_RETENTION_FAILED=-24h":    "EXECUTION_RETENTION_FAILED",
		"AUDIT_RETENTION=forever":            "AUDIT_RETENTION",
		"HISTORY_MAINTENANCE_INTERVAL=1s":    "HISTORY_MAINTENANCE_INTERVAL",
		"EXECUTION_RETENTION_FAILED=100000h": "EXECUTION_RETENTION_FAILED",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := loadConfig(envFrom(map[string]string{"DATABASE_URL": "postgres://x/y", k: v}), configNeeds{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name %s", env, err, name)
		}
	}
}
