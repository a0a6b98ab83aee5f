package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/handlers"
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

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		store.NewPoolCollector(pool),
	)

	// Every background service logs and reads the time through it.
	arch := service.NewArchetype(logger)
	bg, err := startBackground(ctx, cfg, arch, st, metrics, opts.workers)
	if err != nil {
		return err
	}
	defer bg.stop(context.Background()) //nolint:errcheck // a no-op after the graceful stop below
	if !opts.web {
		<-ctx.Done()
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return bg.stop(stopCtx)
	}

	flagSet, stopFlags, err := startFlags(ctx, cfg, arch, st, logger)
	if err != nil {
		return err
	}
	defer stopFlags()
	deps, closeWeb, err := webDeps(ctx, cfg, arch, st, metrics, buildVersion(), bg.Redis)
	if err != nil {
		return err
	}
	deps.Registry, deps.Plans = bg.Registry, bg.Plans
	deps.Ingester, deps.Events, deps.Deliveries = bg.Ingester, bg.Events, bg.Deliveries
	deps.WebhookRateLimit, deps.WebhookMaxBodyBytes = cfg.WebhookRateLimit, cfg.WebhookMaxBodyBytes
	deps.MetricsToken, deps.MetricsOwnListener = cfg.Metrics.Token, cfg.Metrics.Addr != ""
	deps.Flags, deps.Development = flagSet, cfg.Mode == flags.Development
	if err := integrationDeps(cfg, st, &deps); err != nil {
		return err
	}
	if deps.WebhookKeys, err = secrets.NewKeyring("webhook-secrets", cfg.SecretKey, cfg.SecretKeyPrevious); err != nil {
		return err
	}
	defer closeWeb()
	stopJobsUI, err := startJobsUI(ctx, logger, st, &deps)
	if err != nil {
		return err
	}
	defer stopJobsUI()
	var mailer app.Mailer // nil unless SMTP_URL is set: links are then shown rather than sent
	if cfg.SMTP != nil {
		mailer = mail.NewSender(*cfg.SMTP)
	}
	deps.App = app.New(app.Config{Store: st, Plans: bg.Plans, Registry: deps.Registry, Integrations: deps.Integrations,
		ConnectionTester: deps.ConnectionTester, WebhookKeys: deps.WebhookKeys, Limiter: deps.Limiter, Files: deps.Files,
		OrgTriggerRateLimit: cfg.Fairness.OrgTriggerRateLimit, Mailer: mailer, BaseURL: cfg.BaseURL, Logger: logger,
		Flags: flagSet})
	defer deps.App.Outbox.Close() // e-mails being sent finish; those waiting to be retried are given up, logged
	web := handlers.New(deps)
	if cfg.Metrics.Addr != "" {
		stopMetrics, err := startMetricsListener(cfg.Metrics.Addr, web.MetricsHandler(), logger, opts.metricsListening)
		if err != nil {
			return err
		}
		defer stopMetrics() //nolint:errcheck // closing a listener that served its last scrape
	}
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
