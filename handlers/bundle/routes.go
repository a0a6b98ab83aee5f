// Package bundle is the organization export and import surface: the API routes GET /api/v1/organization/export and
// POST /api/v1/organization/import, and the page /settings/transfer with a download button and an upload form.
// Both are adapters over app/bundle, which authorizes (org.transfer: owners and admins), validates and audits.
//
// It may import httpx, app, app/bundle, views and sql/store; it imports no other surface (pages, api, public,
// admin) and no sql/db.
package bundle

import (
	"log/slog"
	"time"

	"github.com/concertmaster/concertmaster/app"
	appbundle "github.com/concertmaster/concertmaster/app/bundle"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TransfersPerHour bounds the exports and imports of one organization an hour: each reads or writes everything the
// organization has, so they are the heavy calls of the API.
const TransfersPerHour = 30

// Deps is what the transfer surface needs; handlers.New fills it from its own Deps.
type Deps struct {
	Logger       *slog.Logger
	App          *app.App
	Store        *store.Store
	Integrations *store.IntegrationStore
	Now          func() time.Time
}

// Handlers serves the transfer routes.
type Handlers struct {
	*httpx.Kit
	deps Deps
}

// New returns the transfer surface over the shared kit.
func New(kit *httpx.Kit, deps Deps) *Handlers {
	return &Handlers{Kit: kit, deps: deps}
}

// transfers are the use cases, over the App given by the time a request comes (servers built for their route
// table alone have none).
func (s *Handlers) transfers() *appbundle.Transfers {
	return appbundle.New(s.deps.Store, s.deps.Integrations, s.deps.App.Workflows, s.deps.Now)
}

// Routes registers the API routes and the page.
func (s *Handlers) Routes(rt *httpx.Router) {
	rt.API("GET /api/v1/organization/export", s.apiExport)
	rt.API("POST /api/v1/organization/import", s.apiImport)
	rt.Page("GET /settings/transfer", s.transferPage)
	rt.Page("GET /settings/transfer/export", s.pageExport)
	rt.Page("POST /settings/transfer/import", s.pageImport)
}
