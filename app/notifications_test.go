package app_test

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jonboulle/clockwork"
	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

const testSecretKey = "0123456789abcdef0123456789abcdef-notifications-test"

// startOutbox runs the workers' OutboxWorker on a River client of its own, as a worker process does.
func startOutbox(t *testing.T, st *store.Store, cfg app.OutboxWorkerConfig) {
	t.Helper()
	cfg.Store = st
	w, err := app.NewOutboxWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	client, err := st.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: 1, ExecutionTimeout: time.Minute,
		FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a real HTTP server recording what it is sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies, r.heads = append(r.bodies, body), append(r.heads, req.Header.Clone())
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.heads...)
}

// verifySignature checks X-ConcertMaster-Signature as a receiver would: HMAC-SHA256 over "<t>.<body>".
func verifySignature(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	parts := map[string]string{}
	for _, p := range strings.Split(h.Get(httpx.SignatureHeader), ",") {
		k, v, _ := strings.Cut(p, "=")
		parts[k] = v
	}
	ts, err := strconv.ParseInt(parts["t"], 10, 64)
	if err != nil {
		t.Fatalf("signature header %q", h.Get(httpx.SignatureHeader))
	}
	got, _ := hex.DecodeString(parts["v1"])
	if !hmac.Equal(got, httpx.Sign([]byte(secret), ts, body)) {
		t.Fatalf("the webhook's signature does not verify")
	}
}

// notifyOrg is an organization with its owner, a workflow whose name is hostile, and its version.
type notifyOrg struct {
	owner    app.Caller
	workflow uuid.UUID
	version  uuid.UUID
}

func newNotifyOrg(t *testing.T, st *store.Store, pool *pgxpool.Pool, name string) notifyOrg {
	t.Helper()
	ctx := context.Background()
	u, org, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: "owner@" + name + ".example", Name: "Owner",
		PasswordHash: "x", OrganizationName: name, Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	o := notifyOrg{owner: app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: org.ID, Role: authz.RoleOwner,
		Session: true}, Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: org.Name}}
	if err := pool.QueryRow(ctx, `INSERT INTO workflows (organization_id, name, current_version) VALUES ($1, $2, 1)
		RETURNING id`, org.ID, `Orders <script>alert(1)</script> `+name).Scan(&o.workflow); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO workflow_versions (organization_id, workflow_id, number, definition)
		VALUES ($1, $2, 1, '{}') RETURNING id`, org.ID, o.workflow).Scan(&o.version); err != nil {
		t.Fatal(err)
	}
	return o
}

// triggerData is a webhook call whose headers carry a credential and whose body is longer than the tests' excerpt.
const triggerData = `{"body":{"order":"A-1","note":"a long note that goes on and on"},"headers":{"Authorization":"Bearer sekrit-token"},"method":"POST"}`

// finish records n executions of the org's workflow that ended with status at a time of the test's clock.
func (o notifyOrg) finish(t *testing.T, pool *pgxpool.Pool, at time.Time, status string, n int) {
	t.Helper()
	var errText *string
	if status == "failed" {
		e := "node charge: card declined"
		errText = &e
	}
	if _, err := pool.Exec(context.Background(), `INSERT INTO workflow_executions (organization_id, workflow_id,
		workflow_version_id, version, status, trigger_kind, trigger_data, error, started_at, finished_at)
		SELECT $1, $2, $3, 1, $4, 'webhook', $7, $5, $8, $8 FROM generate_series(1, $6)`,
		o.owner.Principal.OrgID, o.workflow, o.version, status, errText, n, triggerData, at); err != nil {
		t.Fatal(err)
	}
}

// TestNotificationsEndToEnd runs the rule engine and the outbox against real PostgreSQL, a real SMTP server and real
// HTTP receivers: a failure alerts each channel once (a signed webhook, a Slack post, an e-mail); 50 failures are
// one grouped message per channel; a success after them is a recovery message; the bell counts; organization B
// sees nothing of organization A's alerts; bad input names its field.
func TestNotificationsEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	mcfg, err := mail.ParseURL(smtp.URL("ConcertMaster%20%3Cnoreply@example.com%3E"))
	if err != nil {
		t.Fatal(err)
	}
	mailer := mail.NewSender(mcfg)
	outboxKeys, channelKeys, err := app.OutboxKeyrings(testSecretKey, "")
	if err != nil {
		t.Fatal(err)
	}
	base := &url.URL{Scheme: "https", Host: "cm.example.com"}
	a := app.New(app.Config{Store: st, Mailer: mailer, OutboxKeys: outboxKeys, ChannelKeys: channelKeys, BaseURL: base})
	startOutbox(t, st, app.OutboxWorkerConfig{Mailer: mailer, OutboxKeys: outboxKeys, ChannelKeys: channelKeys,
		OutboundAllowedHosts: []string{"127.0.0.1"}, BaseURL: base.String(), MaxTriggerBytes: 24})
	clock := clockwork.NewFakeClockAt(time.Now())
	eval := st.NewNotificationEvaluator(&service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clock},
		store.NotificationEvaluatorConfig{Lag: time.Millisecond})
	round := func(advance time.Duration) {
		t.Helper()
		clock.Advance(advance)
		if err := eval.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round(0) // the cursor starts now

	orgA, orgB := newNotifyOrg(t, st, pool, "acme"), newNotifyOrg(t, st, pool, "globex")
	hookA, slackA, hookB := newReceiver(t), newReceiver(t), newReceiver(t)
	saveChannel := func(c app.Caller, in app.ChannelInput) app.SavedChannel {
		t.Helper()
		ch, err := a.Notifications.SaveChannel(ctx, c, nil, in)
		if err != nil {
			t.Fatalf("channel %s: %v", in.Name, err)
		}
		return ch
	}
	email := saveChannel(orgA.owner, app.ChannelInput{Name: "Ops mail", Kind: "email", To: []string{"ops@acme.example"}})
	webhook := saveChannel(orgA.owner, app.ChannelInput{Name: "Pager", Kind: "webhook", URL: hookA.URL + "/alerts"})
	slack := saveChannel(orgA.owner, app.ChannelInput{Name: "Slack", Kind: "slack", URL: slackA.URL + "/services/T/B/secret"})
	bell := saveChannel(orgA.owner, app.ChannelInput{Name: "Bell", Kind: "in_app"})
	if webhook.SigningSecret == "" {
		t.Fatal("a new webhook channel shows its signing secret once")
	}
	if _, err := a.Notifications.CreateRule(ctx, orgA.owner, nil, app.RuleInput{Event: "failed",
		ChannelIDs: []uuid.UUID{email.Channel.ID, webhook.Channel.ID, slack.Channel.ID, bell.Channel.ID}}); err != nil {
		t.Fatal(err)
	}
	webhookB := saveChannel(orgB.owner, app.ChannelInput{Name: "Pager", Kind: "webhook", URL: hookB.URL})
	if _, err := a.Notifications.CreateRule(ctx, orgB.owner, nil, app.RuleInput{Event: "failed",
		ChannelIDs: []uuid.UUID{webhookB.Channel.ID}}); err != nil {
		t.Fatal(err)
	}

	// One failure: one message per channel once the group window closes, not before.
	orgA.finish(t, pool, clock.Now(), "failed", 1)
	round(5 * time.Second)
	if bodies, _ := hookA.got(); len(bodies) != 0 || len(smtp.Messages()) != 0 {
		t.Fatal("an alert left before its grouping window closed")
	}
	round(time.Duration(app.DefaultGroupWindow) * time.Second)
	waitFor(t, "the first alert on every channel", func() bool {
		h, _ := hookA.got()
		s, _ := slackA.got()
		return len(h) == 1 && len(s) == 1 && len(smtp.Messages()) == 1
	})
	bodies, heads := hookA.got()
	verifySignature(t, webhook.SigningSecret, heads[0], bodies[0])
	var payload app.WebhookNotification
	if err := json.Unmarshal(bodies[0], &payload); err != nil || payload.Event != "failed" || payload.Occurrences != 1 ||
		!strings.HasPrefix(payload.Link, "https://cm.example.com/executions/") ||
		len(payload.Trigger) != 24 || !strings.HasPrefix(payload.Trigger, `{"note": "a long`) || !payload.TriggerTruncated {
		t.Fatalf("webhook payload %s (%v)", bodies[0], err)
	}
	msg, body := smtp.Messages()[0].Parsed(t)
	html := string(body[strings.Index(string(body), "text/html"):])
	if !strings.Contains(msg.Header.Get("Subject"), "failed") || strings.Contains(html, "<script>") ||
		!strings.Contains(html, "&lt;script&gt;") {
		t.Fatalf("the e-mail's subject %q, or its HTML carries the workflow's name unescaped:\n%s", msg.Header.Get("Subject"), body)
	}
	slackBodies, _ := slackA.got()
	var slackMsg struct{ Text string }
	if err := json.Unmarshal(slackBodies[0], &slackMsg); err != nil || strings.Contains(slackMsg.Text, "<script>") ||
		!strings.Contains(slackMsg.Text, "&lt;script&gt;") {
		t.Fatalf("slack payload not escaped: %s", slackBodies[0])
	}

	// Fifty failures in a minute: one grouped message per channel.
	orgA.finish(t, pool, clock.Now(), "failed", 50)
	round(5 * time.Second)
	round(time.Duration(app.DefaultGroupWindow) * time.Second)
	waitFor(t, "the grouped alert", func() bool {
		h, _ := hookA.got()
		s, _ := slackA.got()
		return len(h) == 2 && len(s) == 2 && len(smtp.Messages()) == 2
	})
	bodies, heads = hookA.got()
	verifySignature(t, webhook.SigningSecret, heads[1], bodies[1])
	if err := json.Unmarshal(bodies[1], &payload); err != nil || payload.Occurrences != 50 ||
		!strings.HasPrefix(payload.Title, "50 failures of") {
		t.Fatalf("grouped payload %s (%v)", bodies[1], err)
	}

	// A success after failures: the recovery message, at once.
	orgA.finish(t, pool, clock.Now(), "succeeded", 1)
	round(5 * time.Second)
	waitFor(t, "the recovery message", func() bool {
		h, _ := hookA.got()
		return len(h) == 3 && len(smtp.Messages()) == 3
	})
	bodies, _ = hookA.got()
	if err := json.Unmarshal(bodies[2], &payload); err != nil || payload.Event != "recovered" {
		t.Fatalf("recovery payload %s (%v)", bodies[2], err)
	}
	round(2 * time.Duration(app.DefaultGroupWindow) * time.Second)
	waitFor(t, "every message settled", func() bool { n, err := st.OutgoingMessagesUnsettled(ctx); return err == nil && n == 0 })
	if h, _ := hookA.got(); len(h) != 3 || len(smtp.Messages()) != 3 {
		t.Fatalf("%d webhooks and %d mails, want 3 each", len(h), len(smtp.Messages()))
	}
	// No message carries the trigger's headers (a credential), whatever the channel.
	all, _ := hookA.got()
	slackAll, _ := slackA.got()
	for _, b := range append(append(all, slackAll...), func() (out [][]byte) {
		for _, m := range smtp.Messages() {
			out = append(out, m.Data)
		}
		return out
	}()...) {
		if strings.Contains(string(b), "sekrit-token") {
			t.Fatalf("a message carries the trigger's Authorization header: %s", b)
		}
	}

	// The bell of A's owner counts the three alerts; B sees none of A's, and none of A's channels or deliveries.
	inbox, err := a.Notifications.Inbox(ctx, orgA.owner, 50)
	if err != nil || inbox.Unread != 3 || len(inbox.Items) != 3 {
		t.Fatalf("A's bell: %d unread, %d items (%v)", inbox.Unread, len(inbox.Items), err)
	}
	if err := a.Notifications.MarkRead(ctx, orgA.owner, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Notifications.Unread(ctx, orgA.owner); err != nil || n != 0 {
		t.Fatalf("after mark all read: %d (%v)", n, err)
	}
	if b, _ := hookB.got(); len(b) != 0 {
		t.Fatalf("organization B's webhook received %d of A's alerts", len(b))
	}
	if inbox, err := a.Notifications.Inbox(ctx, orgB.owner, 50); err != nil || inbox.Unread != 0 || len(inbox.Items) != 0 {
		t.Fatalf("B's bell shows A's alerts: %+v (%v)", inbox, err)
	}
	if _, err := a.Notifications.Channel(ctx, orgB.owner, webhook.Channel.ID); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("B reads A's channel: %v", err)
	}
	if err := a.Notifications.MarkRead(ctx, orgB.owner, &inbox.Items[0].ID); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("B marks A's notification read: %v", err)
	}
	if _, err := a.Notifications.CreateRule(ctx, orgB.owner, nil, app.RuleInput{Event: "failed",
		ChannelIDs: []uuid.UUID{webhook.Channel.ID}}); fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("B's rule on A's channel: %v", err)
	}
	detail, err := a.Notifications.Channel(ctx, orgA.owner, webhook.Channel.ID)
	if err != nil || len(detail.Deliveries) != 3 || detail.Deliveries[0].Status != "sent" {
		t.Fatalf("A's webhook deliveries %+v (%v)", detail.Deliveries, err)
	}
}

// TestNotificationValidationNamesTheField checks that each refused channel or rule names the field at fault.
func TestNotificationValidationNamesTheField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	a := app.New(app.Config{Store: st})
	org := newNotifyOrg(t, st, pool, "initech")
	for _, c := range []struct {
		name  string
		in    app.ChannelInput
		field string
	}{
		{"no name", app.ChannelInput{Kind: "in_app"}, "name"},
		{"unknown kind", app.ChannelInput{Name: "x", Kind: "pigeon"}, "kind"},
		{"webhook without url", app.ChannelInput{Name: "x", Kind: "webhook"}, "url"},
		{"url with credentials", app.ChannelInput{Name: "x", Kind: "slack", URL: "https://u:p@hooks.example/x"}, "url"},
		{"ftp url", app.ChannelInput{Name: "x", Kind: "teams", URL: "ftp://example.com/"}, "url"},
		{"email without recipients", app.ChannelInput{Name: "x", Kind: "email"}, "to"},
		{"bad recipient", app.ChannelInput{Name: "x", Kind: "email", To: []string{"nope"}}, "to[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.Notifications.SaveChannel(ctx, org.owner, nil, c.in)
			assertField(t, err, c.field)
		})
	}
	for _, c := range []struct {
		name  string
		in    app.RuleInput
		field string
	}{
		{"unknown event", app.RuleInput{Event: "eclipse", ChannelIDs: []uuid.UUID{uuid.New()}}, "event"},
		{"no channel", app.RuleInput{Event: "failed"}, "channel_ids"},
		{"slow without a duration", app.RuleInput{Event: "slow", ChannelIDs: []uuid.UUID{uuid.New()}}, "threshold_seconds"},
		{"streak of one", app.RuleInput{Event: "failure_streak", ThresholdCount: 1, ChannelIDs: []uuid.UUID{uuid.New()}}, "threshold_count"},
		{"unknown channel", app.RuleInput{Event: "failed", ChannelIDs: []uuid.UUID{uuid.New()}}, "channel_ids"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.Notifications.CreateRule(ctx, org.owner, nil, c.in)
			assertField(t, err, c.field)
		})
	}
}

func assertField(t *testing.T, err error, field string) {
	t.Helper()
	if fault.CodeOf(err) != fault.Invalid {
		t.Fatalf("err %v, want invalid", err)
	}
	for _, f := range fault.As(err).Fields {
		if f.Field == field {
			return
		}
	}
	t.Fatalf("fields %+v do not name %s", fault.As(err).Fields, field)
}
