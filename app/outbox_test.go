package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

// TestOutboxRecordsRetriesAndFailures sends account mails as durable outgoing messages through a real SMTP server:
// a 421 is recorded as retrying with the server's answer and the mail goes out on River's retry with the same
// Message-ID; a 550 fails the message at once, recorded with the answer.
func TestOutboxRecordsRetriesAndFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	srv := mailtest.Start(t, mailtest.Options{})
	cfg, err := mail.ParseURL(srv.URL("noreply@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := app.OutboxKeyrings(testSecretKey, "")
	if err != nil {
		t.Fatal(err)
	}
	mailer := mail.NewSender(cfg)
	a := app.New(app.Config{Store: st, Mailer: mailer, OutboxKeys: keys})
	status := func() (string, string, int) {
		var s, e string
		var n int
		if err := pool.QueryRow(ctx, `SELECT status, coalesce(last_error, ''), attempts FROM outgoing_messages
			ORDER BY created_at DESC LIMIT 1`).Scan(&s, &e, &n); err != nil {
			t.Fatal(err)
		}
		return s, e, n
	}
	srv.Answer(421)
	if !a.Outbox.Send(ctx, "password_reset", nil, nil, mail.Message{To: []string{"ann@example.com"}, Subject: "Reset", Text: "Hello"}) {
		t.Fatal("the outbox did not take the mail")
	}
	startOutbox(t, st, app.OutboxWorkerConfig{Mailer: mailer, OutboxKeys: keys})
	waitFor(t, "a recorded retry", func() bool { s, _, _ := status(); return s == "retrying" })
	if _, e, n := status(); n != 1 || e == "" {
		t.Fatalf("retry recorded with %d attempts, error %q", n, e)
	}
	srv.Answer(0)
	waitFor(t, "the mail sent on retry", func() bool { s, _, _ := status(); return s == "sent" })
	if len(srv.Messages()) != 1 {
		t.Fatalf("%d mails delivered", len(srv.Messages()))
	}

	srv.Answer(550)
	a.Outbox.Send(ctx, "password_reset", nil, nil, mail.Message{To: []string{"bob@example.com"}, Subject: "Reset", Text: "Hi"})
	waitFor(t, "the refused mail recorded failed", func() bool { s, _, _ := status(); return s == "failed" })
	if _, e, n := status(); n != 1 || e == "" {
		t.Fatalf("failure recorded with %d attempts, error %q", n, e)
	}
}

// TestOutgoingWebhooksGoThroughTheGuard sends a channel's test to a receiver on loopback with no host allowed: the
// HTTP node's guard refuses the address, the message fails at once with the reason, and the receiver gets nothing.
func TestOutgoingWebhooksGoThroughTheGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	_, channelKeys, err := app.OutboxKeyrings(testSecretKey, "")
	if err != nil {
		t.Fatal(err)
	}
	a := app.New(app.Config{Store: st, ChannelKeys: channelKeys})
	startOutbox(t, st, app.OutboxWorkerConfig{ChannelKeys: channelKeys}) // OUTBOUND_ALLOWED_HOSTS empty
	org := newNotifyOrg(t, st, pool, "umbrella")
	hook := newReceiver(t)
	for _, kind := range []string{"webhook", "slack", "teams"} {
		ch, err := a.Notifications.SaveChannel(ctx, org.owner, nil, app.ChannelInput{Name: kind, Kind: kind, URL: hook.URL + "/x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Notifications.TestChannel(ctx, org.owner, ch.Channel.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, kind+"'s test refused", func() bool {
			d, err := a.Notifications.Channel(ctx, org.owner, ch.Channel.ID)
			return err == nil && len(d.Deliveries) == 1 && d.Deliveries[0].Status == "failed"
		})
		d, _ := a.Notifications.Channel(ctx, org.owner, ch.Channel.ID)
		if m := d.Deliveries[0]; m.Attempts != 1 || !strings.Contains(m.LastError, "127.0.0.1") || strings.Contains(m.LastError, "/x") {
			t.Errorf("%s: attempts %d, error %q (want the blocked address, never the URL's path)", kind, m.Attempts, m.LastError)
		}
	}
	if got, _ := hook.got(); len(got) != 0 {
		t.Fatalf("the internal receiver got %d requests", len(got))
	}
}
