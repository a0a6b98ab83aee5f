// Package httpx is the HTTP plumbing every surface of ConcertMaster shares: the Kit (sessions, access tokens, the
// rate limiter, CORS origins, trusted proxies, static assets, logger and clock), the middleware chain, who the
// caller is (cookie and Bearer authentication, Caller, Actor), rendering (pages, redirects, problem documents),
// reading input (forms, JSON bodies, paging cursors, path ids), idempotent API POSTs, and the Router that registers
// each route with its protection.
//
// It imports no surface (pages, api, public, admin) and no sql/db: the store is reached through sql/store only.
package httpx

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/ratelimit"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/tracing"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/static"
)

// Config is what the Kit is built from; handlers.New fills it from its Deps, defaults applied.
type Config struct {
	Logger *slog.Logger
	// App holds the use cases that load what a route's path names (PathWorkflow, PathForm …); nil in servers without
	// them (tests of the static routes).
	App *app.App
	// Store resolves principals (sessions, Bearer tokens), the organizations of the page frame and idempotency keys.
	Store *store.Store
	// Metrics registers the HTTP metrics.
	Metrics prometheus.Registerer
	// BaseURL is the public address: the trusted origin, and Secure cookies and HSTS when https.
	BaseURL *url.URL
	// SecretKey keys the access tokens' signing key.
	SecretKey           string
	AccessTokenLifetime time.Duration
	// Sessions stores sessions; in memory when nil (tests only).
	Sessions           scs.Store
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// Limiter counts rate-limited attempts; required.
	Limiter ratelimit.Limiter
	// Now is the clock of the re-entered password's freshness; required.
	Now                func() time.Time
	CORSAllowedOrigins []string
	TrustedProxies     []netip.Prefix
	// Files is the storage backend of files received and served; nil takes none (ErrNoStorage).
	Files storage.Backend
	// APIRateLimit is how many API requests one token or user may make per minute.
	APIRateLimit int
	// Tracing starts each request's server span; tracing.Off() when nil.
	Tracing *tracing.Tracing
	// Development shows the development-mode banner on every page.
	Development bool
	// FreshReadsWindow is how long after a user's change their reads skip the read replica (its lag bound); 0
	// when there is no replica.
	FreshReadsWindow time.Duration
}

// Kit is the shared state of every surface, built once per server. Surfaces embed it to reach its helpers.
type Kit struct {
	cfg      Config
	sessions *scs.SessionManager
	csrf     *http.CrossOriginProtection
	access   *auth.AccessTokens
	cors     map[string]bool
	assets   *assets
	metrics  *httpMetrics
	// writers is nil without a read replica (freshreads.go).
	writers *recentWriters
}

// NewKit builds the kit: the session manager, cross-origin protection trusting BaseURL, the access tokens, the HTTP
// metrics (registered in cfg.Metrics) and the embedded static assets.
func NewKit(cfg Config) (*Kit, error) {
	if cfg.Tracing == nil {
		cfg.Tracing = tracing.Off()
	}
	k := &Kit{cfg: cfg, access: auth.NewAccessTokens(cfg.SecretKey, cfg.AccessTokenLifetime),
		cors: map[string]bool{}, metrics: newHTTPMetrics(cfg.Metrics)}
	assets, err := loadAssets(static.FS)
	if err != nil {
		return nil, err
	}
	k.assets = assets
	if cfg.FreshReadsWindow > 0 {
		k.writers = &recentWriters{window: cfg.FreshReadsWindow, now: cfg.Now, at: map[uuid.UUID]time.Time{}}
	}
	for _, o := range cfg.CORSAllowedOrigins {
		k.cors[o] = true
	}
	k.sessions = k.newSessionManager()
	k.csrf = http.NewCrossOriginProtection()
	_ = k.csrf.AddTrustedOrigin(cfg.BaseURL.Scheme + "://" + cfg.BaseURL.Host)
	k.csrf.SetDenyHandler(http.HandlerFunc(k.crossOriginRefused))
	return k, nil
}

// newSessionManager configures scs: an opaque random token in an HttpOnly, SameSite=Lax cookie (Secure under an
// https BASE_URL), renewed on sign-in and privilege changes, ending after the idle timeout or the lifetime.
func (k *Kit) newSessionManager() *scs.SessionManager {
	sm := scs.New()
	sm.Store = k.cfg.Sessions
	if sm.Store == nil {
		sm.Store = memstore.New()
	}
	sm.IdleTimeout = k.cfg.SessionIdleTimeout
	sm.Lifetime = k.cfg.SessionLifetime
	sm.Cookie.Name = SessionCookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = k.cfg.BaseURL.Scheme == "https"
	sm.Cookie.Path = "/"
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		k.PageError(w, r, err)
	}
	return sm
}

// SessionCookieName is the session cookie's name.
const SessionCookieName = "cm_session"

// Sessions is the session manager, for the handlers that sign in, out, or change what a session holds.
func (k *Kit) Sessions() *scs.SessionManager { return k.sessions }

// AccessTokens issues and verifies the API's short-lived access tokens.
func (k *Kit) AccessTokens() *auth.AccessTokens { return k.access }

// Limiter is the rate limiter every count goes through.
func (k *Kit) Limiter() ratelimit.Limiter { return k.cfg.Limiter }

// Now is the server's clock.
func (k *Kit) Now() time.Time { return k.cfg.Now() }

// Assets serves /static/.
func (k *Kit) Assets() http.Handler { return k.assets }

// AssetURL is the cacheable URL of a file under /static/ ("js/app.js"), for pages that name one.
func (k *Kit) AssetURL(name string) string { return k.assets.url(name) }

// Middleware wraps the routes in the chain every request goes through, outermost first: security headers, the
// request id, the request's span (when tracing is on), the access log and metrics, panic recovery, and the refusal
// of URLs that are not text.
func (k *Kit) Middleware(next http.Handler) http.Handler {
	traced := k.cfg.Tracing.Middleware(RequestID, k.withObservation(k.withRecovery(k.withTextURL(next))))
	return k.withSecurityHeaders(k.withRequestID(traced))
}
