package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// JobClientConfig tunes the River client of a worker process.
type JobClientConfig struct {
	Workers *river.Workers
	// MaxWorkers is how many executions one process runs at once.
	MaxWorkers int
	// ExecutionTimeout bounds one pass over an execution; a job running longer than that (plus a margin) belongs
	// to a worker that died, and River's rescuer makes it available again.
	ExecutionTimeout time.Duration
	// FetchCooldown and FetchPollInterval override River's fetch pacing when set (tests, benchmarks).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	Logger            *slog.Logger
}

// Fetch pacing. River's defaults (100 ms between fetches, each taking at most the free worker slots) cap one client
// at about MaxWorkers×10 jobs a second; a shorter cooldown lets a process keep up with thousands of executions a
// second while a fetch still claims many jobs at once under load.
const (
	defaultFetchCooldown     = 5 * time.Millisecond
	defaultFetchPollInterval = 500 * time.Millisecond
)

// NewJobClient returns a River client that works the executions queue (and the others workers registers).
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
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		Queues:               map[string]river.QueueConfig{queue.QueueExecutions: {MaxWorkers: cfg.MaxWorkers}},
		Workers:              cfg.Workers,
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		RescueStuckJobsAfter: cfg.ExecutionTimeout + 2*time.Minute,
		Logger:               cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}
