package main

import (
	"time"

	"github.com/concertmaster/concertmaster/sql/store"
)

// maxRetention bounds every retention setting: ten years.
const maxRetention = 10 * 366 * 24 * time.Hour

// loadRetentionConfig reads EXECUTION_RETENTION_SUCCEEDED, EXECUTION_RETENTION_FAILED, AUDIT_RETENTION and
// HISTORY_MAINTENANCE_INTERVAL. A retention of 0 keeps that history forever. The statistics' retention is
// STATS_RETENTION (loadObserveConfig), read before.
func loadRetentionConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	retention := func(name string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(get(name, def.String()))
		if err != nil || d < 0 || d > maxRetention || (d > 0 && d < 24*time.Hour) {
			bad(name, "want 0 (keep forever) or a duration from 24h to 10 years, such as 720h")
			return 0
		}
		return d
	}
	cfg.Retention = store.HistoryRetention{
		Succeeded: retention("EXECUTION_RETENTION_SUCCEEDED", store.DefaultSucceededRetention),
		Failed:    retention("EXECUTION_RETENTION_FAILED", store.DefaultFailedRetention),
		Audit:     retention("AUDIT_RETENTION", store.DefaultAuditRetention),
		Stats:     cfg.Observe.StatsRetention,
	}
	d, err := time.ParseDuration(get("HISTORY_MAINTENANCE_INTERVAL", store.DefaultHistoryMaintenanceInterval.String()))
	if err != nil || d < time.Minute || d > 24*time.Hour {
		bad("HISTORY_MAINTENANCE_INTERVAL", "want a duration from 1m to 24h, such as 1h")
	} else {
		cfg.HistoryMaintenanceInterval = d
	}
}
