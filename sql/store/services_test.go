package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// testArchetype is the archetype of services running on real time.
func testArchetype() *service.Archetype { return service.NewArchetype(slog.New(slog.DiscardHandler)) }

// fakeArchetype is the archetype of services whose time the test moves, starting at now.
func fakeArchetype(now time.Time) (*service.Archetype, *clockwork.FakeClock) {
	clock := clockwork.NewFakeClockAt(now)
	return &service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clock}, clock
}

// startService starts s for the rest of the test.
func startService(t testing.TB, s service.Service) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
}

// waitRound waits until the one periodic service on clock has finished its round and waits for the next.
func waitRound(t *testing.T, clock *clockwork.FakeClock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("the service did not finish its round: %v", err)
	}
}

// TestSchedulerFiresOnItsClock: the scheduler looks at once and then every interval, by the time of its clock.
func TestSchedulerFiresOnItsClock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	def := json.RawMessage(`{"nodes":[{"id":"tick","type":"trigger.schedule","config":{"every":"1m"}}],"edges":[]}`)
	wf, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: b.org.ID,
		Name: "Every minute", Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	// On a minute's boundary: an "every 1m" schedule fires on the following ones.
	start := time.Now().Truncate(time.Minute)
	first := start.Add(30 * time.Second)
	if _, err := b.store.WorkflowSetActive(ctx, store.SystemActor, b.org.ID, wf.ID, true, &first); err != nil {
		t.Fatal(err)
	}
	arch, clock := fakeArchetype(start)
	startService(t, b.store.NewScheduler(arch, nodes.NextScheduledRun, store.DefaultScheduleInterval))
	for _, step := range []struct {
		advance time.Duration
		want    int
	}{
		{0, 0},                // the first look, at once: not due yet
		{time.Second, 0},      // a second later: still not
		{30 * time.Second, 1}, // past its time: fired
		{time.Second, 1},      // the next one is on the next minute
		{time.Minute, 2},
	} {
		clock.Advance(step.advance)
		waitRound(t, clock)
		list, err := b.store.ExecutionList(ctx, b.org.ID, store.ExecutionFilter{WorkflowID: &wf.ID})
		if err != nil || len(list) != step.want {
			t.Fatalf("at %s: %d executions (%v), want %d", clock.Since(first), len(list), err, step.want)
		}
	}
}

// TestUploadSweeperDeletesFilesOnceExpired: the sweeper deletes a file, from storage and from the table, on its
// first round after the file's expiry by its clock.
func TestUploadSweeperDeletesFilesOnceExpired(t *testing.T) {
	t.Parallel()
	b := integrationSetup(t, nil)
	ctx := context.Background()
	files, err := storage.NewLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := files.PutObject(ctx, "orders.csv", "text/csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expires := start.Add(90 * time.Minute)
	id, err := b.store.ExportCreate(ctx, actions.ExportedFile{OrganizationID: b.org.ID, StorageKey: obj.Key,
		Filename: "orders.csv", ContentType: "text/csv", Size: obj.Size, SHA256: obj.SHA256, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	arch, clock := fakeArchetype(start)
	startService(t, b.store.NewUploadSweeper(arch, files, store.DefaultUploadSweepInterval))
	for _, step := range []struct {
		advance time.Duration
		gone    bool
	}{
		{0, false}, // the first round, at once
		{store.DefaultUploadSweepInterval, false},
		{store.DefaultUploadSweepInterval, true},
	} {
		clock.Advance(step.advance)
		waitRound(t, clock)
		_, openErr := files.Open(ctx, obj.Key)
		var rows int
		if err := b.store.Pool().QueryRow(ctx, "SELECT count(*) FROM uploads WHERE id = $1", id).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if gone := errors.Is(openErr, storage.ErrNotFound) && rows == 0; gone != step.gone {
			t.Fatalf("at %s: file error %v, %d rows; want gone %v", clock.Since(expires), openErr, rows, step.gone)
		}
	}
}

// TestDeliveryLogWritesWhenItsWindowEndsAndAtStop: a delivery is written once its group's window ends by the log's
// clock, and what the log holds when it stops is written before Stop returns.
func TestDeliveryLogWritesWhenItsWindowEndsAndAtStop(t *testing.T) {
	t.Parallel()
	b := replaySetup(t)
	ctx := context.Background()
	arch, clock := fakeArchetype(time.Now())
	log := b.store.NewDeliveryLog(arch)
	startService(t, log)
	deliver := func(status int) {
		log.Add(store.WebhookDelivery{OrganizationID: b.org.ID, WebhookID: b.webhook, StatusCode: status, At: clock.Now()})
	}
	count := func() int { return b.count(t, "SELECT count(*) FROM webhook_deliveries") }

	deliver(202)
	waitRound(t, clock) // the group's window is open
	if n := count(); n != 0 {
		t.Fatalf("%d deliveries written before the window ended", n)
	}
	clock.Advance(100 * time.Millisecond)
	// The log opens the next group's window only once the previous group is written.
	deliver(429)
	waitRound(t, clock)
	if n := count(); n != 1 {
		t.Fatalf("%d deliveries written once the first window ended, want 1", n)
	}
	log.Stop()
	list, err := b.store.WebhookDeliveries(ctx, b.org.ID, b.webhook, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("after stop: %+v (%v), want both deliveries", list, err)
	}
}
