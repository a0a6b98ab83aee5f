package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/platform/secrets"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// alertsOf lists the sent alerts of a workflow as "event×occurrences", oldest first.
func alertsOf(t *testing.T, pool *pgxpool.Pool, workflow uuid.UUID) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event || '×' || occurrences FROM notifications
		WHERE workflow_id = $1 AND sent_at IS NOT NULL ORDER BY sent_at, created_at`, workflow)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestRuleEngineConditions drives the evaluator on a fake clock through each kind of condition and checks which
// alerts it sends: failures in a row, slow runs, a workflow rule muting the organization's, a cooldown, a failure
// rate, a schedule that did not fire and a silent webhook (each once while it holds, again after it cleared).
func TestRuleEngineConditions(t *testing.T) {
	t.Parallel()
	zero := 0
	for _, c := range []struct {
		name string
		rule app.RuleInput
		// own, when set, is a rule of the workflow itself, besides the organization's rule.
		own *app.RuleInput
		// steps act on the workflow (finish runs, move the clock) between evaluation rounds.
		steps func(t *testing.T, e *engineCase)
		want  []string
	}{
		{name: "three failures in a row, then a success",
			rule: app.RuleInput{Event: "failure_streak", ThresholdCount: 3, GroupWindowSeconds: &zero},
			steps: func(t *testing.T, e *engineCase) {
				e.finish("failed", 2)
				e.finish("succeeded", 1) // resets the streak: no alert
				e.finish("failed", 3)    // the third in a row alerts
				e.finish("failed", 1)    // the fourth does not alert again
				e.finish("succeeded", 1) // recovery
			},
			want: []string{"failure_streak×1", "recovered×1"}},
		{name: "slow runs", rule: app.RuleInput{Event: "slow", ThresholdSeconds: 60, GroupWindowSeconds: &zero},
			steps: func(t *testing.T, e *engineCase) {
				e.finishTaking("succeeded", 10*time.Second)
				e.finishTaking("succeeded", 2*time.Minute)
			},
			want: []string{"slow×1"}},
		{name: "a disabled workflow rule mutes the organization's",
			rule: app.RuleInput{Event: "failed", GroupWindowSeconds: &zero},
			own:  &app.RuleInput{Event: "failed", Enabled: new(bool)},
			steps: func(t *testing.T, e *engineCase) {
				e.finish("failed", 2)
			},
			want: nil},
		{name: "a cooldown holds the next message back",
			rule: app.RuleInput{Event: "failed", GroupWindowSeconds: &zero, CooldownSeconds: 600, NotifyRecovery: new(bool)},
			steps: func(t *testing.T, e *engineCase) {
				e.finish("failed", 1)
				e.finish("failed", 4) // within the cooldown: collected
				e.advance(5 * time.Minute)
				if got := alertsOf(t, e.pool, e.org.workflow); len(got) != 1 {
					t.Fatalf("sent during the cooldown: %v", got)
				}
				e.advance(6 * time.Minute)
			},
			want: []string{"failed×1", "failed×4"}},
		{name: "a failure rate over the window",
			rule: app.RuleInput{Event: "failure_rate", ThresholdSeconds: 600, ThresholdCount: 4, ThresholdPercent: 50, GroupWindowSeconds: &zero},
			steps: func(t *testing.T, e *engineCase) {
				e.finish("succeeded", 2)
				e.finish("failed", 1)
				e.advance(time.Minute) // 1 of 3: neither enough runs nor enough failures
				e.finish("failed", 2)
				e.advance(time.Minute) // 3 of 5 failed: alerts once
				e.finish("failed", 1)
				e.advance(time.Minute) // still over: no second alert
			},
			want: []string{"failure_rate×1"}},
		{name: "a schedule that did not fire",
			rule: app.RuleInput{Event: "schedule_missed", ThresholdSeconds: 120, GroupWindowSeconds: &zero},
			steps: func(t *testing.T, e *engineCase) {
				e.exec(`UPDATE workflows SET active = true WHERE id = $1`)
				e.exec(`INSERT INTO workflow_schedules (workflow_id, organization_id, next_run_at)
					SELECT id, organization_id, $2::timestamptz + interval '1 minute' FROM workflows WHERE id = $1`)
				e.advance(2 * time.Minute) // a minute late: within the grace
				e.advance(2 * time.Minute) // three minutes late: alerts
				e.advance(2 * time.Minute) // still late: no second alert
			},
			want: []string{"schedule_missed×1"}},
		{name: "a webhook silent for a period",
			rule: app.RuleInput{Event: "webhook_silent", ThresholdSeconds: 3600, GroupWindowSeconds: &zero},
			steps: func(t *testing.T, e *engineCase) {
				e.exec(`UPDATE workflows SET active = true WHERE id = $1`)
				e.exec(`INSERT INTO webhooks (organization_id, workflow_id, token, secret_ciphertext, created_at)
					SELECT organization_id, id, 'tok-' || id, '\x00', $2 FROM workflows WHERE id = $1`)
				e.advance(30 * time.Minute)
				e.advance(31 * time.Minute) // an hour without a call
				e.advance(time.Minute)
			},
			want: []string{"webhook_silent×1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEngineCase(t)
			bell, err := e.app.Notifications.SaveChannel(e.ctx, e.org.owner, nil, app.ChannelInput{Name: "Bell", Kind: "in_app"})
			if err != nil {
				t.Fatal(err)
			}
			c.rule.ChannelIDs = []uuid.UUID{bell.Channel.ID}
			if _, err := e.app.Notifications.CreateRule(e.ctx, e.org.owner, nil, c.rule); err != nil {
				t.Fatal(err)
			}
			if c.own != nil {
				c.own.ChannelIDs = []uuid.UUID{bell.Channel.ID}
				if _, err := e.app.Notifications.CreateRule(e.ctx, e.org.owner, &e.org.workflow, *c.own); err != nil {
					t.Fatal(err)
				}
			}
			c.steps(t, e)
			e.advance(time.Hour)
			got := alertsOf(t, e.pool, e.org.workflow)
			if len(got) != len(c.want) {
				t.Fatalf("alerts %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("alerts %v, want %v", got, c.want)
				}
			}
		})
	}
}

// engineCase is a database with one organization, its workflow and the evaluator on a fake clock.
type engineCase struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	app   *app.App
	org   notifyOrg
	clock *clockwork.FakeClock
	eval  *store.NotificationEvaluator
}

func newEngineCase(t *testing.T) *engineCase {
	st, pool := newStore(t)
	e := &engineCase{t: t, ctx: context.Background(), pool: pool, app: app.New(app.Config{Store: st}),
		org: newNotifyOrg(t, st, pool, "acme"), clock: clockwork.NewFakeClockAt(time.Now())}
	// Periodic conditions are checked every round here.
	e.eval = st.NewNotificationEvaluator(&service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: e.clock},
		store.NotificationEvaluatorConfig{Lag: time.Millisecond, PeriodicInterval: time.Nanosecond})
	e.round()
	return e
}

func (e *engineCase) round() {
	e.t.Helper()
	if err := e.eval.Round(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// advance moves the clock and evaluates.
func (e *engineCase) advance(d time.Duration) {
	e.t.Helper()
	e.clock.Advance(d)
	e.round()
}

// exec runs sql with the workflow's id as $1 and, when it uses $2, the test clock's time.
func (e *engineCase) exec(sql string) {
	e.t.Helper()
	args := []any{e.org.workflow}
	if strings.Contains(sql, "$2") {
		args = append(args, e.clock.Now())
	}
	if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

// finish records n runs that ended with status, and evaluates them.
func (e *engineCase) finish(status string, n int) {
	e.t.Helper()
	e.org.finish(e.t, e.pool, e.clock.Now(), status, n)
	e.advance(time.Second)
}

// finishTaking records one run that took d, and evaluates it.
func (e *engineCase) finishTaking(status string, d time.Duration) {
	e.t.Helper()
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO workflow_executions (organization_id, workflow_id,
		workflow_version_id, version, status, trigger_kind, started_at, finished_at)
		VALUES ($1, $2, $3, 1, $4, 'manual', $5, $6)`, e.org.owner.Principal.OrgID,
		e.org.workflow, e.org.version, status, e.clock.Now().Add(-d), e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	e.advance(time.Second)
}

// TestDailyDigest checks that a digest rule's alerts wait for the next midnight (UTC) and then reach the bell as one
// digest summing them up, not one by one.
func TestDailyDigest(t *testing.T) {
	t.Parallel()
	e := newEngineCase(t)
	bell, err := e.app.Notifications.SaveChannel(e.ctx, e.org.owner, nil, app.ChannelInput{Name: "Bell", Kind: "in_app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{"failed", "succeeded"} {
		if _, err := e.app.Notifications.CreateRule(e.ctx, e.org.owner, nil, app.RuleInput{Event: event, Digest: true,
			ChannelIDs: []uuid.UUID{bell.Channel.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	unread := func() int {
		n, err := e.app.Notifications.Unread(e.ctx, e.org.owner)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.finish("failed", 3)
	e.finish("succeeded", 2)
	if n := unread(); n != 0 {
		t.Fatalf("%d notifications before the digest's time", n)
	}
	e.advance(25 * time.Hour)
	inbox, err := e.app.Notifications.Inbox(e.ctx, e.org.owner, 10)
	if err != nil || len(inbox.Items) != 2 {
		t.Fatalf("bell after midnight: %+v (%v)", inbox.Items, err)
	}
	for _, it := range inbox.Items {
		if it.Alert.Event != "digest" || !strings.HasPrefix(app.AlertTitle(it.Alert), "Daily digest:") {
			t.Errorf("bell item %+v is not a digest", it.Alert)
		}
	}
	// The failed rule's digest sums up its failures and the recovery after them; the succeeded rule's, its successes.
	if got := alertsOf(t, e.pool, e.org.workflow); len(got) != 3 {
		t.Fatalf("summed-up alerts %v", got)
	}
	for _, it := range inbox.Items {
		if !strings.Contains(it.Alert.Detail, "Orders") || it.Alert.Occurrences < 2 {
			t.Errorf("digest %q sums %d", it.Alert.Detail, it.Alert.Occurrences)
		}
	}
}

// TestEmailChannelThroughAnSMTPIntegration sends an e-mail channel's alert through the organization's own SMTP
// integration (a real SMTP server) when the instance has no SMTP_URL: the mail comes from the integration's sender.
func TestEmailChannelThroughAnSMTPIntegration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	keys, err := secrets.NewKeyring("integrations", testSecretKey, "")
	if err != nil {
		t.Fatal(err)
	}
	integrations := store.NewIntegrationStore(st, keys)
	a := app.New(app.Config{Store: st, Integrations: integrations})
	smtp := mailtest.Start(t, mailtest.Options{})
	u, err := url.Parse(smtp.URL("x@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	startOutbox(t, st, app.OutboxWorkerConfig{Integrations: integrations, OutboundAllowedHosts: []string{"127.0.0.1"}})
	org := newNotifyOrg(t, st, pool, "wayne")
	integ, err := a.Integrations.Create(ctx, org.owner, app.IntegrationInput{Name: "Org mail", Kind: "smtp",
		Settings: json.RawMessage(`{"host":"127.0.0.1","port":` + u.Port() + `,"tls":"none","from":"Alerts <alerts@wayne.example>"}`)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.Notifications.SaveChannel(ctx, org.owner, nil, app.ChannelInput{Name: "Ops", Kind: "email",
		To: []string{"ops@wayne.example"}, IntegrationID: &integ.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Notifications.TestChannel(ctx, org.owner, ch.Channel.ID); err != nil {
		t.Fatal(err)
	}
	got := smtp.WaitFor(t, func(m mailtest.Received) bool { return true })
	if got.From != "alerts@wayne.example" || len(got.Recipients) != 1 || got.Recipients[0] != "ops@wayne.example" {
		t.Fatalf("mail from %q to %v", got.From, got.Recipients)
	}
}
