package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

// TestOutboxRetriesAnSMTPServerThatIsDown sends account mails through a real SMTP server that is stopped, or
// answers 421, or 550: the outbox retries the transient faults with backoff on its clock and delivers once the
// server is back, gives up after its attempts with an error naming the server, and gives up at once on a permanent
// refusal.
func TestOutboxRetriesAnSMTPServerThatIsDown(t *testing.T) {
	t.Parallel()
	retry := app.MailRetry{Attempts: 3, Initial: 2 * time.Second, Max: 3 * time.Second}
	for _, c := range []struct {
		name string
		// down puts the server in its fault; up, when set, brings it back after the first failed attempt.
		down, up func(t *testing.T, srv *mailtest.Server)
		// waits is how many waits between attempts the outbox takes; delivered whether the mail gets through.
		waits     int
		delivered bool
		// logged is in the outbox's log when it is done.
		logged []string
	}{
		{name: "refuses connections, then comes back",
			down: func(t *testing.T, srv *mailtest.Server) { srv.Stop() },
			up:   func(t *testing.T, srv *mailtest.Server) { srv.Restart(t) }, waits: 1, delivered: true,
			logged: []string{"will try again", "connection refused", `"msg":"e-mail sent"`, `"attempts":2`}},
		{name: "answers 421, then takes it",
			down: func(t *testing.T, srv *mailtest.Server) { srv.Answer(421) },
			up:   func(t *testing.T, srv *mailtest.Server) { srv.Answer(0) }, waits: 1, delivered: true,
			logged: []string{"will try again", "421", `"msg":"e-mail sent"`}},
		{name: "stays down", down: func(t *testing.T, srv *mailtest.Server) { srv.Stop() }, waits: 2,
			logged: []string{"e-mail not sent: gave up", "connect to 127.0.0.1:", "connection refused", `"attempts":3`}},
		{name: "refuses with 550", down: func(t *testing.T, srv *mailtest.Server) { srv.Answer(550) },
			logged: []string{"e-mail not sent: gave up", "550", `"permanent":true`, `"attempts":1`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.Start(t, mailtest.Options{})
			cfg, err := mail.ParseURL(srv.URL("noreply@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			clock := clockwork.NewFakeClock()
			a := app.New(app.Config{Mailer: mail.NewSender(cfg), MailRetry: retry, Clock: clock,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			c.down(t, srv)
			if !a.Outbox.SendLater(context.Background(), "invitation", mail.Message{To: []string{"ann@example.com"},
				Subject: "You are invited", Text: "Hello"}) {
				t.Fatal("the outbox did not take the mail")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range c.waits {
				// The outbox waits on the clock after each failed attempt; the server comes back during the first.
				if err := clock.BlockUntilContext(ctx, 1); err != nil {
					t.Fatalf("the outbox did not wait before retry %d: %v\n%s", i+1, err, logs.String())
				}
				if i == 0 && c.up != nil {
					c.up(t, srv)
				}
				clock.Advance(retry.Max)
			}
			a.Outbox.Wait()
			if got := len(srv.Messages()) == 1; got != c.delivered {
				t.Errorf("delivered %v, want %v", got, c.delivered)
			}
			for _, want := range c.logged {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the log does not say %q:\n%s", want, logs.String())
				}
			}
		})
	}
}

// TestOutboxGivesUpWaitingMailsAtClose checks that a graceful shutdown does not wait out a mail's backoff: Close
// gives it up, logged, at once.
func TestOutboxGivesUpWaitingMailsAtClose(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	cfg, err := mail.ParseURL(srv.URL("noreply@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	var logs syncBuffer
	clock := clockwork.NewFakeClock()
	a := app.New(app.Config{Mailer: mail.NewSender(cfg), Clock: clock, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	a.Outbox.SendLater(context.Background(), "password_reset", mail.Message{To: []string{"ann@example.com"}, Subject: "Reset", Text: "x"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	a.Outbox.Close()
	if !strings.Contains(logs.String(), "gave up at shutdown") {
		t.Errorf("the log does not say the mail was given up:\n%s", logs.String())
	}
}

// syncBuffer is a log destination safe for the outbox's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
