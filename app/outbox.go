package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
)

// Mailer sends e-mail; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (mail.Receipt, error)
}

// mailTimeout bounds one attempt at sending.
const mailTimeout = time.Minute

// outboxSlots is how many e-mails may be on their way at once, retries included.
const outboxSlots = 8

// MailRetry is how the outbox retries a mail the SMTP server did not take for now: it could not be reached, or it
// answered 4xx. A 5xx answer or an invalid message is not retried.
type MailRetry struct {
	// Attempts counts the first one too.
	Attempts int
	// Initial is the wait before the first retry; it doubles each time, up to Max.
	Initial, Max time.Duration
}

// DefaultMailRetry tries six times over about a minute (waits of 2, 4, 8, 16 and 30 s): an SMTP server restarting,
// or greylisting for a moment, still gets the mail.
var DefaultMailRetry = MailRetry{Attempts: 6, Initial: 2 * time.Second, Max: 30 * time.Second}

// Outbox sends e-mails in the background, retrying with backoff while the SMTP server cannot take them and logging
// an error naming the mail's kind and the server's answer when it gives up. At most a few mails are on their way
// at once; beyond that a mail is dropped and logged rather than piling up goroutines. Logs name the kind of mail and
// its Message-ID, never a link inside it. Mails wait in memory: a process that stops while one waits for its next
// attempt gives it up, with an error in the log (Close).
type Outbox struct {
	mailer  Mailer
	logger  *slog.Logger
	retry   MailRetry
	clock   clockwork.Clock
	slots   chan struct{}
	wg      sync.WaitGroup
	closing chan struct{}
	once    sync.Once
}

func newOutbox(mailer Mailer, logger *slog.Logger, retry MailRetry, clock clockwork.Clock) *Outbox {
	if retry.Attempts <= 0 {
		retry = DefaultMailRetry
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Outbox{mailer: mailer, logger: logger, retry: retry, clock: clock,
		slots: make(chan struct{}, outboxSlots), closing: make(chan struct{})}
}

// SendLater sends m in the background and reports whether it is on its way: false when no mailer is configured or
// too many mails are in flight. The send outlives ctx's cancellation but keeps its values (the request's logger).
func (o *Outbox) SendLater(ctx context.Context, kind string, m mail.Message) bool {
	if o.mailer == nil {
		return false
	}
	logger := logging.From(ctx, o.logger).With("mail", kind)
	select {
	case o.slots <- struct{}{}:
	default:
		logger.Error("too many e-mails in flight; this one was dropped")
		return false
	}
	if m.IdempotencyKey == "" {
		// Every attempt carries the same Message-ID, so that a mail whose answer was lost and which is sent again
		// can be recognized as the same one.
		m.IdempotencyKey = uuid.NewString()
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer func() { <-o.slots }()
		o.deliver(context.WithoutCancel(ctx), logger, m)
	}()
	return true
}

// deliver sends m, retrying as o.retry says.
func (o *Outbox) deliver(ctx context.Context, logger *slog.Logger, m mail.Message) {
	wait := o.retry.Initial
	for attempt := 1; ; attempt++ {
		sendCtx, cancel := context.WithTimeout(ctx, mailTimeout)
		receipt, err := o.mailer.Send(sendCtx, m)
		cancel()
		if err == nil {
			logger.Info("e-mail sent", "message_id", receipt.MessageID, "attempts", attempt)
			return
		}
		permanent := mail.IsPermanent(err)
		if permanent || attempt >= o.retry.Attempts {
			logger.Error("e-mail not sent: gave up", "error", err, "attempts", attempt, "permanent", permanent)
			return
		}
		logger.Warn("e-mail not sent yet; will try again", "error", err, "attempt", attempt, "retry_in", wait)
		select {
		case <-o.clock.After(wait):
		case <-o.closing:
			logger.Error("e-mail not sent: gave up at shutdown", "error", err, "attempts", attempt)
			return
		}
		wait = min(2*wait, o.retry.Max)
	}
}

// Wait blocks until the e-mails on their way are sent or have failed, for tests.
func (o *Outbox) Wait() { o.wg.Wait() }

// Close gives up the mails waiting for their next attempt (each logged) and waits for the sends in progress, for a
// graceful shutdown.
func (o *Outbox) Close() {
	o.once.Do(func() { close(o.closing) })
	o.wg.Wait()
}

// Enabled reports whether e-mail can be sent at all (SMTP_URL is set): pages that depend on it, such as "forgot
// password", are offered only then.
func (o *Outbox) Enabled() bool { return o.mailer != nil }
