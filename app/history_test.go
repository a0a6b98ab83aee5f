package app_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestHistoryMaintenanceRunsAsARiverPeriodicJob starts a River client with the maintenance job, as workers do, on
// a clock three days ahead: the job runs at start and makes the partitions that far ahead.
func TestHistoryMaintenanceRunsAsARiverPeriodicJob(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	later := time.Now().UTC().AddDate(0, 0, 3)
	logger := slog.New(slog.DiscardHandler)
	workers := river.NewWorkers()
	river.AddWorker(workers, app.NewHistoryMaintenanceWorker(
		st.NewHistoryPruner(logger, clockwork.NewFakeClockAt(later), store.HistoryRetention{}, 0), logger))
	jobs, err := st.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: 1, Logger: logger,
		HistoryMaintenance: store.HistoryMaintenanceJob(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer jobs.Stop(context.Background()) //nolint:errcheck

	farthest := "workflow_executions_p" + later.AddDate(0, 0, 7).Format("20060102")
	for {
		var done, made bool
		err := pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM river_job WHERE kind = 'history_maintenance' AND state = 'completed'),
			to_regclass($1) IS NOT NULL`, farthest).Scan(&done, &made)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			if !made {
				t.Fatalf("the job completed without making %s", farthest)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the maintenance job did not complete")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
