// Package public is the surface strangers reach without a session: webhooks (/hooks/{token}, authenticated by the
// trigger's own mode, with the cache of token resolutions), public forms (page, inline validation, submission) and
// uploads that start a workflow (the API route and the signed-in upload page, which share the upload path).
//
// It may import httpx, app, views, engine, sql/store and platform/*; it imports no other surface (pages, api,
// admin) and no sql/db.
package public

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Deps is what the public surface needs; handlers.New fills it from its own Deps (see there for each field).
type Deps struct {
	Logger              *slog.Logger
	App                 *app.App
	Store               *store.Store
	BaseURL             *url.URL
	Now                 func() time.Time
	Plans               *engine.PlanLoader
	Ingester            *store.ExecutionIngester
	Events              *store.ExecutionEvents
	WebhookKeys         *secrets.Keyring
	Deliveries          *store.DeliveryLog
	WebhookMaxBodyBytes int64
	WebhookRateLimit    int
}

// Handlers serves the public routes.
type Handlers struct {
	*httpx.Kit
	deps Deps
	// hookTargets caches webhook token resolutions.
	hookTargets *webhookTargets
}

// New returns the public surface over the shared kit.
func New(kit *httpx.Kit, deps Deps) *Handlers {
	return &Handlers{Kit: kit, deps: deps, hookTargets: newWebhookTargets()}
}

// Routes registers public forms, uploads to workflows and webhooks.
func (s *Handlers) Routes(rt *httpx.Router) {
	// Public forms: no session is read, so there is nothing for a cross-site request to borrow (see publicFormSubmit).
	rt.Handle("GET /f/{slug}", http.HandlerFunc(s.publicFormPage))
	rt.Handle("POST /f/{slug}", http.HandlerFunc(s.publicFormSubmit))
	rt.Handle("POST /f/{slug}/validate", http.HandlerFunc(s.publicFormValidate))

	// Uploads to workflows whose trigger is trigger.file_upload.
	rt.API("POST /api/v1/workflows/{id}/uploads", s.apiWorkflowUpload)
	rt.Page("GET /workflows/{id}/upload", s.workflowUploadPage)
	rt.Page("POST /workflows/{id}/upload", s.workflowUpload)

	// Webhooks: public, authenticated by the trigger's own mode (a signature, a header, basic auth), never a cookie.
	rt.Handle("POST /hooks/{token}", http.HandlerFunc(s.hook))
	rt.Handle("GET /hooks/{token}", http.HandlerFunc(s.hook))
}
