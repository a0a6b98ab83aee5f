package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
)

// Mailer sends e-mail; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (mail.Receipt, error)
}

// mailTimeout bounds one background send.
const mailTimeout = time.Minute

// outboxSlots is how many e-mails may be on their way at once.
const outboxSlots = 8

// Outbox sends e-mails in the background. At most a few sends run at once; beyond that a mail is dropped and
// logged rather than piling up goroutines. Logs name the kind of mail and its Message-ID, never a link inside it.
type Outbox struct {
	mailer Mailer
	logger *slog.Logger
	slots  chan struct{}
	wg     sync.WaitGroup
}

func newOutbox(mailer Mailer, logger *slog.Logger) *Outbox {
	return &Outbox{mailer: mailer, logger: logger, slots: make(chan struct{}, outboxSlots)}
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
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer func() { <-o.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
		defer cancel()
		receipt, err := o.mailer.Send(ctx, m)
		if err != nil {
			logger.Error("send e-mail", "error", err, "permanent", mail.IsPermanent(err))
			return
		}
		logger.Info("e-mail sent", "message_id", receipt.MessageID)
	}()
	return true
}

// Wait blocks until the e-mails on their way are sent or have failed, for a graceful shutdown and tests.
func (o *Outbox) Wait() { o.wg.Wait() }

// Enabled reports whether e-mail can be sent at all (SMTP_URL is set): pages that depend on it, such as "forgot
// password", are offered only then.
func (o *Outbox) Enabled() bool { return o.mailer != nil }
