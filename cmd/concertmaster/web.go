package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers"
	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/platform/failover"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// webDeps builds what the HTTP layer needs beyond the store: the session store and the rate limiter (Redis when
// REDIS_URL is set, each falling back while Redis is down: sessions to PostgreSQL, limits to this process; without
// it, PostgreSQL and in-process). stop ends the sweep of ended sessions in PostgreSQL after the server has stopped.
func webDeps(ctx context.Context, cfg *config, arch *service.Archetype, st *store.Store, metrics *prometheus.Registry, version string, rc *redisConn) (handlers.Deps, func(), error) {
	deps := handlers.Deps{
		Logger: arch.Logger, DB: st, Store: st, Metrics: metrics, Version: version,
		BaseURL: cfg.BaseURL, SecretKey: cfg.SecretKey,
		SessionIdleTimeout: cfg.SessionIdleTimeout, SessionLifetime: cfg.SessionLifetime,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		SignupEnabled: cfg.SignupEnabled, APIRateLimit: cfg.APIRateLimit,
	}
	pgSessions := pgxstore.NewWithCleanupInterval(st.Pool(), 0)
	deps.Sessions, deps.Limiter = pgSessions, ratelimit.NewMemory(0)
	if rc != nil {
		deps.Sessions = failover.NewSessions(goredisstore.NewWithPrefix(rc.client, "concertmaster:session:"), pgSessions, rc.health)
		deps.Limiter = ratelimit.Fallback{Primary: ratelimit.NewRedis(rc.client), Secondary: deps.Limiter, Health: rc.health}
		deps.Optional = map[string]func() string{"redis": rc.health.State}
	}
	// Swept with Redis too: the sessions begun while it was down live in PostgreSQL.
	stop, err := sweepSessions(ctx, arch, st)
	return deps, stop, err
}

// sessionSweepInterval is how often ended sessions are deleted from PostgreSQL.
const sessionSweepInterval = 5 * time.Minute

// sweepSessions starts the service deleting ended sessions periodically; stop ends it.
func sweepSessions(ctx context.Context, arch *service.Archetype, st *store.Store) (stop func(), err error) {
	sweeper := service.NewPeriodic(arch.Clock, sessionSweepInterval, func(ctx context.Context) {
		if _, err := st.SessionDeleteExpired(ctx); err != nil && ctx.Err() == nil {
			arch.Logger.Warn("delete expired sessions", "error", err)
		}
	})
	// Like the background parts, it outlives ctx (canceled at the start of shutdown) until the server drained.
	if err := sweeper.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return sweeper.Stop, nil
}

// integrationDeps gives the web process what integrations and files need: the sealed-secrets store, the connection
// tester (through the same outbound guard as the nodes) and the file storage for downloads.
func integrationDeps(cfg *config, st *store.Store, deps *handlers.Deps) error {
	keys, err := secrets.NewKeyring("integrations", cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return err
	}
	deps.Integrations = store.NewIntegrationStore(st, keys)
	if deps.ConnectionTester, err = actions.NewConnectionTester(cfg.OutboundAllowedHosts); err != nil {
		return fmt.Errorf("OUTBOUND_ALLOWED_HOSTS: %w", err)
	}
	if deps.Files, err = openStorage(cfg); err != nil {
		return err
	}
	return nil
}

// openStorage opens where files are kept (STORAGE_URL, else DATA_DIR): every command that reads or keeps files
// goes through it, so web and worker processes agree. A bucket is checked at once, so a wrong URL or key stops
// the process at start.
func openStorage(cfg *config) (storage.Opened, error) {
	opts := cfg.StorageCreds
	opts.MaxBytes = cfg.FileMaxBytes
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := storage.Open(ctx, cfg.Storage, opts)
	if err != nil {
		if cfg.Storage.S3 != nil || cfg.Storage.Dir != cfg.DataDir {
			return nil, fmt.Errorf("STORAGE_URL: %w", err)
		}
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	return files, nil
}

// startJobsUI starts River's UI (the job monitor at /admin/jobs) over the store's insert-only River client, so a
// web-only process (serve --no-workers) serves it too, and puts it in deps. stop cancels the context of the UI's
// background count caches (River UI's Handler has no Stop to wait on: they end on their own once it is canceled,
// their queries canceled with it); serve calls it once the HTTP server has drained, before the pool closes.
func startJobsUI(ctx context.Context, logger *slog.Logger, st *store.Store, deps *handlers.Deps) (stop func(), err error) {
	ui, err := admin.NewJobsUI(st.Jobs(), logger)
	if err != nil {
		return nil, fmt.Errorf("job monitor: %w", err)
	}
	// Like the background parts, the UI outlives ctx (canceled at the start of shutdown) until the server drained.
	uiCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := ui.Start(uiCtx); err != nil {
		cancel()
		return nil, fmt.Errorf("job monitor: %w", err)
	}
	deps.JobsUI = ui
	return cancel, nil
}
