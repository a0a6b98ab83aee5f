package app

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Mailer sends e-mail; *mail.Sender is the real one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (mail.Receipt, error)
}

// Outbox hands account mails (invitations, password resets) to the durable outgoing messages: each is a row with
// its delivery status and a River job, sent by the workers' OutboxWorker with retries and backoff, so a mail
// survives a restart and a busy SMTP server. The mail's recipients and body carry a one-time link, so they are
// stored sealed (AES-256-GCM under a key derived from SECRET_KEY); the row shows only its kind and status.
type Outbox struct {
	store   *store.Store
	keys    *secrets.Keyring
	enabled bool
	logger  *slog.Logger
}

// accountMail is the sealed content of an account mail.
type accountMail struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
}

// Send records an account mail of kind (invitation, password_reset) and its job, and reports whether it is on its
// way: false when no mailer is configured or it could not be recorded (logged).
func (o *Outbox) Send(ctx context.Context, kind string, orgID, invitationID *uuid.UUID, m mail.Message) bool {
	if !o.enabled {
		return false
	}
	logger := logging.From(ctx, o.logger).With("mail", kind)
	key := uuid.NewString()
	plain, _ := json.Marshal(accountMail{To: m.To, Subject: m.Subject, Text: m.Text})
	sealed, err := o.keys.Seal(plain, []byte(key))
	if err != nil {
		logger.Error("e-mail not queued: sealing failed", "error", err)
		return false
	}
	msg, err := o.store.OutgoingMessageEnqueue(ctx, store.OutgoingMessage{OrganizationID: orgID, Kind: kind,
		InvitationID: invitationID, Subject: m.Subject, Sealed: sealed, MessageKey: key})
	if err != nil {
		logger.Error("e-mail not queued", "error", err)
		return false
	}
	logger.Info("e-mail queued", "outgoing_message_id", msg.ID)
	return true
}

// Enabled reports whether e-mail can be sent at all (SMTP_URL is set): pages that depend on it, such as "forgot
// password", are offered only then.
func (o *Outbox) Enabled() bool { return o.enabled }

// openAccountMail opens an account mail's sealed content.
func openAccountMail(keys *secrets.Keyring, m store.OutgoingMessage) (accountMail, error) {
	plain, err := keys.Open(m.Sealed, []byte(m.MessageKey))
	if err != nil {
		return accountMail{}, err
	}
	var out accountMail
	return out, json.Unmarshal(plain, &out)
}
