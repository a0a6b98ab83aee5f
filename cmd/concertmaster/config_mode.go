package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// loadMode reads APP_ENV (README, "Feature flags and modes"): production unless told development.
func loadMode(get func(name, def string) string, bad func(name, format string, args ...any)) flags.Mode {
	mode, err := flags.ParseMode(get("APP_ENV", string(flags.Production)))
	if err != nil {
		bad("APP_ENV", "%v", err)
		return flags.Production
	}
	return mode
}

// checkProductionSafety refuses, in production mode, the configurations that are only safe on a developer's
// machine. README's "Feature flags and modes" section lists them; each message names the variable.
func checkProductionSafety(cfg *config, bad func(name, format string, args ...any)) {
	if cfg.Mode != flags.Production {
		return
	}
	if cfg.BaseURL != nil && cfg.BaseURL.Scheme != "https" && cfg.SignupEnabled && !loopbackHost(cfg.BaseURL.Hostname()) {
		bad("BASE_URL", "must be https in production while SIGNUP_ENABLED=true and its host is not loopback "+
			"(passwords and session cookies would cross the network in clear); set APP_ENV=development to try it out")
	}
	for _, p := range cfg.TrustedProxies {
		if p.Bits() == 0 {
			bad("TRUSTED_PROXIES", "%s trusts every address's X-Forwarded-For, so any client could pick the address "+
				"rate limits and the audit log see; name your proxies", p)
		}
	}
	for _, o := range cfg.CORSAllowedOrigins {
		if u, err := url.Parse(o); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			bad("CORS_ALLOWED_ORIGINS", "%s is plain http: in production only https origins (or loopback) may call the API from a browser", o)
		}
	}
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// modeWarnings are what development mode lets pass that production would not, logged at start-up.
func modeWarnings(cfg *config) []string {
	var out []string
	if cfg.Mode == flags.Development {
		out = append(out, "development mode (APP_ENV=development): debug logging, a banner on every page; never expose this instance")
		if cfg.BaseURL != nil && cfg.BaseURL.Scheme != "https" && !loopbackHost(cfg.BaseURL.Hostname()) {
			out = append(out, fmt.Sprintf("BASE_URL %s is http: session cookies are sent without Secure over the network", cfg.BaseURL.Host))
		}
	}
	return out
}

// startFlags starts the feature-flag provider (a service: it listens for changes) and binds an evaluator to it.
func startFlags(ctx context.Context, cfg *config, arch *service.Archetype, st *store.Store, logger *slog.Logger) (*flags.Flags, func(), error) {
	catalogue, err := flags.NewCatalogue(flags.Builtin())
	if err != nil {
		return nil, nil, err
	}
	provider := flags.NewProvider(catalogue, cfg.Mode, st, arch)
	if err := provider.Start(ctx); err != nil {
		return nil, nil, err
	}
	f, err := flags.New(ctx, provider)
	if err != nil {
		provider.Stop()
		return nil, nil, err
	}
	for _, w := range modeWarnings(cfg) {
		logger.Warn(w)
	}
	return f, func() { _ = f.Close(context.Background()); provider.Stop() }, nil
}
