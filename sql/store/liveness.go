package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/service"
)

// Why executions were orphaned, and what WorkerLiveness does about it.
//
// River marks a job running, attempted by the fetching client, in the statement that fetches it, and takes a
// running job back only when it has been running longer than RescueStuckJobsAfter (queue.RescueStuckJobsAfter:
// EXECUTION_TIMEOUT plus two margins, 62 minutes with the defaults). River has no notion of a client that died. A
// worker process SIGKILLed (or killed by the out-of-memory killer) leaves every job it had fetched running, and
// their executions stay queued or running for an hour: nothing else looks at them. A PostgreSQL restart alone
// orphans nothing (the live processes' failed writes are retried and their jobs retried), but it was measured
// together with a kill, whose orphans it then seemed to cause.
//
// So each worker process proves it is alive: it holds a session-level advisory lock, keyed by a number its River
// client id carries, on a connection of its own. PostgreSQL releases the lock the moment the process or its
// connection dies. One process at a time (the holder of another advisory lock) sweeps: every beat it lists the
// clients of running jobs, and a client whose lock has been free for RescueAfter has its running jobs made
// available again, so that a live worker resumes their executions from their recorded node runs.
//
// A PostgreSQL restart ends every session, the live processes' lock connections too: each process takes its lock
// again within a beat of the database's return, and the sweeper, whose own lock went with its session, starts
// counting afresh when it takes the sweep again, so that every live process has RescueAfter to come back. A
// process that cannot take its lock again for RescueAfter/2 (a database that stays away from it, but not from the
// sweeper) stops its executions itself (queue.ExecuteWorker.SetAlive) before the sweeper can hand them to another
// process: an execution is never run by two processes at once, and even if it were, its node runs are upserted on
// (execution, node, item) and its status is set once, so nothing would be recorded twice.

// DefaultWorkerRescueAfter is how long a worker process may be seen without its liveness lock before its running
// jobs are taken back (WORKER_RESCUE_AFTER).
const DefaultWorkerRescueAfter = 10 * time.Second

// livenessSweepLock is the advisory lock of the one process that sweeps. Worker processes' keys are random
// positive numbers drawn at start, each unique among the live processes because its lock is taken.
const livenessSweepLock int64 = 7_238_412_990_101

// livenessClientMark separates a River client id from the hexadecimal key of its process's liveness lock.
const livenessClientMark = "_live_"

// LivenessConfig tunes a WorkerLiveness.
type LivenessConfig struct {
	// RescueAfter is how long a process's lock must have been seen free before its running jobs are taken back;
	// DefaultWorkerRescueAfter when zero.
	RescueAfter time.Duration
	// OnAlive is told when the process stops proving that it is alive (false) and when it proves it again (true).
	OnAlive func(alive bool)
	// OnGaveUp is told of each execution the sweeper failed because the job queue gave up on its job (the
	// workers' metrics count it).
	OnGaveUp func(queue.Execution)
}

// WorkerLiveness is the liveness of one worker process and, when elected, the sweep of every process's jobs (see
// the comment above). It is a service.Service; its lock is taken when it is made, before the River client whose id
// it gives exists, and released when it stops (or the process dies).
type WorkerLiveness struct {
	*service.Loop
	store      *Store
	connConfig *pgx.ConnConfig
	logger     *slog.Logger
	clock      clockwork.Clock
	cfg        LivenessConfig
	key        int64
	clientID   string

	connMu sync.Mutex
	conn   *pgx.Conn
	// The rest belongs to the loop's goroutine.
	ownsLock  bool
	confirmed time.Time
	alive     bool
	sweeping  bool
	// missingSince holds when the sweeper first saw each client with running jobs without its lock.
	missingSince map[string]time.Time
	// givenUpFrom is where the sweeper's next look for given-up jobs starts (finalized_at); zero looks at all.
	givenUpFrom time.Time
}

// NewWorkerLiveness connects, takes the process's liveness lock and returns the service, whose ClientID the
// process's River client must use.
func (s *Store) NewWorkerLiveness(ctx context.Context, arch *service.Archetype, cfg LivenessConfig) (*WorkerLiveness, error) {
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultWorkerRescueAfter
	}
	l := &WorkerLiveness{store: s, connConfig: s.pool.Config().ConnConfig, logger: arch.Logger, clock: arch.Clock, cfg: cfg,
		alive: true, missingSince: map[string]time.Time{}}
	l.Loop = service.NewLoop(l.run)
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, l.connConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("liveness connection: %w", err)
	}
	for range 5 { // a drawn key already held is all but impossible; draw again rather than fail
		key := rand.Int64N(1<<62) + 1
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("liveness lock: %w", err)
		}
		if got {
			l.key, l.conn, l.ownsLock, l.confirmed = key, conn, true, l.clock.Now()
			l.clientID = fmt.Sprintf("%s_%d%s%016x", host, os.Getpid(), livenessClientMark, key)
			return l, nil
		}
	}
	conn.Close(context.Background())
	return nil, errors.New("liveness lock: no free key")
}

// ClientID is the id the process's River client must have: it names the liveness lock.
func (l *WorkerLiveness) ClientID() string { return l.clientID }

// Stop implements service.Service: the loop ends and the lock is released, after the River client has stopped.
func (l *WorkerLiveness) Stop() {
	l.Loop.Stop()
	l.closeConn()
}

// beat is how often the process checks its lock and the sweeper sweeps: a tenth of RescueAfter, at most a second.
func (l *WorkerLiveness) beat() time.Duration {
	return min(max(l.cfg.RescueAfter/10, 50*time.Millisecond), time.Second)
}

func (l *WorkerLiveness) run(ctx context.Context) {
	defer l.closeConn()
	for {
		wait := l.beat()
		if !l.round(ctx) {
			wait /= 4 // take the lock again as soon as the database is back
		}
		timer := l.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.Chan():
		}
	}
}

// round checks the lock (taking it again after a lost connection), tells OnAlive when that changes, and sweeps when
// elected. It reports whether the lock is held.
func (l *WorkerLiveness) round(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*l.beat())
	defer cancel()
	held := l.checkLock(ctx)
	now := l.clock.Now()
	switch {
	case held:
		l.confirmed = now
		l.setAlive(true)
	case now.Sub(l.confirmed) >= l.cfg.RescueAfter/2:
		l.setAlive(false)
	}
	if held && l.ownsLock {
		if err := l.sweep(ctx); err != nil && ctx.Err() == nil {
			l.logger.Warn("liveness sweep failed", "error", err)
		}
	}
	return held
}

// checkLock reports whether the process's key is held: on its connection, which a query proves alive, or else by a
// session that PostgreSQL has not yet seen die (the process's own, before a reconnect), which the sweeper counts as
// alive all the same.
func (l *WorkerLiveness) checkLock(ctx context.Context) bool {
	if l.conn != nil && l.ownsLock {
		if _, err := l.conn.Exec(ctx, "SELECT 1"); err == nil {
			return true
		} else if ctx.Err() == nil {
			l.logger.Warn("liveness connection lost; taking the lock again", "error", err)
		}
		l.closeConn()
	}
	if l.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, l.connConfig.Copy())
		if err != nil {
			return false
		}
		l.connMu.Lock()
		l.conn = conn
		l.connMu.Unlock()
	}
	if err := l.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&l.ownsLock); err != nil {
		l.closeConn()
		return false
	}
	if l.ownsLock {
		l.logger.Info("liveness lock taken again")
		return true
	}
	var held bool
	if err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND ((classid::bigint << 32) | objid::bigint) = $1
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`, l.key).Scan(&held); err != nil {
		l.closeConn()
		return false
	}
	return held
}

func (l *WorkerLiveness) setAlive(alive bool) {
	if alive == l.alive {
		return
	}
	l.alive = alive
	if alive {
		l.logger.Info("this worker process proves it is alive again; it takes executions")
	} else {
		l.logger.Warn("this worker process cannot prove it is alive (its liveness lock is lost); it hands its executions back",
			"for", l.clock.Since(l.confirmed))
	}
	if l.cfg.OnAlive != nil {
		l.cfg.OnAlive(alive)
	}
}

// closeConn closes the lock's connection, which releases the locks it held.
func (l *WorkerLiveness) closeConn() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.conn.Close(ctx)
		l.conn = nil
	}
	l.ownsLock, l.sweeping = false, false
}

// sweep takes the sweep when no other process holds it, and then takes back the running jobs of every client whose
// lock has been seen free for RescueAfter. A newly elected sweeper starts counting afresh.
func (l *WorkerLiveness) sweep(ctx context.Context) error {
	if !l.sweeping {
		if err := l.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", livenessSweepLock).Scan(&l.sweeping); err != nil {
			return err
		}
		if !l.sweeping {
			return nil
		}
		clear(l.missingSince)
		l.givenUpFrom = time.Time{}
	}
	if err := l.failGivenUp(ctx); err != nil {
		l.logger.Warn("failing the executions of given-up jobs failed", "error", err)
	}
	gone, err := l.goneClients(ctx)
	if err != nil {
		return err
	}
	now := l.clock.Now()
	for client := range l.missingSince {
		if !slices.Contains(gone, client) {
			delete(l.missingSince, client)
		}
	}
	var due []string
	for _, client := range gone {
		since, seen := l.missingSince[client]
		if !seen {
			l.missingSince[client] = now
		} else if now.Sub(since) >= l.cfg.RescueAfter {
			due = append(due, client)
		}
	}
	if len(due) == 0 {
		return nil
	}
	tag, err := l.conn.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now(),
		errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt, 'error', $2::text, 'trace', ''))
		WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = ANY($1::text[])`, due, queue.WorkerGoneError)
	if err != nil {
		return fmt.Errorf("take jobs back: %w", err)
	}
	for _, client := range due {
		delete(l.missingSince, client)
	}
	l.logger.Warn("worker processes gone: their running jobs are available again", "clients", due,
		"jobs", tag.RowsAffected(), "unseen_for_at_least", l.cfg.RescueAfter)
	return nil
}

// goneClients lists the River clients that have running jobs and whose liveness lock nobody holds. Clients whose id
// names no lock (River's own default ids, a process of a version before liveness locks) are left to River's rescue.
// river_job and pg_locks are outside sqlc's schema, hence the SQL here; the running jobs are few (at most the
// workers' slots) and found through River's fetching index, which leads with state.
func (l *WorkerLiveness) goneClients(ctx context.Context) ([]string, error) {
	rows, err := l.conn.Query(ctx, `SELECT DISTINCT attempted_by[array_upper(attempted_by, 1)]
		FROM river_job WHERE state = 'running' AND attempted_by IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	clients, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	keys := map[int64]string{}
	for _, c := range clients {
		if key, ok := livenessKey(c); ok {
			keys[key] = c
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err = l.conn.Query(ctx, `SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, err
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	for _, key := range held {
		delete(keys, key)
	}
	gone := make([]string, 0, len(keys))
	for _, c := range keys {
		gone = append(gone, c)
	}
	slices.Sort(gone)
	return gone, nil
}

// livenessKey reads the lock key a River client id names, if it names one.
func livenessKey(clientID string) (int64, bool) {
	i := strings.LastIndex(clientID, livenessClientMark)
	if i < 0 {
		return 0, false
	}
	key, err := strconv.ParseUint(clientID[i+len(livenessClientMark):], 16, 63)
	if err != nil || key == 0 {
		return 0, false
	}
	return int64(key), true
}

// givenUpMargin is how far back of the last look the sweeper looks again for given-up jobs: a job finalized in a
// transaction that committed after the look is found by the next one.
const givenUpMargin = time.Minute

// failGivenUp fails the unfinished executions whose job River will never run again: discarded after its last
// attempt (a pass that panicked or never returned on it, or whose failure could not be recorded: the worker fails
// the execution itself when it can, see queue.ExecuteWorker.Work), or cancelled in the job monitor. Those
// executions would otherwise stay queued, running or waiting for good. They fail like any other, their error
// workflows and notifications included. The jobs are found through River's index of finalized jobs, from where the
// last look started (less a margin); a newly elected sweeper looks at all River keeps.
func (l *WorkerLiveness) failGivenUp(ctx context.Context) error {
	var now time.Time
	if err := l.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return err
	}
	rows, err := l.conn.Query(ctx, `SELECT e.id, j.state, j.attempt, coalesce(j.errors[array_upper(j.errors, 1)]->>'error', '')
		FROM river_job j JOIN workflow_executions e ON e.id = (j.args->>'execution_id')::uuid
		WHERE j.kind = $1 AND j.state IN ('discarded', 'cancelled') AND j.finalized_at >= $2
		  AND e.status IN ('queued', 'running', 'waiting')`, queue.ExecuteArgs{}.Kind(), l.givenUpFrom)
	if err != nil {
		return err
	}
	type givenUp struct {
		id      uuid.UUID
		state   string
		attempt int
		lastErr string
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (givenUp, error) {
		var g givenUp
		err := row.Scan(&g.id, &g.state, &g.attempt, &g.lastErr)
		return g, err
	})
	if err != nil {
		return err
	}
	var failed error
	for _, g := range jobs {
		reason := queue.GaveUpReason(g.attempt, g.lastErr)
		if g.state == "cancelled" {
			reason = "its job was cancelled in the job queue"
			if g.lastErr != "" {
				reason += ": " + g.lastErr
			}
		}
		exec, changed, err := l.store.ExecutionGiveUp(ctx, g.id, reason)
		if err != nil {
			failed = errors.Join(failed, fmt.Errorf("execution %s: %w", g.id, err))
			continue
		}
		if changed {
			l.logger.Warn("execution failed: the job queue gave up on its job", "execution_id", exec.ID,
				"workflow_id", exec.WorkflowID, "organization_id", exec.OrganizationID, "job_state", g.state, "error", reason)
			if l.cfg.OnGaveUp != nil {
				l.cfg.OnGaveUp(exec)
			}
		}
	}
	if failed == nil {
		l.givenUpFrom = now.Add(-givenUpMargin) // else the next look starts where this one did
	}
	return failed
}
