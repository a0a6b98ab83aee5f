package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/handlers"
	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

type serveOptions struct {
	web, workers bool
	// pidFile, when set, is where serve keeps its pid; removing the file stops serve gracefully (holdPIDFile).
	pidFile   string
	listening func(addr string)
	// metricsListening is told METRICS_ADDR's bound address, when it is set.
	metricsListening func(addr string)
}

// serve runs the web server and/or the workers until ctx is canceled, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish, and stops the workers, each within SHUTDOWN_TIMEOUT. Removing
// opts.pidFile cancels ctx too.
func serve(ctx context.Context, getenv func(string) string, opts serveOptions) error {
	// The pid file first: `make run` checks that it is there just before starting serve, so the moment when removing
	// it would stop nothing must be short.
	if opts.pidFile != "" {
		pidCtx, release, err := holdPIDFile(ctx, opts.pidFile)
		if err != nil {
			return err
		}
		defer release()
		ctx = pidCtx
	}
	cfg, err := loadConfig(getenv, configNeeds{secretKey: true})
	if err != nil {
		return err
	}
	logger := newLogger(cfg, os.Stderr)
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := store.New(pool)
	if err != nil {
		return err
	}
	st.SetOrgQueueShare(float64(cfg.Fairness.OrgQueueShare), nil)
	st.SetErrorWorkflowOptions(store.ErrorWorkflowOptions{BaseURL: cfg.BaseURL, Logger: logger})
	closeFiles, err := usePayloads(cfg, st)
	if err != nil {
		return err
	}
	defer closeFiles()

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		store.NewPoolCollector(pool),
	)
	stopReplica, err := startReadReplica(ctx, cfg, pool, st, metrics, logger)
	if err != nil {
		return err
	}
	defer stopReplica()

	// Every background service logs and reads the time through it.
	arch := service.NewArchetype(logger)
	bg, err := startBackground(ctx, cfg, arch, st, metrics, opts.workers)
	if err != nil {
		return err
	}
	defer bg.stop(context.Background()) //nolint:errcheck // a no-op after the graceful stop below
	if !opts.web {
		return runWorkerOnly(ctx, cfg, logger, metrics, bg, opts)
	}

	flagSet, stopFlags, err := startFlags(ctx, cfg, arch, st, logger)
	if err != nil {
		return err
	}
	defer stopFlags()
	bg.useExpress(flagSet)
	web, closeWeb, err := newWebServer(ctx, cfg, arch, st, metrics, bg, logger, flagSet)
	if err != nil {
		return err
	}
	defer closeWeb()
	if cfg.Metrics.Addr != "" {
		stopMetrics, err := startMetricsListener(cfg.Metrics.Addr, web.MetricsHandler(), logger, opts.metricsListening, false)
		if err != nil {
			return err
		}
		defer stopMetrics() //nolint:errcheck // closing a listener that served its last scrape
	}
	return serveHTTP(ctx, cfg, logger, web, bg, opts)
}

// newWebServer builds the web side of a serving process over the background parts: its dependencies, the use
// cases and the handlers. closeWeb releases what it opened.
func newWebServer(ctx context.Context, cfg *config, arch *service.Archetype, st *store.Store, metrics *prometheus.Registry,
	bg *background, logger *slog.Logger, flagSet *flags.Flags) (web *handlers.Server, closeWeb func(), err error) {
	deps, closeDeps, err := webDeps(ctx, cfg, arch, st, metrics, buildVersion(), bg.Redis)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			closeDeps()
		}
	}()
	deps.Registry, deps.Plans = bg.Registry, bg.Plans
	deps.Ingester, deps.Events, deps.Deliveries = bg.Ingester, bg.Events, bg.Deliveries
	deps.WebhookRateLimit, deps.WebhookMaxBodyBytes = cfg.WebhookRateLimit, cfg.WebhookMaxBodyBytes
	if cfg.Replica.URL != "" {
		deps.FreshReadsWindow = cfg.Replica.MaxLag
	}
	deps.MetricsToken, deps.MetricsOwnListener = cfg.Metrics.Token, cfg.Metrics.Addr != ""
	deps.Tracing = bg.Tracing
	deps.Flags, deps.Development = flagSet, cfg.Mode == flags.Development
	if err := integrationDeps(cfg, st, &deps); err != nil {
		return nil, nil, err
	}
	if deps.WebhookKeys, err = secrets.NewKeyring("webhook-secrets", cfg.SecretKey, cfg.SecretKeyPrevious); err != nil {
		return nil, nil, err
	}
	stopJobsUI, err := startJobsUI(ctx, logger, st, &deps)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			stopJobsUI()
		}
	}()
	var mailer app.Mailer // nil unless SMTP_URL is set: links are then shown rather than sent
	if cfg.SMTP != nil {
		mailer = mail.NewSender(*cfg.SMTP)
	}
	outboxKeys, channelKeys, err := app.OutboxKeyrings(cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, nil, err
	}
	// The editor's expression previews run under the limits runs have (EVAL_*), in a pool of the web process.
	previewOpts := cfg.Eval
	previewOpts.Logger = logger
	previews := sandbox.NewPool(previewOpts)
	deps.App = app.New(app.Config{Sandbox: previews, OutboxKeys: outboxKeys, ChannelKeys: channelKeys, Store: st, Plans: bg.Plans, Registry: deps.Registry, Integrations: deps.Integrations,
		ConnectionTester: deps.ConnectionTester, WebhookKeys: deps.WebhookKeys, Limiter: deps.Limiter, Files: deps.Files,
		OrgTriggerRateLimit: cfg.Fairness.OrgTriggerRateLimit, Mailer: mailer, BaseURL: cfg.BaseURL, Logger: logger,
		Flags: flagSet, Retention: cfg.Retention})
	return handlers.New(deps), func() { stopJobsUI(); closeDeps(); previews.Close() }, nil
}

// serveHTTP serves web on LISTEN_ADDR until ctx ends, then shuts down gracefully: the HTTP server first (requests
// in flight may still hand triggers to the ingester), the background parts after it.
func serveHTTP(ctx context.Context, cfg *config, logger *slog.Logger, web *handlers.Server, bg *background, opts serveOptions) error {
	srv := &http.Server{
		Handler:           web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	logger.Info("serving", "url", "http://"+ln.Addr().String(), "version", buildVersion())
	if opts.listening != nil {
		opts.listening(ln.Addr().String())
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// The HTTP server first: requests in flight may still hand triggers to the ingester, which stops after it.
	httpErr := srv.Shutdown(shutdownCtx)
	if errors.Is(httpErr, http.ErrServerClosed) {
		httpErr = nil
	}
	if err := errors.Join(httpErr, bg.stop(shutdownCtx)); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// runWorkerOnly is the rest of a `worker` process: its metrics listener (METRICS_ADDR, the only way Prometheus
// reaches a process without a web server) until ctx ends, then the background parts' graceful stop.
func runWorkerOnly(ctx context.Context, cfg *config, logger *slog.Logger, metrics *prometheus.Registry, bg *background, opts serveOptions) error {
	if cfg.Metrics.Addr != "" {
		stopMetrics, err := startMetricsListener(cfg.Metrics.Addr, admin.MetricsHandler(metrics, cfg.Metrics.Token),
			logger, opts.metricsListening, true)
		if err != nil {
			return err
		}
		defer stopMetrics() //nolint:errcheck // closing a listener that served its last scrape
	}
	<-ctx.Done()
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return bg.stop(stopCtx)
}
