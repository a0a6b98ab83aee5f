// Package app holds ConcertMaster's use cases: each thing a person or a program does to an organization's data
// (invite a member, cancel an execution, retry it from its failed node …) is written here once, with its
// authorization, its validation and its audit record. The HTTP surfaces — pages, the REST API and the canvas's
// JSON routes — are adapters over it: they parse a request, call a use case with the Caller, and render what it
// returns or the fault it fails with.
//
// A use case takes a Caller, never an *http.Request, and returns store types or faults (platform/fault). It may
// import the engine, the store and platform packages; it must not import handlers or views.
package app

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Caller is who a use case acts for: the principal authorization decides on, the actor the audit log names, and
// the names that messages sent on their behalf show.
type Caller struct {
	Principal authz.Principal
	Actor     store.Actor
	UserName  string
	OrgName   string
}

// Config is what New builds the use cases from; cmd/concertmaster fills it once.
type Config struct {
	Store *store.Store
	// Plans loads compiled workflow versions (retry from the failed node needs the graph).
	Plans *engine.PlanLoader
	// Registry holds the node types workflow definitions are validated against.
	Registry *engine.Registry
	// Integrations stores integrations with their secrets sealed (and is read to check that a definition's author
	// may use the integrations it names); ConnectionTester runs their "test connection" through the same outbound
	// guard as the nodes.
	Integrations     *store.IntegrationStore
	ConnectionTester *actions.ConnectionTester
	// WebhookKeys seal webhook secrets at rest.
	WebhookKeys *secrets.Keyring
	// Limiter counts rate-limited events (executions started by triggers, sign-ins, password resets …); an
	// in-process one when nil.
	Limiter ratelimit.Limiter
	// OrgTriggerRateLimit is how many executions one organization may start a second through its triggers; 0
	// means DefaultOrgTriggerRateLimit.
	OrgTriggerRateLimit int
	// Mailer is the instance's SMTP server (SMTP_URL); nil when it is not configured: account mails' links are then
	// shown rather than sent. The mails themselves are sent by the workers' OutboxWorker.
	Mailer Mailer
	// OutboxKeys seal account mails at rest and ChannelKeys notification channels' secrets; both are derived from
	// SECRET_KEY (see OutboxKeyrings). When nil, a key of this process alone is drawn (tests).
	OutboxKeys, ChannelKeys *secrets.Keyring
	// Files deletes the stored files of deleted forms and submissions at once; when nil they wait for the sweep.
	Files FileRemover
	// BaseURL is the public address links in e-mails point at.
	BaseURL *url.URL
	Logger  *slog.Logger
	// PasswordCost is the bcrypt cost of new password hashes; auth.DefaultPasswordCost when 0. Tests lower it.
	PasswordCost int
	// Flags evaluates feature flags: a node type gated by a flag (node.<type>) is absent from an organization's
	// palette and refused at save where the flag is off. Nil gates nothing.
	Flags *flags.Flags
	// Retention is the instance's history retention (EXECUTION_RETENTION_*), which organizations may override.
	Retention store.HistoryRetention
	// Sandbox runs the editor's expression previews (NodeData.Preview) under the limits runs have; a pool with the
	// default limits when nil (it starts no process until the first jq program).
	Sandbox *sandbox.Pool
	// Now is the clock of expiry times; time.Now when nil.
	Now func() time.Time
}

// App is the set of use cases, one field per domain area.
type App struct {
	Accounts     *Accounts
	Members      *Members
	Workflows    *Workflows
	Executions   *Executions
	Triggers     *Triggers
	Forms        *Forms
	Integrations *Integrations
	Tokens       *Tokens
	// Notifications are the channels, rules and in-app bell of notifications.
	Notifications *Notifications
	// FeatureFlags are the instance administrators' view and changes of the feature flags.
	FeatureFlags *FeatureFlags
	// Retention is an organization's own execution retention.
	Retention *Retention
	// NodeData is the editor's node view: pinned data, the last test run's data, expression previews.
	NodeData *NodeData
	// Outbox queues account mails as durable outgoing messages, so a request neither waits for SMTP nor reveals by
	// its timing whether a mail went out.
	Outbox *Outbox

	limiter ratelimit.Limiter
}

// Limiter is the limiter the use cases count in. The HTTP layer counts its own limits (API calls per token) in it
// too when given none, so one limiter holds every count.
func (a *App) Limiter() ratelimit.Limiter { return a.limiter }

// New builds the use cases.
func New(cfg Config) *App {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemoryClock(0, cfg.Now)
	}
	if cfg.OrgTriggerRateLimit <= 0 {
		cfg.OrgTriggerRateLimit = DefaultOrgTriggerRateLimit
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	}
	if cfg.Sandbox == nil {
		cfg.Sandbox = sandbox.NewPool(sandbox.Options{Logger: cfg.Logger})
	}
	passwords := newPasswords(cfg.PasswordCost)
	cfg.OutboxKeys, cfg.ChannelKeys = orEphemeralKeys(cfg.OutboxKeys, "outbox"), orEphemeralKeys(cfg.ChannelKeys, "notification-channels")
	outbox := &Outbox{store: cfg.Store, keys: cfg.OutboxKeys, enabled: cfg.Mailer != nil, logger: cfg.Logger}
	baseURL := strings.TrimRight(cfg.BaseURL.String(), "/")
	triggers := &Triggers{limiter: cfg.Limiter, perSecond: cfg.OrgTriggerRateLimit, logger: cfg.Logger}
	integrations := &Integrations{store: cfg.Integrations, tester: cfg.ConnectionTester}
	workflows := &Workflows{store: cfg.Store, registry: cfg.Registry, integrations: integrations,
		webhookKeys: cfg.WebhookKeys, triggers: triggers, flags: cfg.Flags, now: cfg.Now}
	return &App{
		Notifications: &Notifications{store: cfg.Store, keys: cfg.ChannelKeys, workflows: workflows, limiter: cfg.Limiter, now: cfg.Now},
		Outbox:        outbox,
		Triggers:      triggers,
		Integrations:  integrations,
		Workflows:     workflows,
		Members:       &Members{store: cfg.Store, passwords: passwords, outbox: outbox, now: cfg.Now, baseURL: baseURL},
		Executions:    &Executions{store: cfg.Store, plans: cfg.Plans, workflows: workflows, triggers: triggers},
		Forms:         &Forms{store: cfg.Store, files: cfg.Files, logger: cfg.Logger},
		Tokens:        &Tokens{store: cfg.Store, now: cfg.Now},
		FeatureFlags:  &FeatureFlags{store: cfg.Store, flags: cfg.Flags},
		Retention:     &Retention{store: cfg.Store, defaults: cfg.Retention},
		NodeData:      &NodeData{store: cfg.Store, workflows: workflows, sandbox: cfg.Sandbox},
		Accounts: &Accounts{store: cfg.Store, passwords: passwords, attempts: attempts{limiter: cfg.Limiter, logger: cfg.Logger},
			outbox: outbox, now: cfg.Now, baseURL: baseURL, logger: cfg.Logger},
		limiter: cfg.Limiter,
	}
}

// OutboxKeyrings derives the keyrings of account mails and of notification channels' secrets from SECRET_KEY (and
// SECRET_KEY_PREVIOUS during a rotation); the web processes and the workers must use the same.
func OutboxKeyrings(secretKey, previous string) (outbox, channels *secrets.Keyring, err error) {
	if outbox, err = secrets.NewKeyring("outbox", secretKey, previous); err != nil {
		return nil, nil, err
	}
	channels, err = secrets.NewKeyring("notification-channels", secretKey, previous)
	return outbox, channels, err
}

// orEphemeralKeys returns k, or a keyring of a key drawn now, which only this process can open (tests).
func orEphemeralKeys(k *secrets.Keyring, purpose string) *secrets.Keyring {
	if k != nil {
		return k
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	k, err := secrets.NewKeyring(purpose, hex.EncodeToString(b[:]), "")
	if err != nil {
		panic(err) // a drawn 64-character key is always accepted
	}
	return k
}
