package flags_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/dbtest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestNoFlagPastItsExpiry fails, naming them, while a flag past its expiry date is still defined: remove the flag
// and the code it gates (or, when it must live on, move its date with a reason in the commit).
func TestNoFlagPastItsExpiry(t *testing.T) {
	c, err := flags.NewCatalogue(flags.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Expired(time.Now()) {
		t.Errorf("flag %s (owner %s) expired on %s: remove it", f.Name, f.Owner, f.Expires.Format(time.DateOnly))
	}
}

func TestExpiredNamesTheFlag(t *testing.T) {
	c, err := flags.NewCatalogue(testFlags())
	if err != nil {
		t.Fatal(err)
	}
	got := c.Expired(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(got) != 1 || got[0].Name != "old.thing" {
		t.Fatalf("expired = %v, want only old.thing", got)
	}
}

func TestCatalogueRefusesBadFlags(t *testing.T) {
	for name, f := range map[string]flags.Flag{
		"default of the wrong type": {Name: "a", Type: flags.Boolean, Owner: "o", Description: "d", Expires: time.Now(),
			Default: map[flags.Mode]any{flags.Production: "on"}},
		"unknown variant default": {Name: "a", Type: flags.Variant, Variants: []string{"x", "y"}, Owner: "o", Description: "d",
			Expires: time.Now(), Default: map[flags.Mode]any{flags.Production: "z"}},
		"no owner": {Name: "a", Type: flags.Boolean, Description: "d", Expires: time.Now(),
			Default: map[flags.Mode]any{flags.Production: true}},
	} {
		if _, err := flags.NewCatalogue([]flags.Flag{f}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func testFlags() []flags.Flag {
	far := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	return []flags.Flag{
		{Name: "beta.thing", Type: flags.Boolean, Owner: "test", Description: "a beta", Expires: far,
			Default: map[flags.Mode]any{flags.Development: true, flags.Production: false}},
		{Name: "ab.color", Type: flags.Variant, Variants: []string{"blue", "green"}, Owner: "test", Description: "an A/B test",
			Expires: far, Default: map[flags.Mode]any{flags.Production: "blue"}},
		{Name: "editor.gadget", Type: flags.Boolean, Owner: "test", Description: "a canvas beta", Expires: far,
			Default: map[flags.Mode]any{flags.Production: false}},
		{Name: "old.thing", Type: flags.Boolean, Owner: "test", Description: "stale", Expires: time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC),
			Default: map[flags.Mode]any{flags.Production: false}},
	}
}

type bundle struct {
	store *store.Store
	ctx   context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	pool, _ := dbtest.NewDatabase(t)
	st, err := store.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{store: st, ctx: context.Background()}
}

// process is one process's provider and evaluator over the bundle's database.
func (b bundle) process(t *testing.T, mode flags.Mode) *flags.Flags {
	t.Helper()
	c, err := flags.NewCatalogue(testFlags())
	if err != nil {
		t.Fatal(err)
	}
	p := flags.NewProvider(c, mode, b.store, service.NewArchetype(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancel(b.ctx)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := flags.New(b.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.Close(context.Background())
		cancel()
		p.Stop()
	})
	return f
}

func (b bundle) org(t *testing.T, name string) uuid.UUID {
	t.Helper()
	_, org, err := b.store.UserCreateWithOrganization(b.ctx, store.NewUser{Email: name + "@example.com", Name: name,
		PasswordHash: "x", OrganizationName: name, Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	return org.ID
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func TestDefaultsFollowTheMode(t *testing.T) {
	b := setup(t)
	org := uuid.New()
	if !b.process(t, flags.Development).Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: org}) {
		t.Error("development: beta.thing off, want its development default on")
	}
	if b.process(t, flags.Production).Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: org}) {
		t.Error("production: beta.thing on, want its production default off")
	}
}

func TestPercentageRolloutIsStableAndCloseToItsShare(t *testing.T) {
	b := setup(t)
	if _, err := b.store.FeatureFlagSet(b.ctx, store.SystemActor, store.FeatureFlagSetting{Name: "beta.thing",
		Rollout: []store.RolloutBucket{{Value: raw(true), Percent: 30}}, RolloutBy: flags.SubjectOrganization}); err != nil {
		t.Fatal(err)
	}
	one, two := b.process(t, flags.Production), b.process(t, flags.Production)
	const n = 10_000
	on := 0
	for i := range n {
		org := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("org-", i)))
		got := one.Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: org, UserID: uuid.New()})
		if again := two.Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: org}); again != got {
			t.Fatalf("organization %s: %v in one process, %v in another", org, got, again)
		}
		if got {
			on++
		}
	}
	// 30% of 10,000: the standard deviation of a fair assignment is about 46, so ±2 points is over 4 of them.
	if share := float64(on) / n; math.Abs(share-0.30) > 0.02 {
		t.Fatalf("share on = %.3f, want 0.30 ± 0.02", share)
	}
}

func TestOverrideBeatsRolloutAndInstanceValue(t *testing.T) {
	b := setup(t)
	pinned, other := b.org(t, "pinned"), b.org(t, "other")
	if _, err := b.store.FeatureFlagSet(b.ctx, store.SystemActor, store.FeatureFlagSetting{Name: "beta.thing",
		Value: raw(false), Rollout: []store.RolloutBucket{{Value: raw(true), Percent: 100}}, RolloutBy: flags.SubjectOrganization}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "beta.thing", pinned, raw(false), "incident 42"); err != nil {
		t.Fatal(err)
	}
	f := b.process(t, flags.Production)
	if f.Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: pinned}) {
		t.Error("the organization overridden off is on: the rollout beat its override")
	}
	if !f.Enabled(b.ctx, "beta.thing", flags.Subject{OrgID: other}) {
		t.Error("an organization in a 100% rollout is off")
	}
}

// TestCanvasFlagsAreTheEditorsOnly: the flags passed to the canvas island are the Boolean editor.* flags, each
// evaluated for the organization (an override beats the default), and nothing else.
func TestCanvasFlagsAreTheEditorsOnly(t *testing.T) {
	b := setup(t)
	on, off := b.org(t, "gadgets"), b.org(t, "plain")
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "editor.gadget", on, raw(true), "beta tester"); err != nil {
		t.Fatal(err)
	}
	f := b.process(t, flags.Production)
	for org, want := range map[uuid.UUID]bool{on: true, off: false} {
		got := f.Canvas(b.ctx, flags.Subject{OrgID: org})
		if len(got) != 1 || got["editor.gadget"] != want {
			t.Errorf("organization overridden %v: canvas flags %v, want only editor.gadget=%v", want, got, want)
		}
	}
}

func TestChangeReachesASecondProcessWithinTwoSeconds(t *testing.T) {
	b := setup(t)
	org := b.org(t, "acme")
	first, second := b.process(t, flags.Production), b.process(t, flags.Production)
	subject := flags.Subject{OrgID: org}
	if first.Enabled(b.ctx, "beta.thing", subject) || second.Enabled(b.ctx, "beta.thing", subject) {
		t.Fatal("on before any change")
	}
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "beta.thing", org, raw(true), "try it"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitFor(t, 2*time.Second, "the second process to see the override", func() bool {
		return second.Enabled(b.ctx, "beta.thing", subject)
	})
	t.Logf("reached the second process in %s", time.Since(changed))
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "beta.thing", org, nil, "done"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the second process to see the override removed", func() bool {
		return !second.Enabled(b.ctx, "beta.thing", subject)
	})
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
}

func TestExposureRecordedOncePerSubjectAndVariant(t *testing.T) {
	b := setup(t)
	acme, globex := b.org(t, "acme"), b.org(t, "globex")
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "ab.color", globex, raw("green"), "B arm"); err != nil {
		t.Fatal(err)
	}
	one, two := b.process(t, flags.Production), b.process(t, flags.Production)
	for range 3 {
		for _, f := range []*flags.Flags{one, two} {
			if got := f.Variant(b.ctx, "ab.color", flags.Subject{OrgID: acme}); got != "blue" {
				t.Fatalf("acme sees %q, want blue", got)
			}
			if got := f.Variant(b.ctx, "ab.color", flags.Subject{OrgID: globex}); got != "green" {
				t.Fatalf("globex sees %q, want green", got)
			}
		}
	}
	if err := b.store.FeatureFlagOverrideSet(b.ctx, store.SystemActor, "ab.color", acme, raw("green"), "switch"); err != nil {
		t.Fatal(err)
	}
	if err := one.Provider().Reload(b.ctx); err != nil {
		t.Fatal(err)
	}
	one.Variant(b.ctx, "ab.color", flags.Subject{OrgID: acme})
	counts, err := b.store.FeatureFlagExposureCounts(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Flag+"/"+c.Variant] = c.Subjects
	}
	want := map[string]int64{"ab.color/blue": 1, "ab.color/green": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("exposures = %v, want %v (once per subject and variant)", got, want)
	}
	var rows int
	if err := b.store.Pool().QueryRow(b.ctx, "SELECT count(*) FROM feature_flag_exposures WHERE subject_id = $1", acme).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("acme's exposures = %d (%v), want 2: blue then green", rows, err)
	}
}
