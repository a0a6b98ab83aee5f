package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

const testRescueAfter = 10 * time.Second

// livenessBench is a database with running jobs, worker processes' liveness services on one fake clock, and the
// number of those services whose loops run.
type livenessBench struct {
	t       *testing.T
	pool    *pgxpool.Pool
	store   *store.Store
	arch    *service.Archetype
	clock   *clockwork.FakeClock
	running int
}

func newLivenessBench(t *testing.T) *livenessBench {
	b := setup(t)
	arch, clock := fakeArchetype(time.Now())
	return &livenessBench{t: t, pool: b.store.Pool(), store: b.store, arch: arch, clock: clock}
}

// process makes the liveness of one worker process; start says whether its loop runs (a process that only took
// its lock stands for one that will die).
func (b *livenessBench) process(start bool, onAlive func(bool)) *store.WorkerLiveness {
	b.t.Helper()
	l, err := b.store.NewWorkerLiveness(context.Background(), b.arch, store.LivenessConfig{RescueAfter: testRescueAfter,
		OnAlive: onAlive})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(l.Stop)
	if start {
		if err := l.Start(context.Background()); err != nil {
			b.t.Fatal(err)
		}
		b.running++
		b.waitRounds()
	}
	return l
}

// waitRounds returns once every running loop has finished its round and waits on the clock for the next.
func (b *livenessBench) waitRounds() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.clock.BlockUntilContext(ctx, b.running); err != nil {
		b.t.Fatalf("the liveness loops did not finish their round: %v", err)
	}
}

// advance moves the clock by d in steps short enough for every round (a process retaking its lock waits a
// quarter of a beat), letting each round finish.
func (b *livenessBench) advance(d time.Duration) {
	b.t.Helper()
	const step = 250 * time.Millisecond
	for ; d > 0; d -= step {
		b.clock.Advance(min(d, step))
		b.waitRounds()
	}
}

// runningJob inserts a job that client fetched and is working.
func (b *livenessBench) runningJob(client string) int64 {
	b.t.Helper()
	var id int64
	err := b.pool.QueryRow(context.Background(), `INSERT INTO river_job (args, kind, max_attempts, queue, state,
		attempt, attempted_at, attempted_by, priority) VALUES ('{}', 'execute', 25, $1, 'running', 1, now(), $2, 1)
		RETURNING id`, queue.QueueExecutions, []string{"an_earlier_client", client}).Scan(&id)
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

// jobState returns a job's state and the last error recorded on it.
func (b *livenessBench) jobState(id int64) (string, string) {
	b.t.Helper()
	var state, lastError string
	err := b.pool.QueryRow(context.Background(), `SELECT state, coalesce(errors[array_upper(errors, 1)]->>'error', '')
		FROM river_job WHERE id = $1`, id).Scan(&state, &lastError)
	if err != nil {
		b.t.Fatal(err)
	}
	return state, lastError
}

// endSession ends the database session holding a process's liveness lock, as a database restart does, and returns
// once that backend has exited: PostgreSQL releases the lock a moment after pg_terminate_backend, and on a busy
// machine that moment can outlast several rounds of the fake clock, which would start the sweeper's count late.
func (b *livenessBench) endSession(l *store.WorkerLiveness) {
	b.t.Helper()
	var pid int32
	err := b.pool.QueryRow(context.Background(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND granted
		  AND to_hex((classid::bigint << 32) | objid::bigint) = ltrim($1, '0')`, livenessKeyHex(l)).Scan(&pid)
	if err != nil {
		b.t.Fatalf("finding the session of %s: %v", l.ClientID(), err)
	}
	var ended bool
	if err := b.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ended); err != nil || !ended {
		b.t.Fatalf("ending the session of %s: %v (ended %v)", l.ClientID(), err, ended)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var alive bool
		if err := b.pool.QueryRow(context.Background(),
			`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
			b.t.Fatal(err)
		}
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the session of %s (pid %d) did not end", l.ClientID(), pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// die stops a process's liveness, as its death does, and returns once PostgreSQL has released its lock (a session
// ends a moment after its client has gone).
func (b *livenessBench) die(l *store.WorkerLiveness) {
	b.t.Helper()
	l.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var held bool
		err := b.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND objsubid = 1 AND granted
			  AND to_hex((classid::bigint << 32) | objid::bigint) = ltrim($1, '0'))`, livenessKeyHex(l)).Scan(&held)
		if err != nil {
			b.t.Fatal(err)
		}
		if !held {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the lock of %s is still held 10 s after it stopped", l.ClientID())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func livenessKeyHex(l *store.WorkerLiveness) string {
	id := l.ClientID()
	return id[strings.LastIndex(id, "_")+1:]
}

// TestLivenessTakesBackTheJobsOfAProcessThatDied: the running jobs of a worker process that holds its lock are
// left alone however long they run; once the process is gone (its session ended with it), the sweeper makes them
// available again RescueAfter later, recording why, and leaves the jobs of live processes and of River clients
// without a liveness lock alone.
func TestLivenessTakesBackTheJobsOfAProcessThatDied(t *testing.T) {
	t.Parallel()
	b := newLivenessBench(t)
	sweeper := b.process(true, nil)
	doomed := b.process(false, nil)
	doomedJob := b.runningJob(doomed.ClientID())
	liveJob := b.runningJob(sweeper.ClientID())
	legacyJob := b.runningJob("vm_2026_01_01T00_00_00_000000") // River's own id: left to River's rescuer

	b.advance(2 * testRescueAfter)
	if state, _ := b.jobState(doomedJob); state != "running" {
		t.Fatalf("the job of a process holding its lock is %s, want it left running", state)
	}
	b.die(doomed)
	b.advance(testRescueAfter - time.Second)
	if state, _ := b.jobState(doomedJob); state != "running" {
		t.Fatalf("taken back %s after the process died, before RescueAfter (%s)", testRescueAfter-time.Second, state)
	}
	b.advance(2 * time.Second)
	if state, lastError := b.jobState(doomedJob); state != "available" || lastError != queue.WorkerGoneError {
		t.Errorf("the dead process's job is %s with error %q, want available with %q", state, lastError, queue.WorkerGoneError)
	}
	for name, id := range map[string]int64{"live": liveJob, "legacy": legacyJob} {
		if state, _ := b.jobState(id); state != "running" {
			t.Errorf("the %s client's job is %s, want it left running", name, state)
		}
	}
}

// TestLivenessOutlastsADatabaseRestart: when every session ends at once (a PostgreSQL restart), a live process
// takes its lock again on its next round and the sweeper, elected again, counts afresh: no job of a live process is
// taken back, and a process that stays away is taken back RescueAfter after the sweep resumed.
func TestLivenessOutlastsADatabaseRestart(t *testing.T) {
	t.Parallel()
	b := newLivenessBench(t)
	sweeper := b.process(true, nil)
	var mu sync.Mutex
	var changes []bool
	worker := b.process(true, func(alive bool) {
		mu.Lock()
		changes = append(changes, alive)
		mu.Unlock()
	})
	doomed := b.process(false, nil)
	workerJob := b.runningJob(worker.ClientID())
	doomedJob := b.runningJob(doomed.ClientID())

	b.advance(testRescueAfter / 2) // the sweeper has seen nobody gone
	b.die(doomed)
	b.advance(testRescueAfter / 2) // the sweeper has counted half of RescueAfter for the dead process
	b.endSession(sweeper)
	b.endSession(worker)
	b.advance(testRescueAfter - time.Second)
	if state, _ := b.jobState(doomedJob); state != "running" {
		t.Fatalf("the dead process's job is %s before RescueAfter since the sweep resumed", state)
	}
	b.advance(2 * time.Second)
	if state, _ := b.jobState(doomedJob); state != "available" {
		t.Errorf("the dead process's job is %s RescueAfter after the sweep resumed, want available", state)
	}
	if state, _ := b.jobState(workerJob); state != "running" {
		t.Errorf("the live process's job is %s after it lost its session, want it left running", state)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 0 {
		t.Errorf("the live process was told alive = %v; a lost session taken again at once changes nothing", changes)
	}
}

// TestLivenessStopsAProcessBeforeItsJobsAreTakenBack: a process that cannot reach the database (here: it may not
// connect again once its session ended) while the sweeper can is told it is not alive after half of RescueAfter,
// before the sweeper takes its jobs back, and told it is alive again once it holds its lock again.
func TestLivenessStopsAProcessBeforeItsJobsAreTakenBack(t *testing.T) {
	t.Parallel()
	b := newLivenessBench(t)
	b.process(true, nil)
	var mu sync.Mutex
	var changes []string
	record := func(what string) {
		mu.Lock()
		changes = append(changes, what)
		mu.Unlock()
	}
	worker := b.process(true, func(alive bool) { record(fmt.Sprintf("alive=%v", alive)) })
	workerJob := b.runningJob(worker.ClientID())

	// A database's connections are allowed or not from another one's session.
	admin, err := pgx.Connect(context.Background(), dbtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	database := b.pool.Config().ConnConfig.Database
	allowConnections := func(allow bool) {
		t.Helper()
		if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %v",
			pgx.Identifier{database}.Sanitize(), allow)); err != nil {
			t.Fatal(err)
		}
	}
	allowConnections(false)
	t.Cleanup(func() { allowConnections(true) })
	b.endSession(worker)
	for elapsed := time.Duration(0); elapsed <= testRescueAfter+time.Second; elapsed += 250 * time.Millisecond {
		b.advance(250 * time.Millisecond)
		if state, _ := b.jobState(workerJob); state == "available" {
			record("taken back")
			break
		}
	}
	allowConnections(true)
	b.advance(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if want := "alive=false taken back alive=true"; strings.Join(changes, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(changes, " "), want)
	}
}
