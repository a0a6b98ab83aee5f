package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/handlers"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// background is what a process runs besides its HTTP server: the execution events relay, the group-commit
// ingester for triggers, and (unless --no-workers) the River client working executions.
type background struct {
	Registry *engine.Registry
	// Plans caches compiled workflow versions for this process (workers and the API share it).
	Plans    *engine.PlanCache
	Events   *store.ExecutionEvents
	Ingester *store.ExecutionIngester
	// Deliveries logs webhook calls.
	Deliveries *store.DeliveryLog

	logger  *slog.Logger
	jobs    *river.Client[pgx.Tx]
	cancel  context.CancelFunc
	running sync.WaitGroup
	// stopWrites ends the workers' grouped writes, after the River client has stopped (writesDone then closes).
	stopWrites context.CancelFunc
	// closers release what the background parts hold, last.
	closers    []func()
	writesDone chan struct{}
	stopped    sync.Once
	stopErr    error
}

// startBackground starts the background parts. withWorkers adds the River client that runs executions.
func startBackground(ctx context.Context, cfg *config, logger *slog.Logger, st *store.Store, metrics *prometheus.Registry, withWorkers bool) (*background, error) {
	registry := engine.NewRegistry()
	if err := nodes.Register(registry); err != nil {
		return nil, fmt.Errorf("node types: %w", err)
	}
	if err := actions.Register(registry); err != nil {
		return nil, fmt.Errorf("action node types: %w", err)
	}
	metrics.MustRegister(store.NewQueueCollector(st.Pool()))

	// The background parts outlive ctx: stop ends them in order, after the HTTP server has drained.
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bg := &background{Registry: registry, Plans: engine.NewPlanCache(1024), logger: logger, cancel: cancel,
		Events:   store.NewExecutionEvents(st.Pool(), logger),
		Ingester: st.NewExecutionIngester(logger, store.DefaultIngestWindow, store.DefaultIngestMaxBatch)}
	bg.Deliveries = st.NewDeliveryLog(logger)
	bg.goRun(func() { _ = bg.Events.Run(bgCtx) })
	bg.goRun(func() { bg.Ingester.Run(bgCtx) })
	bg.goRun(func() { bg.Deliveries.Run(bgCtx) })
	bg.goRun(func() { st.NewDedupPruner(logger, store.DefaultDedupPruneInterval, time.Now).Run(bgCtx) })

	if withWorkers {
		services, err := bg.startActionServices(bgCtx, cfg, logger, st)
		if err != nil {
			cancel()
			return nil, err
		}
		// Workers' writes are grouped: an execution's start costs no commit, and completions share theirs.
		writes := st.NewWorkerWrites(logger, store.DefaultIngestWindow, store.DefaultIngestMaxBatch)
		writesCtx, stopWrites := context.WithCancel(context.WithoutCancel(ctx))
		bg.stopWrites = stopWrites
		bg.writesDone = make(chan struct{})
		go func() { writes.Run(writesCtx); close(bg.writesDone) }()
		evalOpts := cfg.Eval
		evalOpts.Logger = logger
		evaluator := sandbox.NewPool(evalOpts)
		// Closed after the workers have stopped: a runner is killed only by its own evaluation's end.
		bg.closers = append(bg.closers, func() { evaluator.Close() })
		worker := queue.NewExecuteWorker(queue.WorkerOptions{
			Store: writes, Registry: registry, Plans: bg.Plans, Logger: logger, Metrics: queue.NewMetrics(metrics),
			Executor:         engine.NewExecutor(engine.ExecutorOptions{Sandbox: evaluator}),
			Services:         services.ForExecution,
			ExecutionTimeout: cfg.ExecutionTimeout,
			MaxWorkerStops:   cfg.Fairness.MaxWorkerStops, OrgMaxRunning: cfg.Fairness.OrgMaxRunning,
		})
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		jobs, err := st.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: cfg.WorkerConcurrency,
			ExecutionTimeout: cfg.ExecutionTimeout, Logger: logger})
		if err != nil {
			cancel()
			return nil, err
		}
		// Cancel requests are published by whichever instance received them; each worker acts on its own.
		cancels, unsubscribe := bg.Events.Subscribe(func(e store.ExecutionEvent) bool { return e.CancelRequested }, 256)
		bg.goRun(func() {
			defer unsubscribe()
			for {
				select {
				case e := <-cancels:
					worker.CancelExecution(e.ExecutionID)
				case <-bgCtx.Done():
					return
				}
			}
		})
		scheduler := st.NewScheduler(logger, nodes.NextScheduledRun)
		bg.goRun(func() { scheduler.Run(bgCtx, time.Second) })
		if err := jobs.Start(bgCtx); err != nil {
			cancel()
			return nil, fmt.Errorf("start workers: %w", err)
		}
		bg.jobs = jobs
		logger.Info("workers started", "concurrency", cfg.WorkerConcurrency)
	}
	return bg, nil
}

func (bg *background) goRun(f func()) {
	bg.running.Add(1)
	go func() {
		defer bg.running.Done()
		f()
	}()
}

// stop stops the workers (running executions get until ctx's deadline to finish, then are canceled and resume
// elsewhere), then the ingester, after writing what it holds, and the events relay. Only the first call acts.
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
		bg.stopWrites()
		<-bg.writesDone
	}
	bg.cancel()
	bg.running.Wait()
	for _, closeFn := range bg.closers {
		closeFn()
	}
	return errors.Join(errs...)
}

// startActionServices builds what action nodes use (integrations with their secrets, file storage, the guarded
// HTTP client, shared rate limits) and starts the sweep of expired exported files.
func (bg *background) startActionServices(ctx context.Context, cfg *config, logger *slog.Logger, st *store.Store) (*actions.ServicesFactory, error) {
	keys, err := secrets.NewKeyring("integrations", cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, err
	}
	files, err := storage.NewLocal(cfg.DataDir, storage.LocalOptions{MaxBytes: cfg.FileMaxBytes})
	if err != nil {
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	var redisClient *redis.Client
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: not a valid Redis URL")
		}
		redisClient = redis.NewClient(opts)
		bg.closers = append(bg.closers, func() { _ = redisClient.Close() })
	}
	// Integrations' rate limits are shared by every worker: in Redis when there is one, else in PostgreSQL.
	var limiter ratelimit.Limiter = st.IntegrationRateLimiter()
	if redisClient != nil {
		limiter = ratelimit.NewRedis(redisClient)
	}
	integrations := store.NewIntegrationStore(st, keys)
	factory, err := actions.NewServicesFactory(actions.ServicesConfig{
		Integrations: integrations, MayUse: handlers.IntegrationUseChecker(integrations), Records: st, Files: files,
		RateLimiter: limiter, Redis: redisClient,
		OutboundAllowedHosts: cfg.OutboundAllowedHosts, FileRetention: cfg.FileRetention, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	bg.closers = append(bg.closers, func() { factory.Close() }, func() { _ = files.Close() })
	bg.goRun(func() {
		ticker := time.NewTicker(time.Hour)
		defer ticker.Stop()
		for {
			if n, err := st.SweepExpiredUploads(ctx, files, time.Now()); err != nil && ctx.Err() == nil {
				logger.Error("sweeping expired files failed", "error", err)
			} else if n > 0 {
				logger.Info("swept expired files", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	})
	return factory, nil
}
