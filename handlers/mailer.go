package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
)

// mailTimeout bounds one background send.
const mailTimeout = time.Minute

// sendMailLater sends m in the background, so the answer to the request neither waits for the SMTP server nor
// takes longer when an e-mail goes out (which would tell whether an account exists). At most a few sends run at
// once; beyond that, a mail is dropped and logged rather than piling up goroutines. The log names the kind of mail
// and the Message-ID, never the link inside it.
func (s *Server) sendMailLater(r *http.Request, kind string, m mail.Message) bool {
	if s.deps.Mailer == nil {
		return false
	}
	logger := logging.From(r.Context(), s.deps.Logger).With("mail", kind)
	select {
	case s.mailSlots <- struct{}{}:
	default:
		logger.Error("too many e-mails in flight; this one was dropped")
		return false
	}
	s.mailWG.Add(1)
	go func() {
		defer s.mailWG.Done()
		defer func() { <-s.mailSlots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), mailTimeout)
		defer cancel()
		receipt, err := s.deps.Mailer.Send(ctx, m)
		if err != nil {
			logger.Error("send e-mail", "error", err, "permanent", mail.IsPermanent(err))
			return
		}
		logger.Info("e-mail sent", "message_id", receipt.MessageID)
	}()
	return true
}
