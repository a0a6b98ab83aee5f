// Package api is the REST API under /api/v1 (Bearer tokens, JSON, RFC 9457 problems), its OpenAPI description
// (/api/openapi.json, built from the route table and the route descriptions registered explicitly in
// openapi_*.go), the interactive docs (/api/docs), the workflow definition's JSON Schema, and the canvas's
// cookie-authenticated twins of some API routes under /ui/api/v1.
//
// It may import httpx, app, views, engine, sql/store and platform/*; it imports no other surface (pages, public,
// admin) and no sql/db.
package api

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/api/executionbulk"
	"github.com/concertmaster/concertmaster/handlers/api/nodedata"
	"github.com/concertmaster/concertmaster/handlers/api/payloads"
	"github.com/concertmaster/concertmaster/handlers/api/retention"
	"github.com/concertmaster/concertmaster/handlers/api/sharing"
	"github.com/concertmaster/concertmaster/handlers/api/workflowtemplates"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Deps is what the API needs; handlers.New fills it from its own Deps (see there for each field).
type Deps struct {
	Logger   *slog.Logger
	App      *app.App
	Store    *store.Store
	BaseURL  *url.URL
	Version  string
	Registry *engine.Registry
	Events   *store.ExecutionEvents
}

// Handlers serves the API routes.
type Handlers struct {
	*httpx.Kit
	deps Deps
	// handlers holds each API route's handler by pattern, for the canvas's cookie twins (ui.go).
	handlers map[string]http.HandlerFunc
}

// New returns the API surface over the shared kit.
func New(kit *httpx.Kit, deps Deps) *Handlers {
	return &Handlers{Kit: kit, deps: deps, handlers: map[string]http.HandlerFunc{}}
}

// api registers an API route (httpx.Router.API) and keeps its handler for the canvas's twin of it.
func (s *Handlers) api(rt *httpx.Router, pattern string, h http.HandlerFunc) {
	rt.API(pattern, h)
	s.handlers[pattern] = h
}

// Routes registers the API. The OpenAPI document is built from rt's whole route table on first request, so the
// webhook and upload routes the public surface registers are described too.
func (s *Handlers) Routes(rt *httpx.Router) {
	// Any other /api path: CORS preflights, and a problem+json 404 rather than the mux's plain text.
	rt.Handle("/api/", http.HandlerFunc(s.APIFallback))
	// The API's description, generated from openapi_routes.go and the handlers' types, and its interactive docs.
	rt.Handle("GET /api/openapi.json", s.WithCORS(s.openAPIHandler(rt)))
	rt.Handle("GET /api/docs", http.HandlerFunc(s.apiDocs))
	// The workflow definition's JSON Schema, for editors: public, it holds no organization's data. See schema.go.
	rt.Handle("GET "+DefinitionSchemaPath, s.WithCORS(s.definitionSchemaHandler()))
	rt.PublicAPI("POST /api/v1/auth/token", s.apiIssueToken)
	rt.PublicAPI("POST /api/v1/auth/refresh", s.apiRefreshToken)
	rt.PublicAPI("POST /api/v1/auth/logout", s.apiLogout)
	s.api(rt, "GET /api/v1/me", s.apiMe)
	s.api(rt, "GET /api/v1/audit", s.apiAuditList)

	// Workflows and executions (API).
	s.api(rt, "GET /api/v1/node-types", s.apiNodeTypes)
	s.api(rt, "GET /api/v1/workflows", s.apiWorkflowList)
	s.api(rt, "POST /api/v1/workflows", s.apiWorkflowCreate)
	s.api(rt, "POST /api/v1/workflows/import", s.apiWorkflowImport)
	s.api(rt, "POST /api/v1/workflows/validate", s.apiWorkflowValidate)
	s.api(rt, "GET /api/v1/workflows/{id}", s.apiWorkflowGet)
	s.api(rt, "PUT /api/v1/workflows/{id}", s.apiWorkflowUpdate)
	s.api(rt, "DELETE /api/v1/workflows/{id}", s.apiWorkflowDelete)
	s.api(rt, "POST /api/v1/workflows/{id}/activate", s.apiWorkflowActivate(true))
	s.api(rt, "POST /api/v1/workflows/{id}/deactivate", s.apiWorkflowActivate(false))
	s.api(rt, "POST /api/v1/workflows/{id}/duplicate", s.apiWorkflowDuplicate)
	s.api(rt, "GET /api/v1/workflows/{id}/export", s.apiWorkflowExport)
	s.api(rt, "GET /api/v1/workflows/{id}/versions", s.apiWorkflowVersions)
	s.api(rt, "GET /api/v1/workflows/{id}/stats", s.apiWorkflowStats)
	s.api(rt, "GET /api/v1/workflows/{id}/versions/{number}", s.apiWorkflowVersion)
	s.api(rt, "POST /api/v1/workflows/{id}/versions/{number}/restore", s.apiWorkflowRestore)
	s.api(rt, "POST /api/v1/workflows/{id}/run", s.apiWorkflowRun)
	s.api(rt, "GET /api/v1/executions", s.apiExecutionList)
	s.api(rt, "GET /api/v1/stats", s.apiOrganizationStats)
	s.api(rt, "GET /api/v1/executions/{id}", s.apiExecutionGet)
	s.api(rt, "POST /api/v1/executions/{id}/cancel", s.apiExecutionCancel)
	s.api(rt, "POST /api/v1/executions/{id}/retry", s.apiExecutionRetry)
	// Bulk actions of the execution list (handlers/api/executionbulk, described in openapi_executionbulk.go).
	s.api(rt, "POST /api/v1/executions/bulk", (&executionbulk.Handlers{Kit: s.Kit, App: s.deps.App}).Post)
	s.api(rt, "GET /api/v1/workflows/{id}/webhook", s.apiWorkflowWebhook)
	s.api(rt, "POST /api/v1/workflows/{id}/webhook/rotate", s.apiWorkflowWebhookRotate)
	s.api(rt, "GET /api/v1/workflows/{id}/webhook/deliveries", s.apiWorkflowWebhookDeliveries)
	s.api(rt, "GET /api/v1/executions/{id}/files/{fileID}", s.apiExecutionFile)

	// An organization's own execution retention (handlers/api/retention, described in openapi_retention.go).
	rh := &retention.Handlers{Kit: s.Kit, App: s.deps.App}
	s.api(rt, "GET /api/v1/settings/retention", rh.Get)
	s.api(rt, "PUT /api/v1/settings/retention", rh.Put)
	// The whole of an execution's large values (handlers/api/payloads, described in openapi_payloads.go).
	s.api(rt, "GET /api/v1/executions/{id}/payloads/{key}", (&payloads.Handlers{Kit: s.Kit, App: s.deps.App}).Get)
	// Sharing a workflow with members (handlers/api/sharing, described in openapi_sharing.go).
	sh := &sharing.Handlers{Kit: s.Kit, App: s.deps.App}
	s.api(rt, "GET /api/v1/workflows/{id}/sharing", sh.List)
	s.api(rt, "PUT /api/v1/workflows/{id}/sharing/{userID}", sh.Put)
	s.api(rt, "DELETE /api/v1/workflows/{id}/sharing/{userID}", sh.Delete)

	// The editor's node view: pins, last test run, previews (handlers/api/nodedata, described in openapi_nodedata.go).
	nd := &nodedata.Handlers{Kit: s.Kit, App: s.deps.App}
	s.api(rt, "GET /api/v1/workflows/{id}/pins", nd.Pins)
	s.api(rt, "PUT /api/v1/workflows/{id}/pins/{nodeID}", nd.Pin)
	s.api(rt, "DELETE /api/v1/workflows/{id}/pins/{nodeID}", nd.Unpin)
	s.api(rt, "GET /api/v1/workflows/{id}/last-test-run", nd.LastTestRun)
	s.api(rt, "POST /api/v1/workflows/{id}/preview", nd.Preview)

	// Workflow templates (handlers/api/workflowtemplates, described in openapi_templates.go).
	tpl := &workflowtemplates.Handlers{Kit: s.Kit, App: s.deps.App, RespondCreated: s.respondCreatedWorkflow}
	s.api(rt, "GET /api/v1/workflow-templates", tpl.List)
	s.api(rt, "POST /api/v1/workflows/from-template", tpl.Create)

	// Notifications (notifications.go).
	s.notificationRoutes(rt)

	// Feature flags (API, instance administrators).
	s.api(rt, "GET /api/v1/admin/flags", s.apiFlagList)
	s.api(rt, "PUT /api/v1/admin/flags/{name}", s.apiFlagSet)
	s.api(rt, "PUT /api/v1/admin/flags/{name}/overrides/{id}", s.apiFlagOverride)

	// Integrations (API).
	s.api(rt, "GET /api/v1/integration-kinds", s.apiIntegrationKinds)
	s.api(rt, "GET /api/v1/integrations", s.apiIntegrationList)
	s.api(rt, "POST /api/v1/integrations", s.apiIntegrationCreate)
	s.api(rt, "GET /api/v1/integrations/{id}", s.apiIntegrationGet)
	s.api(rt, "PUT /api/v1/integrations/{id}", s.apiIntegrationUpdate)
	s.api(rt, "DELETE /api/v1/integrations/{id}", s.apiIntegrationDelete)
	s.api(rt, "POST /api/v1/integrations/{id}/test", s.apiIntegrationTest)
	s.api(rt, "PUT /api/v1/integrations/{id}/use", s.apiIntegrationSetUse)
	s.api(rt, "PUT /api/v1/integrations/{id}/privileged-role", s.apiIntegrationPrivilegedRole)

	// Members, invitations and personal API tokens (API): the twins of the settings pages above.
	s.api(rt, "GET /api/v1/members", s.apiMemberList)
	s.api(rt, "PUT /api/v1/members/{userID}", s.apiMemberChangeRole)
	s.api(rt, "DELETE /api/v1/members/{userID}", s.apiMemberRemove)
	s.api(rt, "POST /api/v1/invitations", s.apiInvitationCreate)
	s.api(rt, "DELETE /api/v1/invitations/{id}", s.apiInvitationRevoke)
	s.api(rt, "GET /api/v1/tokens", s.apiTokenList)
	s.api(rt, "POST /api/v1/tokens", s.apiTokenCreate)
	s.api(rt, "DELETE /api/v1/tokens/{id}", s.apiTokenRevoke)

	// Forms and their submissions (API).
	s.api(rt, "GET /api/v1/forms", s.apiFormList)
	s.api(rt, "POST /api/v1/forms", s.apiFormCreate)
	s.api(rt, "GET /api/v1/forms/{id}", s.apiFormGet)
	s.api(rt, "PUT /api/v1/forms/{id}", s.apiFormUpdate)
	s.api(rt, "DELETE /api/v1/forms/{id}", s.apiFormDelete)
	s.api(rt, "GET /api/v1/forms/{id}/submissions", s.apiSubmissionList)
	s.api(rt, "GET /api/v1/forms/{id}/submissions/{sid}", s.apiSubmissionGet)
	s.api(rt, "DELETE /api/v1/forms/{id}/submissions/{sid}", s.apiSubmissionDelete)

	// The canvas's own JSON routes: API routes again under /ui/api/v1, with the session cookie; see ui.go.
	s.uiRoutes(rt)
}
