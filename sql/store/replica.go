package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/sql/db"
)

// A read replica takes the reads that tolerate a little lag (lists, searches, the dashboard, statistics) off the
// primary. ReadReplica decides, from a probe that runs every few seconds, whether the replica is up and close
// enough behind the primary; when it is not, those reads go to the primary, as everything else always does.
//
// Lag is measured as a reader sees it, not as the replica reports it: each probe samples the primary's WAL
// position with the time it was taken, and the lag is how long ago the primary first had a position the replica
// has not replayed yet. pg_last_xact_replay_timestamp() would call a replica whose connection to the primary
// broke "not behind" (nothing left to replay), while it falls further behind with every write.

// ReadReplicaConfig tunes a ReadReplica.
type ReadReplicaConfig struct {
	// MaxLag is how far behind the primary the replica may be and still serve reads.
	MaxLag time.Duration
	// Now is the clock the lag is measured with; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// ReadReplica routes lag-tolerant reads to a streaming replica while it is usable.
type ReadReplica struct {
	primary, replica *pgxpool.Pool
	cfg              ReadReplicaConfig

	mu      sync.Mutex
	samples []walSample // the primary's positions the replica had not replayed at the last probe, oldest first
	usable  bool
	lag     time.Duration
	reads   map[string]float64 // reads served, by "replica" or "primary"

	lagDesc, usableDesc, readsDesc *prometheus.Desc
}

type walSample struct {
	at  time.Time
	lsn int64
}

// NewReadReplica returns a router over primary and replica that sends reads to the primary until its first
// successful probe (Check).
func NewReadReplica(primary, replica *pgxpool.Pool, cfg ReadReplicaConfig) *ReadReplica {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ReadReplica{primary: primary, replica: replica, cfg: cfg, reads: map[string]float64{},
		lagDesc: prometheus.NewDesc("concertmaster_db_replica_lag_seconds",
			"How long ago the primary first wrote what the read replica has not replayed yet, at the last probe.", nil, nil),
		usableDesc: prometheus.NewDesc("concertmaster_db_replica_usable",
			"1 while lag-tolerant reads go to the read replica, 0 while they fall back to the primary.", nil, nil),
		readsDesc: prometheus.NewDesc("concertmaster_db_replica_routed_reads_total",
			"Lag-tolerant reads, by the database that served them.", []string{"target"}, nil),
	}
}

// Check probes the primary's WAL position and the replica's replay position and decides whether the replica may
// serve reads. It returns the replica's error when it is unreachable (reads then use the primary).
func (r *ReadReplica) Check(ctx context.Context) error {
	now := r.cfg.Now()
	var primaryLSN int64
	if err := r.primary.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8`).Scan(&primaryLSN); err != nil {
		return fmt.Errorf("read replica probe: primary: %w", err) // the primary's own trouble is not the replica's
	}
	var replayLSN *int64
	var inRecovery bool
	err := r.replica.QueryRow(ctx, `SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8`).
		Scan(&inRecovery, &replayLSN)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.setUsable(false, "unreachable", err)
		return fmt.Errorf("read replica probe: %w", err)
	}
	if !inRecovery || replayLSN == nil {
		// Not a standby (DATABASE_READ_URL names the primary itself, or a promoted replica): nothing to replay.
		r.samples, r.lag = nil, 0
		r.setUsable(true, "", nil)
		return nil
	}
	r.samples = append(r.samples, walSample{at: now, lsn: primaryLSN})
	kept := r.samples[:0]
	for _, s := range r.samples {
		if s.lsn > *replayLSN {
			kept = append(kept, s)
		}
	}
	r.samples = kept
	r.lag = 0
	if len(kept) > 0 {
		r.lag = now.Sub(kept[0].at)
	}
	if r.lag > r.cfg.MaxLag {
		r.setUsable(false, "lagging", fmt.Errorf("%s behind, more than %s", r.lag, r.cfg.MaxLag))
	} else {
		r.setUsable(true, "", nil)
	}
	return nil
}

// setUsable records whether reads go to the replica, logging each change once. r.mu is held.
func (r *ReadReplica) setUsable(usable bool, why string, err error) {
	if usable != r.usable {
		if usable {
			r.cfg.Logger.Info("read replica serves reads again", "lag", r.lag)
		} else {
			r.cfg.Logger.Warn("read replica set aside: reads go to the primary", "why", why, "err", err)
		}
	}
	r.usable = usable
}

// Run probes every interval until ctx ends.
func (r *ReadReplica) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = r.Check(ctx) // logged by setUsable on each change
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Lag is the replica's lag at the last probe and whether reads go to it.
func (r *ReadReplica) Lag() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lag, r.usable
}

// target picks the pool for one read and counts it.
func (r *ReadReplica) target(ctx context.Context) (*pgxpool.Pool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.usable && !ReadsFromPrimary(ctx) {
		r.reads["replica"]++
		return r.replica, true
	}
	r.reads["primary"]++
	return r.primary, false
}

// fallBack reports whether a read the replica failed should be tried again on the primary: the replica could not
// be reached, is shutting down or starting (57P01-57P03, class 08), or cancelled the query for a conflict with
// recovery (40001). A fault in the query itself would fail on the primary too, and a cancelled context is the
// caller's.
func (r *ReadReplica) fallBack(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !strings.HasPrefix(pgErr.Code, "08") && !strings.HasPrefix(pgErr.Code, "57P") &&
		pgErr.Code != "40001" {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setUsable(false, "failed a read", err)
	r.reads["primary"]++
	return true
}

// Describe implements prometheus.Collector.
func (r *ReadReplica) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.lagDesc
	ch <- r.usableDesc
	ch <- r.readsDesc
}

// Collect implements prometheus.Collector.
func (r *ReadReplica) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	usable := 0.0
	if r.usable {
		usable = 1
	}
	ch <- prometheus.MustNewConstMetric(r.lagDesc, prometheus.GaugeValue, r.lag.Seconds())
	ch <- prometheus.MustNewConstMetric(r.usableDesc, prometheus.GaugeValue, usable)
	for _, target := range []string{"replica", "primary"} {
		ch <- prometheus.MustNewConstMetric(r.readsDesc, prometheus.CounterValue, r.reads[target], target)
	}
}

// readRouter is the db.DBTX of the store's lag-tolerant queries. Only reads use it; anything else goes to the
// primary.
type readRouter struct{ r *ReadReplica }

func (rt readRouter) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	pool, onReplica := rt.r.target(ctx)
	rows, err := pool.Query(ctx, sql, args...)
	if !onReplica {
		return rows, err
	}
	if rt.r.fallBack(ctx, err) {
		return rt.r.primary.Query(ctx, sql, args...)
	}
	if err != nil {
		return nil, err
	}
	return &replicaRows{Rows: rows, r: rt.r, ctx: ctx, sql: sql, args: args}, nil
}

// replicaRows are a replica's answer to a read. pgx reports most failures of a query (a connection the replica
// closed while idle, say) only when the rows are read: if the first read fails so, the query runs again on the
// primary and its rows are read instead.
type replicaRows struct {
	pgx.Rows
	r       *ReadReplica
	ctx     context.Context
	sql     string
	args    []any
	started bool
	err     error
}

func (rr *replicaRows) Next() bool {
	if rr.Rows.Next() {
		rr.started = true
		return true
	}
	if rr.started || !rr.r.fallBack(rr.ctx, rr.Rows.Err()) {
		return false
	}
	rr.started = true
	rr.Rows.Close()
	rows, err := rr.r.primary.Query(rr.ctx, rr.sql, rr.args...)
	if err != nil {
		rr.err = err
		return false
	}
	rr.Rows = rows
	return rows.Next()
}

func (rr *replicaRows) Err() error {
	if rr.err != nil {
		return rr.err
	}
	return rr.Rows.Err()
}

func (rt readRouter) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := rt.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

func (rt readRouter) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return rt.r.primary.Exec(ctx, sql, args...)
}

func (rt readRouter) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return rt.r.primary.CopyFrom(ctx, table, columns, src)
}

// firstRow is a pgx.Row over a Query's rows, so a single-row read falls back the way a many-row one does.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (f firstRow) Scan(dest ...any) error {
	if f.err != nil {
		return f.err
	}
	defer f.rows.Close()
	if !f.rows.Next() {
		if err := f.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := f.rows.Scan(dest...); err != nil {
		return err
	}
	f.rows.Close()
	return f.rows.Err()
}

type primaryKey struct{}

// ReadPrimary marks ctx's reads as needing the primary: what a caller reads right after writing it (a replica
// may not have it yet).
func ReadPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

// ReadsFromPrimary reports whether ctx was marked by ReadPrimary.
func ReadsFromPrimary(ctx context.Context) bool { return ctx.Value(primaryKey{}) != nil }

// SetReadReplica sends the store's lag-tolerant reads through rr. Call it before the store is used.
func (s *Store) SetReadReplica(rr *ReadReplica) { s.r = db.New(readRouter{r: rr}) }
