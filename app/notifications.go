package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Notifications are the use cases of notification channels, rules and the in-app bell. Channels and the
// organization's rules are managed by admins and owners (the IntegrationsManage action: a channel, like an
// integration, holds credentials); a workflow's rules by whoever may edit the workflow; every member reads their
// own bell. The evaluation and the sending are background work (store.NotificationEvaluator, OutboxWorker).
type Notifications struct {
	store     *store.Store
	keys      *secrets.Keyring
	workflows *Workflows
	limiter   ratelimit.Limiter
	now       func() time.Time
}

// ChannelTestsPerHour bounds the tests an organization sends an hour: a test goes to any address or URL its admins
// typed, so it must not become a way to send mail or requests in bulk.
const ChannelTestsPerHour = 30

// Channel kinds.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
	ChannelSlack   = "slack"
	ChannelTeams   = "teams"
	ChannelInApp   = "in_app"
)

// ChannelInput is a channel as a form or the API gives it. URL is the destination of webhook, Slack and Teams
// channels (sealed at rest, never shown back: on an update an empty URL keeps the current one).
type ChannelInput struct {
	Name          string     `json:"name" form:"name" validate:"required,max=200"`
	Kind          string     `json:"kind" form:"kind" validate:"required,oneof=email webhook slack teams in_app"`
	To            []string   `json:"to,omitempty" form:"to" validate:"max=20,dive,email,max=254"`
	IntegrationID *uuid.UUID `json:"integration_id,omitempty" form:"integration_id"`
	URL           string     `json:"url,omitempty" form:"url" validate:"max=2000"`
	Roles         []string   `json:"roles,omitempty" form:"roles" validate:"max=4,dive,oneof=owner admin member viewer"`
}

// channelConfig is what a channel shows of its settings.
type channelConfig struct {
	To            []string   `json:"to,omitempty"`
	IntegrationID *uuid.UUID `json:"integration_id,omitempty"`
	Host          string     `json:"host,omitempty"`
	Roles         []string   `json:"roles,omitempty"`
}

// channelSecrets are a channel's sealed settings.
type channelSecrets struct {
	URL           string `json:"url,omitempty"`
	SigningSecret string `json:"signing_secret,omitempty"`
}

// SavedChannel is a channel after a save, with a new webhook channel's signing secret, shown this once.
type SavedChannel struct {
	Channel       store.NotificationChannel
	SigningSecret string
}

// checkChannel validates in for its kind and returns the shown config and, when given, the destination URL.
func (n *Notifications) checkChannel(ctx context.Context, c Caller, in *ChannelInput, creating bool) (channelConfig, error) {
	in.Name, in.URL = strings.TrimSpace(in.Name), strings.TrimSpace(in.URL)
	for i := range in.To {
		in.To[i] = strings.TrimSpace(in.To[i])
	}
	err := validate.Struct(*in)
	var extra []*fault.FieldError
	cfg := channelConfig{Roles: in.Roles}
	switch in.Kind {
	case ChannelEmail:
		if len(in.To) == 0 {
			extra = append(extra, &fault.FieldError{Field: "to", Message: "name at least one address"})
		}
		cfg.To, cfg.IntegrationID = in.To, in.IntegrationID
		if in.IntegrationID != nil {
			integ, ierr := n.workflows.integrations.store.Get(ctx, c.Principal.OrgID, *in.IntegrationID)
			if ierr != nil || integ.Kind != "smtp" {
				extra = append(extra, &fault.FieldError{Field: "integration_id", Message: "must be one of the organization's SMTP integrations"})
			}
		}
	case ChannelWebhook, ChannelSlack, ChannelTeams:
		if in.URL == "" && creating {
			extra = append(extra, &fault.FieldError{Field: "url", Message: "is required"})
		} else if in.URL != "" {
			u, perr := url.Parse(in.URL)
			if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
				extra = append(extra, &fault.FieldError{Field: "url", Message: "must be an http or https address without credentials"})
			} else {
				cfg.Host = u.Hostname()
			}
		}
	}
	return cfg, validate.Join(err, extra...)
}

// SaveChannel creates a channel (id nil) or updates one of the caller's organization.
func (n *Notifications) SaveChannel(ctx context.Context, c Caller, id *uuid.UUID, in ChannelInput) (SavedChannel, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		return SavedChannel{}, err
	}
	var current store.NotificationChannel
	if id != nil {
		var err error
		if current, err = n.store.NotificationChannelGet(ctx, p.OrgID, *id); err != nil {
			return SavedChannel{}, err
		}
		in.Kind = current.Kind // a channel's kind never changes
	}
	cfg, err := n.checkChannel(ctx, c, &in, id == nil)
	if err != nil {
		return SavedChannel{}, err
	}
	ch := store.NotificationChannel{ID: current.ID, OrganizationID: p.OrgID, Name: in.Name, Kind: in.Kind}
	if id == nil {
		ch.ID = store.NotificationChannelID()
	}
	var out SavedChannel
	sec := channelSecrets{URL: in.URL}
	if id != nil && in.URL != "" && current.Sealed != nil {
		old, err := n.openChannel(current)
		if err != nil {
			return SavedChannel{}, err
		}
		sec.SigningSecret = old.SigningSecret
	}
	if id != nil && in.URL == "" {
		var shown channelConfig
		_ = json.Unmarshal(current.Config, &shown)
		cfg.Host = shown.Host
	}
	if in.Kind == ChannelWebhook && id == nil {
		var b [32]byte
		_, _ = rand.Read(b[:])
		sec.SigningSecret = "whsec_" + hex.EncodeToString(b[:])
		out.SigningSecret = sec.SigningSecret
	}
	if in.URL != "" {
		plain, _ := json.Marshal(sec)
		if ch.Sealed, err = n.keys.Seal(plain, channelAAD(p.OrgID, ch.ID)); err != nil {
			return SavedChannel{}, err
		}
	}
	ch.Config, _ = json.Marshal(cfg)
	out.Channel, err = n.store.NotificationChannelSave(ctx, ch, id == nil, c.Actor)
	return out, err
}

func channelAAD(org, id uuid.UUID) []byte {
	return []byte("notification-channel:" + org.String() + ":" + id.String())
}

// openChannel opens a channel's sealed settings.
func (n *Notifications) openChannel(ch store.NotificationChannel) (channelSecrets, error) {
	return openChannelSecrets(n.keys, ch)
}

func openChannelSecrets(keys *secrets.Keyring, ch store.NotificationChannel) (channelSecrets, error) {
	var out channelSecrets
	if ch.Sealed == nil {
		return out, nil
	}
	plain, err := keys.Open(ch.Sealed, channelAAD(ch.OrganizationID, ch.ID))
	if err != nil {
		return out, err
	}
	return out, json.Unmarshal(plain, &out)
}

// Channels lists the organization's channels; any member may see where alerts go.
func (n *Notifications) Channels(ctx context.Context, c Caller) ([]store.NotificationChannel, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return nil, err
	}
	return n.store.NotificationChannelList(ctx, p.OrgID)
}

// ChannelDetail is a channel with its latest deliveries.
type ChannelDetail struct {
	Channel    store.NotificationChannel
	Deliveries []store.OutgoingMessage
}

// Channel reads a channel of the caller's organization with its latest 50 deliveries.
func (n *Notifications) Channel(ctx context.Context, c Caller, id uuid.UUID) (ChannelDetail, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.MembersView, authz.Org(p.OrgID)); err != nil {
		return ChannelDetail{}, err
	}
	ch, err := n.store.NotificationChannelGet(ctx, p.OrgID, id)
	if err != nil {
		return ChannelDetail{}, err
	}
	deliveries, err := n.store.OutgoingMessageListForChannel(ctx, p.OrgID, id, 50)
	return ChannelDetail{Channel: ch, Deliveries: deliveries}, err
}

// DeleteChannel deletes a channel of the caller's organization.
func (n *Notifications) DeleteChannel(ctx context.Context, c Caller, id uuid.UUID) error {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		return err
	}
	return n.store.NotificationChannelDelete(ctx, p.OrgID, id, c.Actor)
}

// TestChannel sends a test message through a channel, durably like any other; its delivery shows on the
// channel's page.
func (n *Notifications) TestChannel(ctx context.Context, c Caller, id uuid.UUID) (store.OutgoingMessage, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)); err != nil {
		return store.OutgoingMessage{}, err
	}
	ch, err := n.store.NotificationChannelGet(ctx, p.OrgID, id)
	if err != nil {
		return store.OutgoingMessage{}, err
	}
	if ok, wait, err := n.limiter.Allow(ctx, "channel-test:"+p.OrgID.String(), ChannelTestsPerHour, time.Hour); err != nil {
		return store.OutgoingMessage{}, err
	} else if !ok {
		return store.OutgoingMessage{}, fault.TooManyAttempts(wait)
	}
	if ch.Kind == ChannelInApp {
		return store.OutgoingMessage{}, fault.Fields("an in-app channel has nothing to test",
			fault.FieldError{Field: "kind", Message: "in-app channels show alerts in the bell; there is nothing to send"})
	}
	var cfg channelConfig
	_ = json.Unmarshal(ch.Config, &cfg)
	recipient := cfg.Host
	if ch.Kind == ChannelEmail {
		recipient = strings.Join(cfg.To, ", ")
	}
	org := p.OrgID
	return n.store.OutgoingMessageEnqueue(ctx, store.OutgoingMessage{OrganizationID: &org, Kind: "channel_test",
		ChannelID: &ch.ID, Recipient: recipient, Subject: "Test message"})
}
