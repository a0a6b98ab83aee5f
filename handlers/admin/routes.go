// Package admin is the operator's surface: the probes (/healthz, /readyz), the Prometheus metrics (/metrics),
// River's job monitor (/admin/jobs) and the feature flags (/admin/flags) for instance administrators.
//
// It may import httpx, app, views, engine, sql/store and platform/*; it imports no other surface (pages, api,
// public) and no sql/db.
package admin

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Pinger reports whether the database answers; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the admin surface needs; handlers.New fills it from its own Deps.
type Deps struct {
	Logger *slog.Logger
	DB     Pinger
	// Optional names the optional dependencies (Redis) with a function describing each one's state ("up", or why
	// not), which /readyz lists under its answer; they never make the process unready.
	Optional map[string]func() string
	// Store writes the audit events of job monitor changes.
	Store *store.Store
	// Metrics is the registry served at /metrics, which MetricsToken guards when set; with MetricsOwnListener
	// /metrics is served on a listener of its own (cmd mounts MetricsHandler there), not here.
	Metrics            *prometheus.Registry
	MetricsToken       string
	MetricsOwnListener bool
	// JobsUI is River's own UI (NewJobsUI, already started); nil answers 503.
	JobsUI http.Handler
	// App holds the feature flags' use cases (/admin/flags).
	App *app.App
}

// Handlers serves the admin routes.
type Handlers struct {
	*httpx.Kit
	deps Deps
}

// New returns the admin surface over the shared kit.
func New(kit *httpx.Kit, deps Deps) *Handlers {
	return &Handlers{Kit: kit, deps: deps}
}

// Routes registers the probes, /metrics and River's UI, for instance administrators only since it spans
// organizations (pages, assets and JSON API).
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.Handle("GET /healthz", http.HandlerFunc(s.healthz))
	rt.Handle("GET /readyz", http.HandlerFunc(s.readyz))
	if !s.deps.MetricsOwnListener {
		rt.Handle("GET /metrics", MetricsHandler(s.deps.Metrics, s.deps.MetricsToken))
	}
	rt.Page("GET /admin/jobs", s.jobsUI)
	rt.Page("GET /admin/jobs/", s.jobsUI)
	rt.Page("POST /admin/jobs/api/", s.jobsUI)
	rt.Page("PUT /admin/jobs/api/", s.jobsUI)
	rt.Page("PATCH /admin/jobs/api/", s.jobsUI)
	rt.Page("GET /admin/flags", s.flagsPage)
	rt.Page("POST /admin/flags/{name}", s.setFlag)
	rt.Page("POST /admin/flags/{name}/overrides", s.setFlagOverride)
}
