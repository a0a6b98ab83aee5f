package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/db"
)

// SetBeforeBatchCommit installs a hook called inside each delete batch's transaction before it commits.
func (p *HistoryPruner) SetBeforeBatchCommit(fn func(ctx context.Context)) { p.beforeBatchCommit = fn }

// Aggregate rewrites the statistics of the minutes [from, to) in one transaction, as a round's chunk does, without
// the round's lock and cursor: make bench-scale rolls days up this way, several at once.
func (r *StatsRollup) Aggregate(ctx context.Context, from, to time.Time) error {
	return r.store.inTx(ctx, func(_ pgx.Tx, q *db.Queries) error { return r.aggregate(ctx, q, from, to) })
}
