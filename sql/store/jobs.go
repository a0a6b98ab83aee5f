package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/concertmaster/concertmaster/engine/queue"
)

// JobClientConfig tunes the River client of a worker process.
type JobClientConfig struct {
	// ID is the client's id: WorkerLiveness.ClientID, so that the client's running jobs are taken back within
	// seconds if the process dies. Empty gives River's own id, whose jobs only River's slow rescue takes back.
	ID      string
	Workers *river.Workers
	// MaxWorkers is how many executions one process runs at once.
	MaxWorkers int
	// ExecutionTimeout bounds one pass over an execution; a job running longer than that (plus margins, see
	// queue.RescueStuckJobsAfter) belongs to a pass that never returned, and River's rescuer makes it available
	// again. The jobs of a process that died are taken back much sooner by WorkerLiveness.
	ExecutionTimeout time.Duration
	// FetchCooldown and FetchPollInterval override River's fetch pacing when set (tests, benchmarks).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	Logger            *slog.Logger
	// HistoryMaintenance, when set, is the periodic maintenance job (HistoryMaintenanceJob), worked on
	// QueueMaintenance one at a time: Workers must then hold the HistoryMaintenanceArgs worker.
	HistoryMaintenance *river.PeriodicJob
}

// Fetch pacing. River's defaults (100 ms between fetches, each taking at most the free worker slots) cap one client
// at about MaxWorkers×10 jobs a second; a shorter cooldown lets a process keep up with thousands of executions a
// second while a fetch still claims many jobs at once under load.
const (
	defaultFetchCooldown     = 5 * time.Millisecond
	defaultFetchPollInterval = 500 * time.Millisecond
)

// outboxWorkers is how many outgoing messages one process sends at once.
const outboxWorkers = 8

// NewJobClient returns a River client that works the executions queue and the outgoing messages' (workers must hold both kinds' workers).
func (s *Store) NewJobClient(cfg JobClientConfig) (*river.Client[pgx.Tx], error) {
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = defaultFetchCooldown
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = defaultFetchPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	queues := map[string]river.QueueConfig{queue.QueueExecutions: {MaxWorkers: cfg.MaxWorkers},
		QueueOutbox: {MaxWorkers: outboxWorkers}}
	var periodic []*river.PeriodicJob
	if cfg.HistoryMaintenance != nil {
		queues[QueueMaintenance] = river.QueueConfig{MaxWorkers: 1}
		periodic = append(periodic, cfg.HistoryMaintenance)
	}
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		ID:                   cfg.ID,
		Queues:               queues,
		PeriodicJobs:         periodic,
		Workers:              cfg.Workers,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		JobTimeout:           queue.JobTimeout(cfg.ExecutionTimeout),
		RescueStuckJobsAfter: queue.RescueStuckJobsAfter(cfg.ExecutionTimeout),
		Logger:               cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// SetOrgQueueShare sets how many executions a second each organization enqueues at its workflows' priority before
// the rest go to the overflow lane (queue.Lanes); now is the clock, nil for time.Now. Call it before enqueuing.
func (s *Store) SetOrgQueueShare(share float64, now func() time.Time) {
	s.lanes = queue.NewLanes(share, now)
}

// OrganizationRunningJobs counts the execution jobs of org that River has marked running in processes other than
// the River client exceptClient, up to limit. River marks a job running in the statement that fetches it, so a job
// is counted from its pickup on, unlike by the executions' own status (recorded late, in groups). The calling
// process counts its own jobs in memory instead: River records a job's end a little after its worker returned, in
// batches, and those ended jobs would otherwise hold a busy organization below its cap. River's fetching index
// (state, queue, …) finds the running jobs, as many as there are busy workers; a partial index of its own cost
// every job an index write for a query the worker makes at most ten times a second per organization.
func (s *Store) OrganizationRunningJobs(ctx context.Context, org uuid.UUID, exceptClient string, limit int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT 1 FROM river_job
		WHERE state = 'running' AND (args->>'organization_id') = $1 AND queue = $2
		  AND attempted_by[array_upper(attempted_by, 1)] IS DISTINCT FROM $3
		LIMIT $4) running`, org.String(), queue.QueueExecutions, exceptClient, limit).Scan(&n)
	if err != nil {
		return 0, interpret(err, "running jobs")
	}
	return n, nil
}
