package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/sql/store"
)

const day = 24 * time.Hour

// TestPrunerAppliesEachOrganizationsRetention: one organization keeps its executions 60 days, longer than the
// instance's 10; another keeps its succeeded ones 2 days. A day is dropped whole only past the 60 days; before it,
// each organization's executions go by batch at its own retention, and an unfinished one never.
func TestPrunerAppliesEachOrganizationsRetention(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	midnight := now.Truncate(day)
	short := newHistoryFixture(t, now, 75)
	ctx := context.Background()
	st := short.b.store
	user, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "grace@example.com", Name: "Grace",
		PasswordHash: "x", OrganizationName: "Keepers", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	long := historyFixture{t: t, b: testBundle{store: st, org: org, user: user}}
	long.wf = long.b.workflow(t)
	sixty, two := 60*day, 2*day
	for _, r := range []store.OrganizationRetention{{OrganizationID: org.ID, Succeeded: &sixty, Failed: &sixty},
		{OrganizationID: short.b.org.ID, Succeeded: &two}} {
		if _, err := st.OrganizationRetentionSet(ctx, store.SystemActor, r); err != nil {
			t.Fatal(err)
		}
	}

	day70 := midnight.AddDate(0, 0, -70).Add(time.Hour)
	day40 := midnight.AddDate(0, 0, -40).Add(time.Hour)
	gone := []uuid.UUID{long.execution(store.StatusSucceeded, day70), short.execution(store.StatusFailed, day70),
		short.execution(store.StatusSucceeded, day40), short.execution(store.StatusFailed, day40),
		short.execution(store.StatusSucceeded, now.AddDate(0, 0, -5))}
	kept := map[string]uuid.UUID{
		"long's succeeded of 40 days ago": long.execution(store.StatusSucceeded, day40),
		"long's failed of 40 days ago":    long.execution(store.StatusFailed, day40),
		"short's waiting of 40 days ago":  short.execution(store.StatusWaiting, day40),
		"short's failed of 5 days ago":    short.execution(store.StatusFailed, now.AddDate(0, 0, -5)),
		"short's succeeded of yesterday":  short.execution(store.StatusSucceeded, now.Add(-time.Hour)),
	}

	pruner := st.NewHistoryPruner(slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now),
		store.HistoryRetention{Succeeded: 10 * day, Failed: 10 * day}, 1)
	report, err := pruner.Prune(ctx)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	for _, id := range gone {
		if e, runs := short.exists(id); e || runs != 0 {
			t.Errorf("pruned %s: execution left %v, node runs left %d", id, e, runs)
		}
	}
	for name, id := range kept {
		if e, runs := short.exists(id); !e || runs != 3 {
			t.Errorf("%s: execution kept %v, node runs kept %d of 3", name, e, runs)
		}
	}
	for _, c := range []struct {
		day  time.Time
		want int
	}{{day70, 0}, {day40, 1}} {
		name := "workflow_executions_p" + c.day.Format("20060102")
		if n := short.count("SELECT count(*) FROM pg_class WHERE relname = $1", name); n != c.want {
			t.Errorf("partition %s: %d, want %d", name, n, c.want)
		}
	}
	if report.ExecutionsDeleted != 3 {
		t.Errorf("report %+v: want 3 executions deleted in batches (the day 70 ago went whole)", report)
	}
}

// TestOrganizationRetentionSetIsAudited: an organization without a retention of its own reads the defaults (nil);
// a change is stored, read back, and written to the audit log with before and after.
func TestOrganizationRetentionSetIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	got, err := b.store.OrganizationRetentionGet(ctx, b.org.ID)
	if err != nil || got.Succeeded != nil || got.Failed != nil {
		t.Fatalf("unset retention: %+v, %v", got, err)
	}
	ninety := 90 * day
	if _, err := b.store.OrganizationRetentionSet(ctx, store.Actor{UserID: &b.user.ID},
		store.OrganizationRetention{OrganizationID: b.org.ID, Failed: &ninety}); err != nil {
		t.Fatal(err)
	}
	got, err = b.store.OrganizationRetentionGet(ctx, b.org.ID)
	if err != nil || got.Succeeded != nil || got.Failed == nil || *got.Failed != ninety {
		t.Fatalf("retention read back: %+v, %v", got, err)
	}
	var after string
	if err := b.store.Pool().QueryRow(ctx, `SELECT after::text FROM audit_log
		WHERE organization_id = $1 AND action = 'organization.retention_changed' AND actor_user_id = $2`,
		b.org.ID, b.user.ID).Scan(&after); err != nil {
		t.Fatalf("audit entry: %v", err)
	}
	if after != `{"failed_days": 90, "succeeded_days": null}` {
		t.Errorf("audit after %s", after)
	}
}
