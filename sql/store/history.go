package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/db"
)

// Instance defaults of HistoryRetention (EXECUTION_RETENTION_SUCCEEDED, EXECUTION_RETENTION_FAILED,
// AUDIT_RETENTION): failed runs are kept longer than succeeded ones, being the ones people come back to, and the
// audit log longest.
const (
	DefaultSucceededRetention = 30 * 24 * time.Hour
	DefaultFailedRetention    = 90 * 24 * time.Hour
	DefaultAuditRetention     = 365 * 24 * time.Hour
	// DefaultPruneBatch is how many executions one delete transaction removes: small enough that its row locks
	// and its WAL never hold up the hot path, large enough that a day of traffic is a few thousand batches.
	DefaultPruneBatch = 1000
)

// HistoryRetention says how long history is kept; zero keeps it forever.
type HistoryRetention struct {
	// Succeeded is the age (from creation) past which succeeded executions are pruned.
	Succeeded time.Duration
	// Failed is the age past which failed and canceled executions are pruned.
	Failed time.Duration
	// Audit is the age past which audit log entries are pruned.
	Audit time.Duration
	// Stats is the age past which per-minute statistics partitions are dropped (the rollup deletes older rows
	// itself; this removes the emptied partitions).
	Stats time.Duration
}

// HistoryPruner applies a HistoryRetention: whole day partitions are dropped where every row in them is past
// retention (and, for executions, none is still queued, running or waiting), and the remaining executions past
// retention are deleted in small batches with their node runs. Nothing it does takes a lock the hot path waits
// on: batches lock only old, finished rows, and partitions are detached CONCURRENTLY.
type HistoryPruner struct {
	store     *Store
	logger    *slog.Logger
	clock     clockwork.Clock
	retention HistoryRetention
	batch     int
	// beforeBatchCommit, when set, is called inside each delete batch's transaction before it commits: a test
	// holds a batch open there to show the hot path carries on.
	beforeBatchCommit func(ctx context.Context)
}

// PruneReport says what one Prune did.
type PruneReport struct {
	PartitionsDropped int
	ExecutionsDeleted int64
	NodeRunsDeleted   int64
	PartitionsEnsured int
	// PayloadsDeleted counts the stored payloads (PAYLOAD_INLINE_LIMIT) deleted with their executions.
	PayloadsDeleted int
}

// NewHistoryPruner returns a pruner for retention; batch <= 0 is DefaultPruneBatch.
func (s *Store) NewHistoryPruner(logger *slog.Logger, clock clockwork.Clock, retention HistoryRetention, batch int) *HistoryPruner {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	return &HistoryPruner{store: s, logger: logger, clock: clock, retention: retention, batch: batch}
}

// Maintain is the maintenance job's round: the coming partitions first (so ingest never meets a missing day),
// then the prune.
func (p *HistoryPruner) Maintain(ctx context.Context) (PruneReport, error) {
	made, err := migrations.EnsurePartitions(ctx, p.store.pool, p.clock.Now(), migrations.DefaultPartitionsAhead)
	if err != nil {
		return PruneReport{}, err
	}
	report, err := p.Prune(ctx)
	report.PartitionsEnsured = made
	return report, err
}

// Prune drops the partitions wholly past retention, then deletes the executions past retention batch by batch.
// Organizations may keep their executions longer or shorter than the instance (OrganizationRetention): a day is
// dropped whole only once it is past the longest retention of all, and the rest goes by batches, organization by
// organization.
func (p *HistoryPruner) Prune(ctx context.Context) (PruneReport, error) {
	var report PruneReport
	now := p.clock.Now()
	orgs, err := p.store.organizationRetentions(ctx)
	if err != nil {
		return report, err
	}
	executionCutoff := p.executionPartitionCutoff(now, orgs)
	for _, t := range []struct {
		table  string
		cutoff time.Time
	}{
		{"webhook_deliveries", executionCutoff},
		{"audit_log", cutoffOf(now, p.retention.Audit)},
		{"workflow_stats_minutes", cutoffOf(now, p.retention.Stats)},
	} {
		n, err := p.dropPartitionsBefore(ctx, t.table, t.cutoff, nil)
		report.PartitionsDropped += n
		if err != nil {
			return report, err
		}
	}
	n, err := p.dropPartitionsBefore(ctx, "workflow_executions", executionCutoff, p.clearExecutionPartition)
	report.PartitionsDropped += n
	if err != nil {
		return report, err
	}
	if err = p.pruneExecutions(ctx, now, orgs, &report); err != nil {
		return report, err
	}
	// Last, the stored payloads of the executions gone (by batch or with their partition): swept by claim, since
	// a dropped partition leaves nothing to join.
	report.PayloadsDeleted, err = p.store.SweepPayloads(ctx, now.Add(-payloadSweepGrace), p.batch)
	return report, err
}

// retentionRule is the retention of one group of final statuses: the instance's age, and each organization's own.
type retentionRule struct {
	age      time.Duration
	own      func(OrganizationRetention) *time.Duration
	statuses []string
}

func (p *HistoryPruner) retentionRules() []retentionRule {
	return []retentionRule{
		{p.retention.Succeeded, func(o OrganizationRetention) *time.Duration { return o.Succeeded }, []string{"succeeded"}},
		{p.retention.Failed, func(o OrganizationRetention) *time.Duration { return o.Failed }, []string{"failed", "canceled"}},
	}
}

// pruneExecutions deletes, in batches, the executions past their retention: each organization with a retention of
// its own for a status by it, every other organization by the instance's (none when that keeps them forever).
func (p *HistoryPruner) pruneExecutions(ctx context.Context, now time.Time, orgs []OrganizationRetention, report *PruneReport) error {
	for _, rule := range p.retentionRules() {
		var own []uuid.UUID
		for _, o := range orgs {
			age := rule.own(o)
			if age == nil {
				continue
			}
			own = append(own, o.OrganizationID)
			executions, runs, err := p.deleteBatches(ctx, now.Add(-*age), rule.statuses, &o.OrganizationID, nil)
			report.ExecutionsDeleted += executions
			report.NodeRunsDeleted += runs
			if err != nil {
				return err
			}
		}
		if rule.age <= 0 {
			continue
		}
		executions, runs, err := p.deleteBatches(ctx, now.Add(-rule.age), rule.statuses, nil, own)
		report.ExecutionsDeleted += executions
		report.NodeRunsDeleted += runs
		if err != nil {
			return err
		}
	}
	return nil
}

// executionPartitionCutoff is the time before which every finished execution is past retention, whatever its
// status and organization: the zero time when the instance keeps either status forever.
func (p *HistoryPruner) executionPartitionCutoff(now time.Time, orgs []OrganizationRetention) time.Time {
	if p.retention.Succeeded <= 0 || p.retention.Failed <= 0 {
		return time.Time{}
	}
	longest := max(p.retention.Succeeded, p.retention.Failed)
	for _, o := range orgs {
		for _, rule := range p.retentionRules() {
			if age := rule.own(o); age != nil {
				longest = max(longest, *age)
			}
		}
	}
	return now.Add(-longest)
}

func cutoffOf(now time.Time, age time.Duration) time.Time {
	if age <= 0 {
		return time.Time{}
	}
	return now.Add(-age)
}

// deleteBatches deletes the executions in statuses created before cutoff, with their node runs, a batch per
// transaction, until none is left: orgID's only when set, else every organization's but those in excluded.
func (p *HistoryPruner) deleteBatches(ctx context.Context, cutoff time.Time, statuses []string, orgID *uuid.UUID,
	excluded []uuid.UUID) (executions, runs int64, err error) {
	for {
		var done bool
		err = p.store.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
			ids, err := q.RetentionExecutionBatch(ctx, db.RetentionExecutionBatchParams{Cutoff: cutoff,
				Statuses: statuses, OrganizationID: orgID, ExcludedOrganizationIds: excluded, MaxRows: int32(p.batch)})
			if err != nil || len(ids) == 0 {
				done = true
				return err
			}
			r, err := q.RetentionNodeRunsDelete(ctx, ids)
			if err != nil {
				return err
			}
			e, err := q.RetentionExecutionsDelete(ctx, ids)
			if err != nil {
				return err
			}
			if p.beforeBatchCommit != nil {
				p.beforeBatchCommit(ctx)
			}
			runs += r
			executions += e
			done = len(ids) < p.batch
			return nil
		})
		if err != nil {
			return executions, runs, fmt.Errorf("prune executions: %w", err)
		}
		if done {
			return executions, runs, nil
		}
	}
}

// dropPartitionsBefore drops the day partitions of table that end at or before cutoff (none for the zero time).
// clear, when set, runs first for each and reports whether the partition may go. The statements are DDL on names
// known only at run time, which sqlc cannot express: they are written here, against the catalog.
func (p *HistoryPruner) dropPartitionsBefore(ctx context.Context, table string, cutoff time.Time,
	clear func(ctx context.Context, day time.Time) (bool, error)) (int, error) {
	if cutoff.IsZero() {
		return 0, nil
	}
	partitions, err := p.partitions(ctx, table)
	if err != nil {
		return 0, err
	}
	dropped := 0
	for _, part := range partitions {
		if part.day.AddDate(0, 0, 1).After(cutoff) {
			break
		}
		if clear != nil {
			ok, err := clear(ctx, part.day)
			if err != nil || !ok {
				if err != nil {
					return dropped, err
				}
				continue
			}
		}
		if err := p.detachAndDrop(ctx, table, part); err != nil {
			return dropped, err
		}
		dropped++
		p.logger.Info("history partition dropped", "partition", part.name)
	}
	return dropped, nil
}

type dayPartition struct {
	name          string
	day           time.Time
	detachPending bool
}

// partitions lists table's day partitions, oldest first.
func (p *HistoryPruner) partitions(ctx context.Context, table string) ([]dayPartition, error) {
	rows, err := p.store.pool.Query(ctx, `SELECT c.relname::text, history_partition_day(c.oid), i.inhdetachpending
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass AND history_partition_day(c.oid) IS NOT NULL
		ORDER BY 2`, table)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (dayPartition, error) {
		var part dayPartition
		err := row.Scan(&part.name, &part.day, &part.detachPending)
		return part, err
	})
}

// detachAndDrop detaches part CONCURRENTLY, which waits for the queries using it instead of locking the parent
// against them, then drops it. A detach interrupted before (the partition is left "detach pending") is finished.
func (p *HistoryPruner) detachAndDrop(ctx context.Context, table string, part dayPartition) error {
	ident := pgx.Identifier{part.name}.Sanitize()
	detach := fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY", pgx.Identifier{table}.Sanitize(), ident)
	if part.detachPending {
		detach = fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE", pgx.Identifier{table}.Sanitize(), ident)
	}
	if _, err := p.store.pool.Exec(ctx, detach); err != nil {
		return fmt.Errorf("detach %s: %w", part.name, err)
	}
	if _, err := p.store.pool.Exec(ctx, "DROP TABLE "+ident); err != nil {
		return fmt.Errorf("drop %s: %w", part.name, err)
	}
	return nil
}

// clearExecutionPartition readies the executions of day for their partition's drop: unless one of them is still
// queued, running or waiting (then the partition stays, and the batched deletes prune its finished rows), it
// clears what references them by foreign key and drops their node runs' partition of the same day.
func (p *HistoryPruner) clearExecutionPartition(ctx context.Context, day time.Time) (bool, error) {
	from, to := uuidV7Floor(day), uuidV7Floor(day.AddDate(0, 0, 1))
	unfinished, err := p.store.q.RetentionUnfinishedInRange(ctx, db.RetentionUnfinishedInRangeParams{FromID: from, ToID: to})
	if err != nil || unfinished {
		return false, err
	}
	if err := p.store.q.RetentionClearExecutionLinks(ctx, db.RetentionClearExecutionLinksParams{FromID: from, ToID: to}); err != nil {
		return false, fmt.Errorf("clear links of %s: %w", day.Format(time.DateOnly), err)
	}
	runs, err := p.partitions(ctx, "node_executions")
	if err != nil {
		return false, err
	}
	for _, part := range runs {
		if part.day.Equal(day) {
			if err := p.detachAndDrop(ctx, "node_executions", part); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// DefaultHistoryMaintenanceInterval is how often the maintenance job runs (HISTORY_MAINTENANCE_INTERVAL).
const DefaultHistoryMaintenanceInterval = time.Hour

// QueueMaintenance is the River queue of the history maintenance job.
const QueueMaintenance = "maintenance"

// HistoryMaintenanceArgs is the job that creates the coming partitions and prunes history (HistoryPruner.Maintain).
// River inserts periodic jobs from its elected leader only, and the job is unique while it waits or runs, so one
// round runs at a time across every process.
type HistoryMaintenanceArgs struct{}

// Kind names the job in river_job.
func (HistoryMaintenanceArgs) Kind() string { return "history_maintenance" }

// InsertOpts puts the job on its own queue, unique among the jobs not yet finished.
func (HistoryMaintenanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByQueue: true}}
}

// HistoryMaintenanceJob is the periodic job that runs the maintenance every interval, and once at start.
func HistoryMaintenanceJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return HistoryMaintenanceArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
