package migrations

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// HistoryTables are the tables partitioned by day (migration 0015), oldest dependency first: an execution's
// partition exists before its node runs' does.
var HistoryTables = []string{"workflow_executions", "node_executions", "webhook_deliveries", "audit_log",
	"workflow_stats_minutes"}

// DefaultPartitionsAhead is how many days of partitions EnsurePartitions keeps ready past today. A row whose day
// has no partition is refused, so this is how long the instance may go without its maintenance job (or a restart)
// before writes fail.
const DefaultPartitionsAhead = 7

// EnsurePartitions creates the day partitions of every history table from the day before now up to daysAhead days
// after it (UTC), where missing, and reports how many it created. It is idempotent and cheap when nothing is
// missing; creating a partition briefly locks its parent table against reads and writes, so it runs rarely (at
// migration and from the maintenance job) and gives up after a second of waiting for that lock. Concurrent callers
// are serialized by an advisory lock.
func EnsurePartitions(ctx context.Context, pool *pgxpool.Pool, now time.Time, daysAhead int) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("partitions: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLockID); err != nil {
		return 0, fmt.Errorf("partitions: lock: %w", err)
	}
	// Creating a partition locks its parent table, and every insert queues behind a lock request that waits for a
	// long query on it: give up soon instead (the partitions are made days ahead; the next round tries again).
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
		return 0, fmt.Errorf("partitions: %w", err)
	}
	created := 0
	today := now.UTC().Truncate(24 * time.Hour)
	for day := today.AddDate(0, 0, -1); !day.After(today.AddDate(0, 0, daysAhead)); day = day.AddDate(0, 0, 1) {
		for _, table := range HistoryTables {
			var made bool
			if err := tx.QueryRow(ctx, "SELECT history_partition_create($1, $2::date)", table, day).Scan(&made); err != nil {
				return 0, fmt.Errorf("partitions: %s %s: %w", table, day.Format(time.DateOnly), err)
			}
			if made {
				created++
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("partitions: %w", err)
	}
	return created, nil
}

// partitionLockID serializes the creators of partitions across processes.
const partitionLockID = 7_238_412_990_015
