// Package migrations holds the platform's schema as numbered goose migrations, embedded in the binary, and applies
// them together with River's own migrations.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// FS is the migrations folder; sqlc reads the same files as its schema.
//
//go:embed *.sql
var FS embed.FS

// migrateLockID serializes concurrent migrators (several instances starting at once) on one database.
const migrateLockID = 7_238_412_990_001

// Up applies every pending migration, the application's and River's, and creates the history tables' coming
// partitions (EnsurePartitions), under an advisory lock so that instances
// starting together take turns instead of racing.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx was canceled.
		_, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}()

	riverMigrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrate: river: %w", err)
	}
	riverResult, err := riverMigrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate: river: %w", err)
	}
	for _, v := range riverResult.Versions {
		logger.Info("applied river migration", "version", v.Version, "name", v.Name)
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, FS)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	// A database migrated long ago (or a test template) gets today's partitions and the coming days'.
	// A busy table may refuse the lock for now: the maintenance job makes them soon after start.
	if _, err := EnsurePartitions(ctx, pool, time.Now(), DefaultPartitionsAhead); err != nil {
		logger.Warn("history partitions not made yet", "error", err)
	}
	return nil
}
