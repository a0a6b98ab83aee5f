package store_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/migrations"
	"github.com/concertmaster/concertmaster/sql/store"
)

// statsFixture writes executions with the times a test chooses, ids made at their creation time as UUIDv7s are.
type statsFixture struct {
	t *testing.T
	b testBundle
}

// execution writes a finished (or, with status running, unfinished) execution of wf created at created and taking
// took.
func (f statsFixture) execution(wf store.Workflow, status string, created time.Time, took time.Duration) {
	f.t.Helper()
	ctx := context.Background()
	var versionID uuid.UUID
	if err := f.b.store.Pool().QueryRow(ctx, `SELECT id FROM workflow_versions WHERE workflow_id = $1 ORDER BY number DESC LIMIT 1`,
		wf.ID).Scan(&versionID); err != nil {
		f.t.Fatal(err)
	}
	// The day's partition, which the instance's maintenance would have made when it was today.
	if _, err := migrations.EnsurePartitions(ctx, f.b.store.Pool(), created, 1); err != nil {
		f.t.Fatal(err)
	}
	var finished *time.Time
	if status != store.StatusRunning {
		at := created.Add(took)
		finished = &at
	}
	if _, err := f.b.store.Pool().Exec(ctx, `INSERT INTO workflow_executions (id, organization_id, workflow_id,
		workflow_version_id, version, status, trigger_kind, created_at, started_at, finished_at)
		VALUES ($1, $2, $3, $4, 1, $5, 'webhook', $6, $6, $7)`,
		v7At(created), wf.OrganizationID, wf.ID, versionID, status, created, finished); err != nil {
		f.t.Fatal(err)
	}
}

// v7At is a UUIDv7 made at t.
func v7At(t time.Time) uuid.UUID {
	var id uuid.UUID
	_, _ = rand.Read(id[:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(id[:6], ms[2:])
	id[6] = 0x70 | id[6]&0x0f
	id[8] = 0x80 | id[8]&0x3f
	return id
}

// statsRows dumps the whole statistics table, for comparing rounds.
func statsRows(t *testing.T, st *store.Store) string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT organization_id, workflow_id, minute, succeeded, failed,
		canceled, duration_p50_ms, duration_p95_ms, duration_p99_ms, duration_max_ms FROM workflow_stats_minutes
		ORDER BY organization_id, workflow_id NULLS FIRST, minute`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// TestStatsRollup aggregates a known set of executions across minutes on a fake clock: counts by status and
// percentiles per workflow and per organization, the late finisher read through the partial index, a rerun that
// changes nothing, a straggler picked up by the next round, retention, and organizations kept apart.
func TestStatsRollup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := statsFixture{t: t, b: b}
	w1, w2 := b.workflow(t), b.workflow(t)
	_, orgB, err := b.store.UserCreateWithOrganization(ctx, store.NewUser{Email: "bob@example.com", Name: "Bob",
		PasswordHash: "x", OrganizationName: "Other", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	w3, err := b.store.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: orgB.ID, Name: "Theirs",
		Definition: json.RawMessage(definition)})
	if err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	// Minute 10:00: w1 ten executions of 100…1000 ms (two failed), w2 one canceled of 50 ms, w3 (the other
	// organization) one of 70 ms.
	for i := 1; i <= 10; i++ {
		status := store.StatusSucceeded
		if i > 8 {
			status = store.StatusFailed
		}
		f.execution(w1, status, base.Add(time.Duration(i)*time.Second), time.Duration(i)*100*time.Millisecond)
	}
	f.execution(w2, store.StatusCanceled, base.Add(20*time.Second), 50*time.Millisecond)
	// The editor's test runs of w1 in that minute: not counted anywhere.
	f.execution(w1, store.StatusFailed, base.Add(40*time.Second), 5*time.Second)
	f.execution(w1, store.StatusSucceeded, base.Add(41*time.Second), 9*time.Second)
	if _, err := b.store.Pool().Exec(ctx, `UPDATE workflow_executions SET kind = 'test'
		WHERE workflow_id = $1 AND finished_at - created_at >= interval '5 seconds' AND finished_at - created_at < interval '10 seconds'`,
		w1.ID); err != nil {
		t.Fatal(err)
	}
	f.execution(w3, store.StatusSucceeded, base.Add(30*time.Second), 70*time.Millisecond)
	// Minute 10:01: w1 three of 200 ms, and one created ten minutes before that finished in it (the partial index).
	for i := range 3 {
		f.execution(w1, store.StatusSucceeded, base.Add(time.Minute+time.Duration(i)*time.Second), 200*time.Millisecond)
	}
	f.execution(w1, store.StatusSucceeded, base.Add(-9*time.Minute), 10*time.Minute+30*time.Second)
	// Unfinished: not counted.
	f.execution(w1, store.StatusRunning, base.Add(10*time.Second), 0)

	arch, clock := fakeArchetype(base.Add(2*time.Minute + store.StatsSettle + time.Second))
	rollup := b.store.NewStatsRollup(arch, store.StatsRollupConfig{Retention: time.Hour, Interval: time.Minute})
	startService(t, rollup)
	waitRound(t, clock) // the first round, at once: minutes up to 10:02 are settled

	minutes := func(org uuid.UUID, wf *uuid.UUID) []store.StatsMinute {
		t.Helper()
		got, err := b.store.StatsMinutes(ctx, org, wf, base.Add(-time.Hour), base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []store.StatsMinute{
		{Minute: base, Succeeded: 8, Failed: 2, P50Ms: 550, P95Ms: 955, P99Ms: 991, MaxMs: 1000},
		// Over 200, 200, 200 and 630000 ms: p95 and p99 interpolate between the last two.
		{Minute: base.Add(time.Minute), Succeeded: 4, P50Ms: 200, P95Ms: 200 + (0.95*3-2)*(630000-200),
			P99Ms: 200 + (0.99*3-2)*(630000-200), MaxMs: 630000},
	}
	assertMinutes(t, "workflow 1", minutes(b.org.ID, &w1.ID), want)
	assertMinutes(t, "workflow 2", minutes(b.org.ID, &w2.ID),
		[]store.StatsMinute{{Minute: base, Canceled: 1, P50Ms: 50, P95Ms: 50, P99Ms: 50, MaxMs: 50}})
	org := minutes(b.org.ID, nil)
	if len(org) != 2 || org[0].Succeeded != 8 || org[0].Failed != 2 || org[0].Canceled != 1 || org[0].MaxMs != 1000 ||
		org[0].P50Ms != 500 || org[1].Succeeded != 4 {
		t.Errorf("organization's minutes = %+v", org)
	}
	// Organizations apart: neither reads the other's workflow nor totals.
	if got := minutes(b.org.ID, &w3.ID); len(got) != 0 {
		t.Errorf("organization A reads B's workflow: %+v", got)
	}
	if got := minutes(orgB.ID, &w1.ID); len(got) != 0 {
		t.Errorf("organization B reads A's workflow: %+v", got)
	}
	if got := minutes(orgB.ID, nil); len(got) != 1 || got[0].Succeeded != 1 || got[0].MaxMs != 70 {
		t.Errorf("organization B's minutes = %+v", got)
	}

	// Run again: the same rows.
	before := statsRows(t, b.store)
	if _, err := rollup.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if after := statsRows(t, b.store); after != before {
		t.Errorf("a rerun changed the rows:\n%s\n%s", before, after)
	}

	// A completion of 10:01 committed after that minute was aggregated is in the next round's figures.
	f.execution(w1, store.StatusFailed, base.Add(time.Minute+40*time.Second), 100*time.Millisecond)
	clock.Advance(time.Minute)
	waitRound(t, clock)
	if got := minutes(b.org.ID, &w1.ID); len(got) != 2 || got[1].Succeeded != 4 || got[1].Failed != 1 {
		t.Errorf("after a straggler, workflow 1's minutes = %+v", got)
	}

	// Past the retention (an hour), the minutes older than an hour are deleted.
	clock.Advance(57 * time.Minute) // 11:00:31: the rows of minutes that began before 10:00:31 go
	waitRound(t, clock)
	if got := minutes(b.org.ID, &w1.ID); len(got) != 1 || !got[0].Minute.Equal(base.Add(time.Minute)) {
		t.Errorf("after the retention, workflow 1's minutes = %+v", got)
	}
}

// TestStatsRollupIsElected: while another process holds the round, a round writes nothing.
func TestStatsRollupIsElected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	statsFixture{t: t, b: b}.execution(b.workflow(t), store.StatusSucceeded, base, time.Second)
	arch, _ := fakeArchetype(base.Add(5 * time.Minute))
	rollup := b.store.NewStatsRollup(arch, store.StatsRollupConfig{})

	tx, err := b.store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7238412990201)`); err != nil {
		t.Fatal(err)
	}
	if next, err := rollup.Round(ctx); err != nil || !next.IsZero() {
		t.Errorf("round while another holds it = %v, %v; want nothing done", next, err)
	}
	if rows := statsRows(t, b.store); rows != "null" {
		t.Errorf("rows written by a round that was not elected: %s", rows)
	}
	_ = tx.Rollback(ctx)
	if next, err := rollup.Round(ctx); err != nil || !next.Equal(base.Add(4*time.Minute)) {
		t.Errorf("round = %v, %v; want the statistics up to 10:04", next, err)
	}
	if rows := statsRows(t, b.store); rows == "null" {
		t.Error("the elected round wrote nothing")
	}
}

func assertMinutes(t *testing.T, what string, got, want []store.StatsMinute) {
	t.Helper()
	for i := range got {
		got[i].Minute = got[i].Minute.UTC()
		for _, p := range []*float64{&got[i].P50Ms, &got[i].P95Ms, &got[i].P99Ms, &got[i].MaxMs} {
			*p = float64(int64(*p*1000+0.5)) / 1000 // the database's floating point, to the microsecond
		}
	}
	for i := range want {
		for _, p := range []*float64{&want[i].P50Ms, &want[i].P95Ms, &want[i].P99Ms, &want[i].MaxMs} {
			*p = float64(int64(*p*1000+0.5)) / 1000
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: minutes\n got %+v\nwant %+v", what, got, want)
	}
}

// TestStatsRollupHoursAndTestRuns: the rollup sums its minutes into hours (migration 0024) with exact duration sums
// and the editor's test runs counted apart, rewrites them the same when run again, and the dashboard reads its
// buckets, averages and success counts from them.
func TestStatsRollupHoursAndTestRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := statsFixture{t: t, b: b}
	wf := b.workflow(t)
	base := time.Date(2026, 2, 9, 10, 0, 0, 0, time.UTC)
	f.execution(wf, store.StatusSucceeded, base.Add(5*time.Second), 100*time.Millisecond)
	f.execution(wf, store.StatusFailed, base.Add(3*time.Minute), 300*time.Millisecond)
	f.execution(wf, store.StatusSucceeded, base.Add(65*time.Minute), 400*time.Millisecond)
	// The failure was the editor's test run.
	if _, err := b.store.Pool().Exec(ctx, `UPDATE workflow_executions SET kind = 'test'
		WHERE workflow_id = $1 AND status = 'failed'`, wf.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Pool().Exec(ctx, `INSERT INTO stats_rollup_cursors (name, next_minute) VALUES ('workflow_stats', $1)`,
		base); err != nil {
		t.Fatal(err)
	}
	arch, _ := fakeArchetype(base.Add(70 * time.Minute))
	rollup := b.store.NewStatsRollup(arch, store.StatsRollupConfig{Retention: 24 * time.Hour})
	type bucket struct {
		Start                                        time.Time
		Succeeded, Failed, TestSucceeded, TestFailed int64
		Average                                      time.Duration
	}
	want := []bucket{{base, 1, 0, 0, 1, 100 * time.Millisecond}, {base.Add(time.Hour), 1, 0, 0, 0, 400 * time.Millisecond}}
	for round := range 2 { // a second round rewrites the same hours
		if _, err := rollup.Round(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := b.store.DashboardGet(ctx, wf.OrganizationID, store.DashboardQuery{Since: base, Step: time.Hour, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		var got []bucket
		for _, s := range d.Series {
			got = append(got, bucket{s.Start.UTC(), s.Succeeded, s.Failed, s.TestSucceeded, s.TestFailed, s.Average})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: series %+v, want %+v", round, got, want)
		}
		if d.ByStatus[store.StatusSucceeded] != 2 || d.ByStatus[store.StatusFailed] != 0 || d.TestFailed != 1 ||
			len(d.Slowest) != 1 || d.Slowest[0].Executions != 2 || d.Slowest[0].Average != 250*time.Millisecond {
			t.Errorf("round %d: dashboard %+v", round, d)
		}
	}
	var hourRows int
	if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM workflow_stats_hours WHERE organization_id = $1`,
		wf.OrganizationID).Scan(&hourRows); err != nil || hourRows != 4 {
		t.Errorf("hour rows %d, %v; want the workflow's and the organization's for two hours", hourRows, err)
	}
}
