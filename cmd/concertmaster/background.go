package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/store"
)

// background is what a process runs besides its HTTP server: the execution events relay, the group-commit
// ingester for triggers, the webhook delivery log, the pruner of expired nonces and keys, and (unless
// --no-workers) the River client working executions with the workers' grouped writes, their cancel listener, the
// scheduler and the sweep of expired files. Every part but the River client is a service.Service.
type background struct {
	Registry *engine.Registry
	// Plans loads compiled workflow versions for this process (workers and the API share its cache).
	Plans    *engine.PlanLoader
	Events   *store.ExecutionEvents
	Ingester *store.ExecutionIngester
	// Deliveries logs webhook calls.
	Deliveries *store.DeliveryLog
	// Redis is the process's Redis connection (nil without REDIS_URL), for the web parts too.
	Redis *redisConn
	// Tracing is the process's tracing (OTEL_EXPORTER_OTLP_ENDPOINT; a no-op when unset), for the web parts too.
	// It is shut down last, exporting what it holds.
	Tracing *tracing.Tracing

	// express is what the express path needs from this process's workers (its Enabled is set by useExpress);
	// nil in a process without workers.
	express *queue.ExpressOptions

	logger *slog.Logger
	jobs   *river.Client[pgx.Tx]
	// cancel ends the River client's context, last: after a stop that did not end it.
	cancel context.CancelFunc
	// writes are the workers' grouped writes, stopped after the River client so that no worker is left waiting.
	writes *store.WorkerWrites
	// services are stopped together once the workers have stopped.
	services []service.Service
	// closers release what the background parts hold, last.
	closers []func()
	stopped sync.Once
	stopErr error
}

// startBackground starts the background parts. withWorkers adds the River client that runs executions.
func startBackground(ctx context.Context, cfg *config, arch *service.Archetype, st *store.Store, metrics *prometheus.Registry, withWorkers bool) (*background, error) {
	logger := arch.Logger
	registry := engine.NewRegistry()
	if err := nodes.Register(registry); err != nil {
		return nil, fmt.Errorf("node types: %w", err)
	}
	if err := actions.Register(registry); err != nil {
		return nil, fmt.Errorf("action node types: %w", err)
	}
	metrics.MustRegister(store.NewQueueCollector(st.Pool()))
	tr, err := tracing.New(ctx, tracing.Config{Endpoint: cfg.Observe.OTLPEndpoint, Version: buildVersion()})
	if err != nil {
		return nil, err
	}
	st.SetTracing(tr)

	// The background parts outlive ctx: stop ends them in order, after the HTTP server has drained.
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bg := &background{Registry: registry, Plans: engine.NewPlanLoader(engine.NewPlanCache(1024), registry, st), logger: logger, cancel: cancel,
		Events:     store.NewExecutionEvents(st.Pool(), arch),
		Ingester:   st.NewExecutionIngester(arch, store.DefaultIngestWindow, store.DefaultIngestMaxBatch),
		Deliveries: st.NewDeliveryLog(arch), Tracing: tr}
	bg.closers = append(bg.closers, func() { bg.shutdownTracing() })
	// Every process runs the statistics rollup; each round is done by one of them (StatsRollup).
	bg.services = []service.Service{bg.Events, bg.Ingester, bg.Deliveries,
		st.NewDedupPruner(arch, store.DefaultDedupPruneInterval),
		st.NewStatsRollup(arch, store.StatsRollupConfig{Retention: cfg.Observe.StatsRetention})}
	if bg.Redis, err = connectRedis(ctx, cfg, arch); err != nil {
		bg.close()
		return nil, err
	}
	if bg.Redis != nil {
		bg.services = append(bg.services, bg.Redis.health)
		bg.closers = append(bg.closers, func() { _ = bg.Redis.client.Close() })
	}
	if !withWorkers {
		if err := service.StartAll(bgCtx, bg.services...); err != nil {
			bg.close()
			return nil, err
		}
		return bg, nil
	}

	if err := bg.startWorkers(ctx, bgCtx, cfg, arch, st, metrics); err != nil {
		bg.close()
		return nil, err
	}
	return bg, nil
}

// startWorkers adds the River client that runs executions and sends the outbox, with what it needs: the action
// nodes' services, the sandbox pool, the workers' grouped writes, the process's liveness, and the services only
// workers run (cancel listener, scheduler, notification evaluator, uploads sweeper). ctx is the start's; bgCtx
// outlives it, until stop.
func (bg *background) startWorkers(ctx, bgCtx context.Context, cfg *config, arch *service.Archetype, st *store.Store,
	metrics *prometheus.Registry) error {
	logger := arch.Logger
	services, files, err := bg.actionServices(cfg, logger, st)
	if err != nil {
		return err
	}
	// Workers' writes are grouped: an execution's start costs no commit, and completions share theirs.
	bg.writes = st.NewWorkerWrites(arch, store.DefaultIngestWindow, store.DefaultIngestMaxBatch)
	evalOpts := cfg.Eval
	evalOpts.Logger = logger
	evaluator := sandbox.NewPool(evalOpts)
	// Closed after the workers have stopped: a runner is killed only by its own evaluation's end.
	bg.closers = append(bg.closers, func() { evaluator.Close() })
	// The process proves it is alive from before its River client exists (the client's id names its lock) until
	// after it has stopped, so that its jobs are taken back only if it dies.
	executor := engine.NewExecutor(engine.ExecutorOptions{Sandbox: evaluator, MaxOutputBytes: cfg.NodeOutputMax})
	queueMetrics := queue.NewMetrics(metrics, queue.MetricsOptions{Slots: cfg.WorkerConcurrency,
		OrganizationLabels: cfg.Metrics.OrganizationLabels, WorkflowLabels: cfg.Metrics.WorkflowLabels})
	bg.express = &queue.ExpressOptions{Plans: bg.Plans, Executor: executor, Metrics: queueMetrics, Logger: logger,
		LogExecutions: cfg.Observe.LogExecutions}
	var worker *queue.ExecuteWorker
	liveness, err := st.NewWorkerLiveness(ctx, arch, store.LivenessConfig{RescueAfter: cfg.WorkerRescueAfter,
		OnAlive: func(alive bool) { worker.SetAlive(alive) }, OnGaveUp: queueMetrics.GaveUp})
	if err != nil {
		return err
	}
	bg.closers = append(bg.closers, liveness.Stop)
	worker = queue.NewExecuteWorker(queue.WorkerOptions{
		Store: bg.writes, Plans: bg.Plans, Logger: logger, Metrics: queueMetrics,
		Executor:         executor,
		Services:         services.ForExecution,
		ExecutionTimeout: cfg.ExecutionTimeout,
		MaxWorkerStops:   cfg.Fairness.MaxWorkerStops, OrgMaxRunning: cfg.Fairness.OrgMaxRunning,
		LogExecutions: cfg.Observe.LogExecutions, Tracing: bg.Tracing,
	})
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	outbox, err := bg.outboxWorker(cfg, logger, st)
	if err != nil {
		return err
	}
	river.AddWorker(workers, outbox)
	river.AddWorker(workers, app.NewHistoryMaintenanceWorker(
		st.NewHistoryPruner(logger, arch.Clock, cfg.Retention, store.DefaultPruneBatch), logger))
	jobs, err := st.NewJobClient(store.JobClientConfig{ID: liveness.ClientID(), Workers: workers, MaxWorkers: cfg.WorkerConcurrency,
		ExecutionTimeout: cfg.ExecutionTimeout, Logger: logger,
		HistoryMaintenance: store.HistoryMaintenanceJob(cfg.HistoryMaintenanceInterval)})
	if err != nil {
		return err
	}
	bg.services = append(bg.services, liveness, cancelListener(bg.Events, worker),
		st.NewScheduler(arch, nodes.NextScheduledRun, store.DefaultScheduleInterval),
		st.NewNotificationEvaluator(arch, store.NotificationEvaluatorConfig{}),
		st.NewUploadSweeper(arch, files, store.DefaultUploadSweepInterval))
	started := append([]service.Service{bg.writes}, bg.services...)
	if err := service.StartAll(bgCtx, started...); err != nil {
		return err
	}
	if err := jobs.Start(bgCtx); err != nil {
		service.StopAll(started...)
		return fmt.Errorf("start workers: %w", err)
	}
	bg.jobs = jobs
	logger.Info("workers started", "concurrency", cfg.WorkerConcurrency)
	return nil
}

// useExpress lets the triggers this process accepts take the express path (queue.Express) where the feature flag
// engine.execution_path says so for their organization. A process without workers always queues: the express
// path borrows the workers' executor, and a web-only process is sized for requests.
func (bg *background) useExpress(flagSet *flags.Flags) {
	if bg.express == nil {
		return
	}
	opts := *bg.express
	opts.Enabled = func(ctx context.Context, org uuid.UUID) bool {
		return flagSet.Variant(ctx, flags.EngineExecutionPath, flags.Subject{OrgID: org}) == flags.ExecutionPathExpress
	}
	bg.Ingester.UseExpress(queue.NewExpress(opts))
}

// cancelListener is the service that cancels the executions this process runs when a cancel request arrives:
// requests are published by whichever instance received them, and each worker acts on its own executions.
func cancelListener(events *store.ExecutionEvents, worker *queue.ExecuteWorker) service.Service {
	// Subscribed now, before the workers start, so that no request is missed.
	cancels, unsubscribe := events.Subscribe(func(e store.ExecutionEvent) bool { return e.CancelRequested }, 256)
	return service.NewLoop(func(ctx context.Context) {
		defer unsubscribe()
		for {
			select {
			case e := <-cancels:
				worker.CancelExecution(e.ExecutionID)
			case <-ctx.Done():
				return
			}
		}
	})
}

// stop stops the workers (running executions get until ctx's deadline to finish, then are canceled and resume
// elsewhere) and their writes, then every other service (the ingester after writing what it holds), and releases
// what they held. Only the first call acts.
func (bg *background) stop(ctx context.Context) error {
	bg.stopped.Do(func() { bg.stopErr = bg.stopOnce(ctx) })
	return bg.stopErr
}

func (bg *background) stopOnce(ctx context.Context) error {
	var errs []error
	if bg.jobs != nil {
		if err := bg.jobs.Stop(ctx); err != nil {
			bg.logger.Warn("workers did not stop in time; canceling running executions", "error", err)
			if err := bg.jobs.StopAndCancel(context.WithoutCancel(ctx)); err != nil {
				errs = append(errs, fmt.Errorf("stop workers: %w", err))
			}
		}
		bg.writes.Stop()
	}
	service.StopAll(bg.services...)
	bg.close()
	return errors.Join(errs...)
}

// shutdownTracing exports the spans still buffered, for at most a few seconds.
func (bg *background) shutdownTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bg.Tracing.Shutdown(ctx); err != nil {
		bg.logger.Warn("tracing: spans not exported at shutdown", "error", err)
	}
}

// close cancels the background context and releases what the parts held.
func (bg *background) close() {
	bg.cancel()
	for _, closeFn := range bg.closers {
		closeFn()
	}
}

// actionServices builds what action nodes use (integrations with their secrets, file storage, the guarded HTTP
// client, shared rate limits); the file storage is returned too, for the sweep of expired files.
func (bg *background) actionServices(cfg *config, logger *slog.Logger, st *store.Store) (*actions.ServicesFactory, storage.Backend, error) {
	keys, err := secrets.NewKeyring("integrations", cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, nil, err
	}
	files, err := openStorage(cfg)
	if err != nil {
		return nil, nil, err
	}
	// Integrations' rate limits are shared by every worker: in Redis when there is one (in PostgreSQL while it is
	// down), else in PostgreSQL.
	var limiter ratelimit.Limiter = st.IntegrationRateLimiter()
	var redisClient *redis.Client
	var redisHealth actions.RedisHealth
	if bg.Redis != nil {
		redisClient, redisHealth = bg.Redis.client, bg.Redis.health
		limiter = ratelimit.Fallback{Primary: ratelimit.NewRedis(redisClient), Secondary: limiter, Health: redisHealth}
	}
	integrations := store.NewIntegrationStore(st, keys)
	factory, err := actions.NewServicesFactory(actions.ServicesConfig{
		Integrations: integrations, MayUse: app.IntegrationUseChecker(integrations), Records: st, Files: files,
		RateLimiter: limiter, Redis: redisClient, RedisHealth: redisHealth,
		OutboundAllowedHosts: cfg.OutboundAllowedHosts, FileRetention: cfg.FileRetention, Logger: logger,
		WrapTransport: bg.Tracing.Transport,
	})
	if err != nil {
		return nil, nil, err
	}
	bg.closers = append(bg.closers, func() { factory.Close() }, func() { _ = files.Close() })
	return factory, files, nil
}

// outboxWorker builds the worker that sends outgoing messages (alerts, channel tests, account mails).
func (bg *background) outboxWorker(cfg *config, logger *slog.Logger, st *store.Store) (*app.OutboxWorker, error) {
	outboxKeys, channelKeys, err := app.OutboxKeyrings(cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, err
	}
	keys, err := secrets.NewKeyring("integrations", cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, err
	}
	var mailer app.Mailer
	if cfg.SMTP != nil {
		mailer = mail.NewSender(*cfg.SMTP)
	}
	return app.NewOutboxWorker(app.OutboxWorkerConfig{Store: st, Integrations: store.NewIntegrationStore(st, keys),
		Mailer: mailer, OutboxKeys: outboxKeys, ChannelKeys: channelKeys, OutboundAllowedHosts: cfg.OutboundAllowedHosts,
		BaseURL: cfg.BaseURL.String(), MaxTriggerBytes: cfg.NotificationTriggerMaxBytes, Logger: logger})
}
