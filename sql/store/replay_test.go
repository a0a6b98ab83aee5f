package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// replayBundle is an organization with a webhook workflow, for nonce tests.
type replayBundle struct {
	testBundle
	head    store.WorkflowHead
	webhook uuid.UUID
}

func replaySetup(t *testing.T) replayBundle {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	wf := b.workflow(t)
	head, err := b.store.WorkflowHeadForRun(ctx, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("webhook-secrets", "store-test-secret-key-0123456789abcdef", "")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := b.store.WebhookEnsure(ctx, store.SystemActor, keys, b.org.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	return replayBundle{testBundle: b, head: head, webhook: hook.ID}
}

func (b replayBundle) execution() store.NewExecution {
	return store.NewExecution{OrganizationID: b.org.ID, WorkflowID: b.head.WorkflowID,
		WorkflowVersionID: b.head.VersionID, Version: b.head.Version, TriggerKind: "webhook",
		TriggerData: json.RawMessage(`{"body":{}}`)}
}

func (b replayBundle) nonce(value string, expires time.Time) store.WebhookNonce {
	return store.WebhookNonce{WebhookID: b.webhook, Value: []byte(value), ExpiresAt: expires}
}

func (b replayBundle) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := b.store.Pool().QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// runIngester runs an ingester whose groups hold exactly size requests: its window never closes a group early.
func runIngester(t *testing.T, st *store.Store, size int) *store.ExecutionIngester {
	t.Helper()
	g := st.NewExecutionIngester(testArchetype(), time.Minute, size)
	startService(t, g)
	return g
}

// enqueueTogether sends requests to the ingester at once and returns each one's error, in order. A nil nonce is an
// unsigned call; a zero execution's workflow is replaced by one that does not exist.
func enqueueTogether(g *store.ExecutionIngester, execs []store.NewExecution, nonces []*store.WebhookNonce) []error {
	errs := make([]error, len(execs))
	var wg sync.WaitGroup
	for i := range execs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if nonces[i] == nil {
				_, errs[i] = g.Enqueue(context.Background(), execs[i])
			} else {
				_, errs[i] = g.EnqueueOnce(context.Background(), execs[i], *nonces[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

func isReplay(err error) bool {
	return fault.CodeOf(err) == fault.Conflict && strings.Contains(err.Error(), "already accepted") &&
		strings.Contains(err.Error(), "send a new timestamp and signature")
}

// TestIngesterRefusesReplaysPerRequest: in one group commit, a nonce held already and the second copy of a nonce
// are refused alone while the rest commit in one transaction; when the group fails, the one-by-one retry keeps
// the same answers.
func TestIngesterRefusesReplaysPerRequest(t *testing.T) {
	t.Parallel()
	later := time.Now().Add(time.Hour)

	t.Run("group commits", func(t *testing.T) {
		t.Parallel()
		b := replaySetup(t)
		held := b.nonce("held", later)
		if _, err := runIngester(t, b.store, 1).EnqueueOnce(context.Background(), b.execution(), held); err != nil {
			t.Fatal(err)
		}
		twin, fresh, other := b.nonce("twin", later), b.nonce("fresh", later), b.nonce("other", later)
		nonces := []*store.WebhookNonce{&held, &twin, &fresh, &twin, nil, &other, &twin}
		execs := make([]store.NewExecution, len(nonces))
		for i := range execs {
			execs[i] = b.execution()
		}
		errs := enqueueTogether(runIngester(t, b.store, len(nonces)), execs, nonces)
		if !isReplay(errs[0]) || !strings.Contains(errs[0].Error(), "accepted at 20") {
			t.Errorf("held nonce: %v", errs[0])
		}
		accepted, twins := 0, 0
		for i, err := range errs[1:] {
			switch {
			case err == nil:
				accepted++
			case nonces[i+1] == &twin && isReplay(err):
				twins++
			default:
				t.Errorf("request %d: %v", i+1, err)
			}
		}
		if accepted != 4 || twins != 2 {
			t.Errorf("%d accepted and %d twins refused, want 4 and 2: %v", accepted, twins, errs)
		}
		if n := b.count(t, "SELECT count(*) FROM workflow_executions"); n != 5 {
			t.Errorf("%d executions, want 5", n)
		}
		if n := b.count(t, "SELECT count(DISTINCT xmin::text) FROM workflow_executions"); n != 2 {
			t.Errorf("executions in %d transactions, want 2 (the held one, then the group)", n)
		}
		if n := b.count(t, "SELECT count(*) FROM webhook_nonces"); n != 4 {
			t.Errorf("%d nonces, want 4", n)
		}
	})

	t.Run("a failed group is retried one by one", func(t *testing.T) {
		t.Parallel()
		b := replaySetup(t)
		twin := b.nonce("twin", later)
		bad := b.execution()
		bad.WorkflowID = uuid.New()
		lost := b.nonce("lost", later)
		errs := enqueueTogether(runIngester(t, b.store, 3), []store.NewExecution{b.execution(), b.execution(), bad},
			[]*store.WebhookNonce{&twin, &twin, &lost})
		if fault.CodeOf(errs[2]) != fault.NotFound {
			t.Errorf("bad workflow: %v", errs[2])
		}
		if (errs[0] == nil) == (errs[1] == nil) || !isReplay(errs[0]) && !isReplay(errs[1]) {
			t.Errorf("twins: %v, %v; want one accepted, one replay", errs[0], errs[1])
		}
		// The failed request's nonce went with its rollback: that call may be sent again.
		if n := b.count(t, "SELECT count(*) FROM webhook_nonces WHERE nonce = 'lost'"); n != 0 {
			t.Errorf("the failed request's nonce was kept")
		}
		if n := b.count(t, "SELECT count(*) FROM workflow_executions"); n != 1 {
			t.Errorf("%d executions, want 1", n)
		}
	})
}

// TestPruneExpiredDedupRemovesOnlyExpiredRows: pruning at a given time removes the nonces and Idempotency-Keys
// expired by then and keeps the others; the background pruner does so with the clock it is given.
func TestPruneExpiredDedupRemovesOnlyExpiredRows(t *testing.T) {
	t.Parallel()
	b := replaySetup(t)
	ctx := context.Background()
	base := time.Now()
	g := runIngester(t, b.store, 1)
	for _, n := range []store.WebhookNonce{b.nonce("old", base.Add(time.Minute)), b.nonce("new", base.Add(10*time.Minute))} {
		if _, err := g.EnqueueOnce(ctx, b.execution(), n); err != nil {
			t.Fatal(err)
		}
	}
	for key, ttl := range map[string]time.Duration{"short": time.Minute, "long": 48 * time.Hour} {
		if claimed, _, err := b.store.IdempotencyKeyClaim(ctx, b.org.ID, "test", key, ttl); err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", key, claimed, err)
		}
	}

	nonces, keys, err := b.store.PruneExpiredDedup(ctx, base.Add(5*time.Minute))
	if err != nil || nonces != 1 || keys != 1 {
		t.Fatalf("prune: %d nonces, %d keys, %v; want 1 and 1", nonces, keys, err)
	}
	var kept string
	if err := b.store.Pool().QueryRow(ctx, "SELECT string_agg(convert_from(nonce, 'UTF8'), ',') FROM webhook_nonces").Scan(&kept); err != nil || kept != "new" {
		t.Errorf("nonces left: %q (%v), want new", kept, err)
	}
	if err := b.store.Pool().QueryRow(ctx, "SELECT string_agg(key, ',') FROM idempotency_keys").Scan(&kept); err != nil || kept != "long" {
		t.Errorf("keys left: %q (%v), want long", kept, err)
	}

	// The background pruner prunes at once by its clock (an hour on: the nonce goes, the two-day key stays), and
	// again every interval as its clock moves (three days on: the key goes).
	arch, clock := fakeArchetype(base.Add(time.Hour))
	startService(t, b.store.NewDedupPruner(arch, time.Hour))
	left := "SELECT (SELECT count(*) FROM webhook_nonces) || ' nonces, ' || (SELECT count(*) FROM idempotency_keys) || ' keys'"
	for _, want := range []string{"0 nonces, 1 keys", "0 nonces, 0 keys"} {
		waitRound(t, clock)
		var got string
		if err := b.store.Pool().QueryRow(ctx, left).Scan(&got); err != nil || got != want {
			t.Fatalf("after a round at %s: %s left (%v), want %s", clock.Now().Sub(base), got, err, want)
		}
		clock.Advance(72 * time.Hour)
	}
}
