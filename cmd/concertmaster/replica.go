package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/sql/store"
)

// replicaConfig is the optional read replica: lists, searches, the dashboard and statistics read from it while it
// keeps within MaxLag of the primary.
type replicaConfig struct {
	// URL is DATABASE_READ_URL; "" reads everything from the primary.
	URL    string
	MaxLag time.Duration
	// ProbeInterval is how often the replica's lag is measured.
	ProbeInterval time.Duration
}

// loadReplicaConfig reads DATABASE_READ_URL and DATABASE_READ_MAX_LAG.
func loadReplicaConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	cfg.Replica.URL = get("DATABASE_READ_URL", "")
	if cfg.Replica.URL != "" {
		if u, err := url.Parse(cfg.Replica.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DATABASE_READ_URL", "want a postgres:// URL")
		}
	}
	lag, err := time.ParseDuration(get("DATABASE_READ_MAX_LAG", "5s"))
	if err != nil || lag < 100*time.Millisecond || lag > time.Hour {
		bad("DATABASE_READ_MAX_LAG", "want a duration from 100ms to 1h, such as 5s")
	}
	cfg.Replica.MaxLag = lag
	// Probing several times within the bound notices a lagging replica before readers see much of it.
	cfg.Replica.ProbeInterval = min(max(lag/4, 100*time.Millisecond), time.Second)
}

// startReadReplica connects to the read replica, when one is configured, routes st's lag-tolerant reads through
// it and probes its lag until ctx ends. A replica down at start-up is not fatal: reads use the primary until it
// answers. stop closes its pool.
func startReadReplica(ctx context.Context, cfg *config, primary *pgxpool.Pool, st *store.Store,
	metrics prometheus.Registerer, logger *slog.Logger) (stop func(), err error) {
	if cfg.Replica.URL == "" {
		return func() {}, nil
	}
	pcfg, err := pgxpool.ParseConfig(cfg.Replica.URL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_READ_URL: %w", err)
	}
	pcfg.MaxConns = cfg.DatabaseMaxConns
	replica, err := pgxpool.NewWithConfig(ctx, pcfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("DATABASE_READ_URL: %w", err)
	}
	rr := store.NewReadReplica(primary, replica, store.ReadReplicaConfig{MaxLag: cfg.Replica.MaxLag,
		Logger: logger.With("component", "read_replica")})
	if err := metrics.Register(rr); err != nil {
		replica.Close()
		return nil, err
	}
	st.SetReadReplica(rr)
	probeCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rr.Run(probeCtx, cfg.Replica.ProbeInterval)
	}()
	return func() { cancel(); <-done; replica.Close() }, nil
}
