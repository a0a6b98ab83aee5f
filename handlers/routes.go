package handlers

import (
	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/bundle"
	"github.com/concertmaster/concertmaster/handlers/pages"
	"github.com/concertmaster/concertmaster/handlers/pages/integrations"
	"github.com/concertmaster/concertmaster/handlers/pages/newworkflow"
	"github.com/concertmaster/concertmaster/handlers/pages/retention"
	"github.com/concertmaster/concertmaster/handlers/pages/sharing"
	"github.com/concertmaster/concertmaster/handlers/public"
)

// routes mounts each surface's routes (their routes.go) in a fixed order: the probes, metrics and job monitor, the
// static files, the pages, the API, the organization transfer (page and API), and the public routes. Each surface picks its routes' protection through
// httpx.Router.
func (s *Server) routes() {
	d := s.deps
	admin.New(s.kit, admin.Deps{Logger: d.Logger, DB: d.DB, Optional: d.Optional, Store: d.Store, Metrics: d.Metrics,
		MetricsToken: d.MetricsToken, MetricsOwnListener: d.MetricsOwnListener, JobsUI: d.JobsUI, App: d.App}).Routes(s.router)
	s.router.Handle("GET /static/", s.kit.Assets())
	pages.New(s.kit, pages.Deps{Logger: d.Logger, App: d.App, Store: d.Store, BaseURL: d.BaseURL, Version: d.Version,
		SignupEnabled: d.SignupEnabled, Plans: d.Plans, Events: d.Events, Files: d.Files}).Routes(s.router)
	(&sharing.Handlers{Kit: s.kit, App: d.App}).Routes(s.router)
	(&integrations.Handlers{Kit: s.kit, App: d.App}).Routes(s.router)
	(&newworkflow.Handlers{Kit: s.kit, App: d.App}).Routes(s.router)
	(&retention.Handlers{Kit: s.kit, App: d.App}).Routes(s.router)
	api.New(s.kit, api.Deps{Logger: d.Logger, App: d.App, Store: d.Store, BaseURL: d.BaseURL, Version: d.Version,
		Registry: d.Registry, Events: d.Events}).Routes(s.router)
	bundle.New(s.kit, bundle.Deps{Logger: d.Logger, App: d.App, Store: d.Store, Integrations: d.Integrations,
		Now: d.Now}).Routes(s.router)
	public.New(s.kit, public.Deps{Logger: d.Logger, App: d.App, Store: d.Store, BaseURL: d.BaseURL, Now: d.Now,
		Plans: d.Plans, Ingester: d.Ingester, Events: d.Events, WebhookKeys: d.WebhookKeys, Deliveries: d.Deliveries,
		WebhookMaxBodyBytes: d.WebhookMaxBodyBytes, WebhookRateLimit: d.WebhookRateLimit}).Routes(s.router)
}

// Routes lists the pattern of every registered route, for tests that walk all of them.
func (s *Server) Routes() []string { return s.router.Routes() }
