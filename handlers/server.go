// Package handlers composes ConcertMaster's HTTP server: New builds the shared kit (package httpx) from Deps and
// mounts the routes of each surface — pages, api, public, admin — in a fixed order inside the middleware chain.
// The surfaces' handlers read like recipes: parse, call a use case of package app, render or redirect.
package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Deps is everything the HTTP layer needs, built once in cmd/concertmaster.
type Deps struct {
	Logger *slog.Logger
	DB     admin.Pinger
	// Optional names the optional dependencies (Redis) with a function describing each one's state, which /readyz
	// lists under its answer; they never make the process unready.
	Optional map[string]func() string
	// App holds the use cases the handlers adapt (app.New); required.
	App *app.App
	// Store is the application's data, for the reads and actions not yet moved into App.
	Store *store.Store
	// Metrics is the registry served at /metrics; the HTTP metrics are registered in it by New.
	Metrics *prometheus.Registry
	Version string

	// BaseURL is the public address: links in e-mails, the trusted origin, and Secure cookies when https.
	BaseURL *url.URL
	// SecretKey (SECRET_KEY) keys the JWT signing key, through a derivation per purpose.
	SecretKey string
	// Sessions stores sessions: Postgres (pgxstore) by default, Redis (goredisstore) when REDIS_URL is set; an
	// in-memory store when nil (tests only: it forgets sessions on restart and is not shared).
	Sessions scs.Store
	// SessionIdleTimeout signs out a session unused for this long; SessionLifetime ends any session this long after
	// sign-in.
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// Limiter counts rate-limited attempts: Redis when REDIS_URL is set; the App's (in-process) when nil.
	Limiter ratelimit.Limiter
	// Now is the clock of the re-entered password's freshness and of the in-process limiter; time.Now when nil.
	Now func() time.Time
	// MetricsToken, when set, is the Bearer token /metrics requires; MetricsOwnListener serves /metrics only on
	// the listener MetricsHandler is mounted on (METRICS_ADDR), not on this server.
	MetricsToken       string
	MetricsOwnListener bool
	// CORSAllowedOrigins may call /api from a browser (exact origins, "https://app.example.com").
	CORSAllowedOrigins []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client's address.
	TrustedProxies []netip.Prefix
	// SignupEnabled lets anyone create an account and organization at /signup.
	SignupEnabled bool
	// APIRateLimit is how many API requests one token or user may make per minute.
	APIRateLimit int

	// Registry holds the node types: validation, the node catalogue and compiling plans.
	Registry *engine.Registry
	// Plans loads compiled workflow versions (retry from a failed node, the execution graph and a webhook's answer
	// need the graph), sharing one cache with the workers.
	Plans *engine.PlanLoader
	// Ingester writes webhook-triggered executions in group commits.
	Ingester *store.ExecutionIngester
	// Events relays execution status changes (a webhook waiting for its result, live pages).
	Events *store.ExecutionEvents
	// WebhookKeys seals webhook secrets at rest.
	WebhookKeys *secrets.Keyring
	// Deliveries logs webhook calls in the background; nil logs nothing.
	Deliveries *store.DeliveryLog
	// WebhookMaxBodyBytes bounds a webhook call's body (413 past it).
	WebhookMaxBodyBytes int64
	// WebhookRateLimit is how many calls one webhook accepts per second.
	WebhookRateLimit int
	// Files is the storage backend (uploads, exported files).
	Files storage.Backend
	// Integrations stores integrations with their secrets sealed, and ConnectionTester runs an integration's "test
	// connection" through the outbound guard: the integrations use cases take them (app.Config), and cmd builds
	// them here with the rest of the web process's parts.
	Integrations     *store.IntegrationStore
	ConnectionTester *actions.ConnectionTester
	// Tracing starts each request's server span (OTEL_EXPORTER_OTLP_ENDPOINT); off when nil.
	Tracing *tracing.Tracing
	// Development (APP_ENV=development) shows a banner on every page, so nobody takes a local instance for a real
	// one.
	Development bool
	// FreshReadsWindow is how long a user's reads skip the read replica after they change something: its lag
	// bound (DATABASE_READ_MAX_LAG), 0 without a replica.
	FreshReadsWindow time.Duration
	// Flags evaluates feature flags; the flags admin page and API need it (nil: they answer 503).
	Flags *flags.Flags
	// JobsUI is River's own UI (NewJobsUI, already started), served at /admin/jobs to instance administrators; nil
	// answers them 503.
	JobsUI http.Handler
}

// Server is the application's http.Handler.
type Server struct {
	deps   Deps
	kit    *httpx.Kit
	router *httpx.Router
	// handler is the router wrapped in the middleware chain.
	handler http.Handler
}

// Defaults for the Deps left zero.
const (
	DefaultSessionIdleTimeout = 12 * time.Hour
	DefaultSessionLifetime    = 7 * 24 * time.Hour
	DefaultAPIRateLimit       = 600
	// AccessTokenLifetime is the life of an API access token; a refresh token gets the next one.
	AccessTokenLifetime = 15 * time.Minute
	// DefaultWebhookMaxBodyBytes bounds webhook bodies (1 MiB).
	DefaultWebhookMaxBodyBytes = 1 << 20
	// DefaultWebhookRateLimit is calls per second per webhook.
	DefaultWebhookRateLimit = 1000
)

// New builds the server with its routes and middleware.
func New(deps Deps) *Server {
	if deps.SessionIdleTimeout <= 0 {
		deps.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if deps.SessionLifetime <= 0 {
		deps.SessionLifetime = DefaultSessionLifetime
	}
	if deps.APIRateLimit <= 0 {
		deps.APIRateLimit = DefaultAPIRateLimit
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.BaseURL == nil {
		deps.BaseURL = &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	}
	if deps.WebhookMaxBodyBytes <= 0 {
		deps.WebhookMaxBodyBytes = DefaultWebhookMaxBodyBytes
	}
	if deps.WebhookRateLimit <= 0 {
		deps.WebhookRateLimit = DefaultWebhookRateLimit
	}
	limiter := deps.Limiter
	switch {
	case limiter != nil:
	case deps.App != nil:
		limiter = deps.App.Limiter() // one limiter holds every count, the use cases' and the HTTP layer's
	default: // a server without use cases (tests of the static routes)
		limiter = ratelimit.NewMemoryClock(0, deps.Now)
	}
	kit, err := httpx.NewKit(httpx.Config{Logger: deps.Logger, App: deps.App, Store: deps.Store, Metrics: deps.Metrics,
		BaseURL: deps.BaseURL, SecretKey: deps.SecretKey, AccessTokenLifetime: AccessTokenLifetime,
		Sessions: deps.Sessions, SessionIdleTimeout: deps.SessionIdleTimeout, SessionLifetime: deps.SessionLifetime,
		Limiter: limiter, Now: deps.Now, CORSAllowedOrigins: deps.CORSAllowedOrigins,
		TrustedProxies: deps.TrustedProxies, APIRateLimit: deps.APIRateLimit, Files: deps.Files, Tracing: deps.Tracing,
		Development: deps.Development, FreshReadsWindow: deps.FreshReadsWindow})
	if err != nil {
		// The static files are embedded at build time: a broken manifest is a broken build, which every test
		// starting a server reports.
		panic(err)
	}
	s := &Server{kit: kit, deps: deps, router: httpx.NewRouter(kit)}
	s.routes()
	s.handler = kit.Middleware(s.router)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// MetricsHandler serves the Prometheus registry, for cmd to mount on its own listener (METRICS_ADDR) when
// Deps.MetricsOwnListener is set; see admin.MetricsHandler.
func (s *Server) MetricsHandler() http.Handler {
	return admin.MetricsHandler(s.deps.Metrics, s.deps.MetricsToken)
}
