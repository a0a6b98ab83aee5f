package actions

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	cmmail "github.com/concertmaster/concertmaster/platform/mail"
)

// Send implements engine.Mailer: the message goes through the SMTP integration m.IntegrationID, of the
// execution's organization, within its rate limit, and is recorded in email_deliveries: a row in status sending
// first, then sent with the server's reply and the Message-ID, or failed with the error. SMTP 5xx answers and
// invalid messages are permanent; everything else may pass on a retry.
func (rt *executionRuntime) Send(ctx context.Context, m engine.Mail) (engine.MailReceipt, error) {
	in, err := resolveIntegration(ctx, &engine.Services{Integrations: rt}, m.IntegrationID, KindSMTP)
	if err != nil {
		return engine.MailReceipt{}, err
	}
	settings, err := ParseSMTPSettings(in.Settings)
	if err != nil {
		return engine.MailReceipt{}, engine.Permanent(fmt.Errorf("integration %s: %w", in.ID, err))
	}
	if err := rt.f.gate.Wait(ctx, in); err != nil {
		return engine.MailReceipt{}, err
	}

	integrationID, _ := uuid.Parse(in.ID)
	rec := EmailDelivery{OrganizationID: rt.orgID, NodeID: m.NodeID, IntegrationID: &integrationID, Subject: m.Subject,
		IdempotencyKey: m.IdempotencyKey, ResendIfUnknown: m.ResendIfUnknown}
	if rt.executionID != uuid.Nil {
		rec.ExecutionID = &rt.executionID
	}
	rec.Recipients = append(append(append(rec.Recipients, m.To...), m.Cc...), m.Bcc...)
	claim, err := rt.f.cfg.Records.EmailDeliveryStart(ctx, rec)
	if err != nil {
		return engine.MailReceipt{}, fmt.Errorf("record e-mail delivery: %w", err)
	}
	out := engine.MailReceipt{DeliveryID: claim.ID.String(), MessageID: claim.MessageID, SMTPReply: claim.SMTPReply}
	if !claim.Send {
		if claim.Previous == DeliverySent {
			return out, nil // sent by an earlier pass whose own record was lost: not again
		}
		return out, engine.Permanent(ErrEmailDeliveryUnknown)
	}
	receipt, sendErr := rt.sendSMTP(ctx, settings, m)
	if sendErr != nil {
		// The error names the address dialled (one the host resolved to); this names the server as the integration does.
		sendErr = fmt.Errorf("SMTP server %s: %w", net.JoinHostPort(settings.Host, strconv.Itoa(settings.Port)), sendErr)
		// A server's reply or a dial error can quote what it was given; the delivery record, the node's error and
		// the logs get it without the integration's secrets.
		var red Redactor
		red.addIntegration(KindSMTP, in.Settings)
		sendErr = red.Error(sendErr)
	} else if rt.f.cfg.AfterSMTPAccept != nil {
		rt.f.cfg.AfterSMTPAccept(claim.ID)
	}
	result := EmailDeliveryResult{Status: DeliverySent, MessageID: receipt.MessageID, SMTPReply: receipt.Reply}
	if sendErr != nil {
		result = EmailDeliveryResult{Status: DeliveryFailed, Error: sendErr.Error()}
	}
	// Recorded even when the node's context has ended: the server may have the message.
	if err := rt.f.cfg.Records.EmailDeliveryFinish(context.WithoutCancel(ctx), rt.orgID, claim.ID, result); err != nil && sendErr == nil {
		rt.f.cfg.Logger.Error("recording a sent e-mail failed", "delivery_id", claim.ID, "error", err)
	}
	out.MessageID, out.SMTPReply = receipt.MessageID, receipt.Reply
	if sendErr != nil {
		if cmmail.IsPermanent(sendErr) || IsBlocked(sendErr) {
			return out, engine.Permanent(sendErr)
		}
		return out, sendErr
	}
	return out, nil
}

// ErrEmailDeliveryUnknown fails an action.email run that finds its message left sending by an earlier pass: that
// pass stopped (its process was killed, its database connection lost) after handing the message to the SMTP
// server and before recording the answer, so the message may have been delivered. Sending it again could deliver
// it twice, so the run fails for a person to decide, unless the node sets resend_if_unknown.
var ErrEmailDeliveryUnknown = errors.New("email_delivery_unknown: an earlier attempt of this node stopped after " +
	"handing the message to the SMTP server and before recording its answer, so it may have been delivered; it was " +
	"not sent again. Check with the recipients; retry the execution to send it anew, or set resend_if_unknown on " +
	"the node to resend such messages (with the same Message-ID) automatically")

// sendSMTP sends through the integration's server. platform/mail's Sender dials the host it is given, so the host is
// resolved here, through the guard, and the sender is handed the allowed address itself; TLS still verifies the
// certificate against the configured host name.
func (rt *executionRuntime) sendSMTP(ctx context.Context, s SMTPSettings, m engine.Mail) (cmmail.Receipt, error) {
	addr, err := rt.f.guard.Resolve(ctx, s.Host)
	if err != nil {
		return cmmail.Receipt{}, fmt.Errorf("smtp: %w", err)
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return cmmail.Receipt{}, engine.Permanent(errors.New("the integration's from address is not valid"))
	}
	sender := cmmail.NewSender(cmmail.Config{Host: addr.String(), Port: strconv.Itoa(s.Port), Username: s.Username,
		Password: s.Password, From: from, TLS: cmmail.TLSMode(s.TLS), HelloName: s.HelloName})
	tlsConfig := rt.f.cfg.SMTPTLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.ServerName = s.Host
	sender.TLSConfig = tlsConfig
	msg := cmmail.Message{From: m.From, To: m.To, Cc: m.Cc, Bcc: m.Bcc, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		IdempotencyKey: m.IdempotencyKey}
	for _, a := range m.Attachments {
		msg.Attachments = append(msg.Attachments, cmmail.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data})
	}
	return sender.Send(ctx, msg)
}
