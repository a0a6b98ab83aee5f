package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/fault"
	cmmail "github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// OutboxWorkerConfig is what the workers send outgoing messages with.
type OutboxWorkerConfig struct {
	Store *store.Store
	// Integrations open an e-mail channel's SMTP integration.
	Integrations *store.IntegrationStore
	// Mailer is the instance's SMTP server; nil when SMTP_URL is not set (e-mail channels then need an integration).
	Mailer Mailer
	// OutboxKeys and ChannelKeys must be the web processes' (OutboxKeyrings).
	OutboxKeys, ChannelKeys *secrets.Keyring
	// OutboundAllowedHosts are the internal hosts webhooks and SMTP integrations may reach (OUTBOUND_ALLOWED_HOSTS):
	// every other connection goes through the HTTP node's guard, which refuses internal addresses.
	OutboundAllowedHosts []string
	// SMTPTLSConfig, when set, is the base TLS configuration for integrations' SMTP (tests trust their own CA).
	SMTPTLSConfig *tls.Config
	// BaseURL is the public address links point at.
	BaseURL string
	// MaxTriggerBytes is how much of the last execution's trigger body a message carries
	// (NOTIFICATION_TRIGGER_MAX_BYTES); 0 leaves it out.
	MaxTriggerBytes int
	Logger          *slog.Logger
}

// OutboxWorker is the River worker that sends one outgoing message (store.OutboxArgs): an account mail, an alert
// to a channel, or a channel's test. Each attempt is recorded on the message's row (sent, retrying with the
// error, failed); River retries with its backoff (store.OutboxMaxAttempts). A permanent refusal (an SMTP 5xx, an
// HTTP 4xx other than 408 and 429, a blocked address) fails the message at once. Every attempt carries the same
// Message-ID or X-ConcertMaster-Delivery, so a receiver can drop a repeat after an answer was lost.
type OutboxWorker struct {
	river.WorkerDefaults[store.OutboxArgs]
	cfg   OutboxWorkerConfig
	http  *http.Client
	guard *actions.Guard
}

// NewOutboxWorker returns the worker.
func NewOutboxWorker(cfg OutboxWorkerConfig) (*OutboxWorker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	client, err := actions.NewGuardedHTTPClient(actions.GuardOptions{AllowedHosts: cfg.OutboundAllowedHosts,
		Timeout: 15 * time.Second, MaxRedirects: -1})
	if err != nil {
		return nil, err
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	guard, err := actions.NewGuard(cfg.OutboundAllowedHosts)
	if err != nil {
		return nil, err
	}
	return &OutboxWorker{cfg: cfg, http: client, guard: guard}, nil
}

// Timeout bounds one attempt.
func (w *OutboxWorker) Timeout(*river.Job[store.OutboxArgs]) time.Duration { return time.Minute }

// Work implements river.Worker.
func (w *OutboxWorker) Work(ctx context.Context, job *river.Job[store.OutboxArgs]) error {
	m, err := w.cfg.Store.OutgoingMessageGet(ctx, job.Args.MessageID)
	if fault.CodeOf(err) == fault.NotFound {
		return nil // its channel or organization was deleted
	}
	if err != nil {
		return err
	}
	if m.Status == "sent" || m.Status == "failed" {
		return nil
	}
	logger := w.cfg.Logger.With("outgoing_message_id", m.ID, "kind", m.Kind, "attempt", job.Attempt)
	sendErr := w.send(ctx, m)
	switch {
	case sendErr == nil:
		logger.Info("outgoing message sent")
		return w.cfg.Store.OutgoingMessageRecord(ctx, m.ID, "sent", job.Attempt, "")
	case permanent(sendErr) || job.Attempt >= job.MaxAttempts:
		logger.Warn("outgoing message not sent: gave up", "error", sendErr)
		if err := w.cfg.Store.OutgoingMessageRecord(ctx, m.ID, "failed", job.Attempt, sendErr.Error()); err != nil {
			return err
		}
		return river.JobCancel(sendErr)
	default:
		logger.Info("outgoing message not sent yet; will try again", "error", sendErr)
		if err := w.cfg.Store.OutgoingMessageRecord(ctx, m.ID, "retrying", job.Attempt, sendErr.Error()); err != nil {
			return err
		}
		return sendErr
	}
}

// permanentError is a refusal that no retry changes.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || cmmail.IsPermanent(err) || actions.IsBlocked(err) || fault.CodeOf(err) == fault.Invalid
}

func (w *OutboxWorker) send(ctx context.Context, m store.OutgoingMessage) error {
	switch m.Kind {
	case "invitation", "password_reset":
		content, err := openAccountMail(w.cfg.OutboxKeys, m)
		if err != nil {
			return permanentError{fmt.Errorf("the mail cannot be opened: %w", err)}
		}
		if w.cfg.Mailer == nil {
			return permanentError{errors.New("SMTP_URL is not configured")}
		}
		_, err = w.cfg.Mailer.Send(ctx, cmmail.Message{To: content.To, Subject: content.Subject, Text: content.Text,
			IdempotencyKey: m.MessageKey})
		return err
	}
	if m.OrganizationID == nil || m.ChannelID == nil {
		return permanentError{errors.New("the message names no channel")}
	}
	ch, err := w.cfg.Store.NotificationChannelGet(ctx, *m.OrganizationID, *m.ChannelID)
	if err != nil {
		return err
	}
	var alert store.Alert
	if m.NotificationID != nil {
		if alert, err = w.cfg.Store.AlertGet(ctx, *m.OrganizationID, *m.NotificationID); err != nil {
			return err
		}
	} else {
		alert = store.Alert{OrganizationID: *m.OrganizationID, Event: "test", Occurrences: 1}
	}
	return w.toChannel(ctx, m, ch, renderAlert(w.cfg.BaseURL, alert, m.Kind == "channel_test", w.cfg.MaxTriggerBytes))
}

func (w *OutboxWorker) toChannel(ctx context.Context, m store.OutgoingMessage, ch store.NotificationChannel, r renderedAlert) error {
	sec, err := openChannelSecrets(w.cfg.ChannelKeys, ch)
	if err != nil {
		return permanentError{fmt.Errorf("the channel's settings cannot be opened: %w", err)}
	}
	switch ch.Kind {
	case ChannelEmail:
		return w.email(ctx, m, ch, r)
	case ChannelWebhook:
		return w.post(ctx, sec.URL, webhookPayload(m.MessageKey, r), m.MessageKey, sec.SigningSecret)
	case ChannelSlack:
		return w.post(ctx, sec.URL, slackPayload(r), m.MessageKey, "")
	case ChannelTeams:
		return w.post(ctx, sec.URL, teamsPayload(r), m.MessageKey, "")
	}
	return permanentError{fmt.Errorf("a %s channel sends no messages", ch.Kind)}
}

// Signature of outgoing webhooks: the scheme ConcertMaster checks on its own webhooks (handlers/httpx.Sign),
// X-ConcertMaster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func signatureValue(secret string, t time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(t.Unix(), 10) + "."))
	mac.Write(body)
	return "t=" + strconv.FormatInt(t.Unix(), 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends body to url through the guarded client; a signing secret signs it.
func (w *OutboxWorker) post(ctx context.Context, url string, body []byte, key, secret string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("the channel's address is not valid: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ConcertMaster-Notifications")
	req.Header.Set("X-ConcertMaster-Delivery", key)
	req.Header.Set("Idempotency-Key", key)
	if secret != "" {
		req.Header.Set("X-ConcertMaster-Signature", signatureValue(secret, time.Now(), body))
	}
	resp, err := w.http.Do(req)
	if err != nil {
		// The client's error names the URL, which for Slack and Teams is a credential: keep only its host.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return fmt.Errorf("post to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s answered %s", req.URL.Host, resp.Status)
	// A redirect is not followed (it could lead the message anywhere) and is as final as a refusal.
	if resp.StatusCode < 400 || (resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429) {
		return permanentError{err}
	}
	return err
}

// email sends an alert to an e-mail channel: through its SMTP integration (dialed through the guard), or the
// instance's server.
func (w *OutboxWorker) email(ctx context.Context, m store.OutgoingMessage, ch store.NotificationChannel, r renderedAlert) error {
	var cfg channelConfig
	_ = json.Unmarshal(ch.Config, &cfg)
	msg := cmmail.Message{To: cfg.To, Subject: r.Title, Text: r.Text, HTML: r.HTML, IdempotencyKey: m.MessageKey}
	if cfg.IntegrationID == nil {
		if w.cfg.Mailer == nil {
			return permanentError{errors.New("SMTP_URL is not configured and the channel names no SMTP integration")}
		}
		_, err := w.cfg.Mailer.Send(ctx, msg)
		return err
	}
	integ, err := w.cfg.Integrations.IntegrationForRun(ctx, ch.OrganizationID, *cfg.IntegrationID)
	if err != nil {
		return permanentError{fmt.Errorf("the channel's SMTP integration: %w", err)}
	}
	s, err := actions.ParseSMTPSettings(integ.Settings)
	if err != nil {
		return permanentError{err}
	}
	return w.smtpIntegration(ctx, s, msg)
}

func (w *OutboxWorker) smtpIntegration(ctx context.Context, s actions.SMTPSettings, msg cmmail.Message) error {
	addr, err := w.guard.Resolve(ctx, s.Host)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return permanentError{errors.New("the integration's from address is not valid")}
	}
	port := s.Port
	if port == 0 {
		port = 587
	}
	sender := cmmail.NewSender(cmmail.Config{Host: addr.String(), Port: strconv.Itoa(port), Username: s.Username,
		Password: s.Password, From: from, TLS: cmmail.TLSMode(s.TLS), HelloName: s.HelloName})
	tlsConfig := w.cfg.SMTPTLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.ServerName = s.Host
	sender.TLSConfig = tlsConfig
	_, err = sender.Send(ctx, msg)
	return err
}
