package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/sql/store"
)

// HistoryMaintenanceWorker is the River worker of the periodic maintenance job (store.HistoryMaintenanceArgs): it
// creates the history tables' coming partitions and applies the retention.
type HistoryMaintenanceWorker struct {
	river.WorkerDefaults[store.HistoryMaintenanceArgs]
	pruner *store.HistoryPruner
	logger *slog.Logger
}

// NewHistoryMaintenanceWorker returns the worker over pruner.
func NewHistoryMaintenanceWorker(pruner *store.HistoryPruner, logger *slog.Logger) *HistoryMaintenanceWorker {
	return &HistoryMaintenanceWorker{pruner: pruner, logger: logger}
}

// Timeout allows a long first prune (a backlog of days after retention was turned on): its batches commit as
// they go, so a round cut short loses nothing and the next one carries on.
func (w *HistoryMaintenanceWorker) Timeout(*river.Job[store.HistoryMaintenanceArgs]) time.Duration {
	return time.Hour
}

// Work runs one maintenance round.
func (w *HistoryMaintenanceWorker) Work(ctx context.Context, _ *river.Job[store.HistoryMaintenanceArgs]) error {
	report, err := w.pruner.Maintain(ctx)
	w.logger.Info("history maintenance", "partitions_created", report.PartitionsEnsured,
		"partitions_dropped", report.PartitionsDropped, "executions_deleted", report.ExecutionsDeleted,
		"node_runs_deleted", report.NodeRunsDeleted, "payloads_deleted", report.PayloadsDeleted, "error", err)
	return err
}
