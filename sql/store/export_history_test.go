package store

import "context"

// SetBeforeBatchCommit installs a hook called inside each delete batch's transaction before it commits.
func (p *HistoryPruner) SetBeforeBatchCommit(fn func(ctx context.Context)) { p.beforeBatchCommit = fn }
