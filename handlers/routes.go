package handlers

import (
	"net/http"

	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/handlers/public"
)

// routes is the one route table of the application. Each line picks how its route is protected:
//
//	s.page(…)       a page for signed-in users: session, cross-origin protection, anonymous → /login
//	s.publicPage(…) a page anyone may open (sign-in, sign-up, invitations): session and cross-origin protection
//	s.api(…)        an API route: Bearer token (JWT or personal token) required, per-caller rate limit, CORS
//	s.publicAPI(…)  an API route without a caller (issuing tokens): CORS; the handler rate-limits itself
//	s.handle(…)     raw: probes, assets, and the public webhook and form routes, which carry no cookie
//
// Handlers then call authz.Authorize with the principal from principalFrom(r.Context()).
func (s *Server) routes() {
	admin.New(s.Kit, admin.Deps{Logger: s.deps.Logger, DB: s.deps.DB, Store: s.deps.Store, Metrics: s.deps.Metrics,
		MetricsToken: s.deps.MetricsToken, MetricsOwnListener: s.deps.MetricsOwnListener,
		JobsUI: s.deps.JobsUI}).Routes(s.router)
	s.handle("GET /static/", s.Assets())

	// Accounts.
	s.publicPage("GET /signup", s.signupForm)
	s.publicPage("POST /signup", s.signup)
	s.publicPage("GET /login", s.loginForm)
	s.publicPage("POST /login", s.login)
	s.publicPage("POST /logout", s.logout)
	s.publicPage("GET /forgot-password", s.forgotPasswordForm)
	s.publicPage("POST /forgot-password", s.forgotPassword)
	s.publicPage("GET /reset-password", s.resetPasswordForm)
	s.publicPage("POST /reset-password", s.resetPassword)
	s.publicPage("GET /invitations/{token}", s.invitationPage)
	s.publicPage("POST /invitations/{token}", s.acceptInvitation)

	s.page("GET /{$}", s.dashboard)
	s.page("GET /profile", s.profilePage)
	s.page("POST /profile", s.updateProfile)
	s.page("POST /profile/password", s.changePassword)
	s.page("GET /reauth", s.reauthForm)
	s.page("POST /reauth", s.reauth)
	s.page("POST /orgs/switch", s.switchOrganization)

	// Settings.
	s.page("GET /settings/members", s.membersPage)
	s.page("POST /settings/members/invite", s.inviteMember)
	s.page("POST /settings/members/leave", s.leaveOrganization)
	s.page("POST /settings/members/{userID}/role", s.changeMemberRole)
	s.page("POST /settings/members/{userID}/remove", s.removeMember)
	s.page("POST /settings/invitations/{id}/revoke", s.revokeInvitation)
	s.page("GET /settings/tokens", s.tokensPage)
	s.page("POST /settings/tokens", s.createToken)
	s.page("POST /settings/tokens/{id}/revoke", s.revokeToken)
	s.page("GET /settings/audit", s.auditPage)

	// Integrations.
	s.page("GET /integrations", s.integrationsPage)
	s.page("POST /integrations", s.createIntegration)
	s.page("POST /integrations/{id}/test", s.testIntegrationPage)
	s.page("POST /integrations/{id}/delete", s.deleteIntegrationPage)

	// Workflows and executions (pages): the monitoring UI, the cookie twin of the API below. See pages_*.go.
	s.page("GET /workflows", s.workflowsPage)
	s.page("POST /workflows", s.createWorkflowPage)
	s.page("GET /workflows/{id}", s.workflowPage)
	s.page("POST /workflows/{id}/activate", s.setWorkflowActivePage(true))
	s.page("POST /workflows/{id}/deactivate", s.setWorkflowActivePage(false))
	s.page("POST /workflows/{id}/duplicate", s.duplicateWorkflowPage)
	s.page("POST /workflows/{id}/archive", s.archiveWorkflowPage)
	s.page("POST /workflows/{id}/versions/{number}/restore", s.restoreWorkflowVersionPage)
	s.page("GET /executions", s.executionsPage)
	s.page("GET /executions/{id}", s.executionPage)
	s.page("GET /executions/{id}/events", s.executionEventsPage)
	s.page("GET /executions/{id}/files/{fileID}", s.executionFilePage)
	s.page("POST /executions/{id}/cancel", s.cancelExecutionPage)
	s.page("POST /executions/{id}/retry", s.retryExecutionPage)

	// API.
	// Any other /api path: CORS preflights, and a problem+json 404 rather than the mux's plain text.
	s.handle("/api/", http.HandlerFunc(s.APIFallback))
	// The API's description, generated from openapi_routes.go and the handlers' types, and its interactive docs.
	s.handle("GET /api/openapi.json", s.WithCORS(s.openAPIHandler()))
	s.handle("GET /api/docs", http.HandlerFunc(s.apiDocs))
	// The workflow definition's JSON Schema, for editors: public, it holds no organization's data. See schema.go.
	s.handle("GET "+definitionSchemaPath, s.WithCORS(s.definitionSchemaHandler()))
	s.publicAPI("POST /api/v1/auth/token", s.apiIssueToken)
	s.publicAPI("POST /api/v1/auth/refresh", s.apiRefreshToken)
	s.publicAPI("POST /api/v1/auth/logout", s.apiLogout)
	s.api("GET /api/v1/me", s.apiMe)
	s.api("GET /api/v1/audit", s.apiAuditList)

	// Workflows and executions (API).
	s.api("GET /api/v1/node-types", s.apiNodeTypes)
	s.api("GET /api/v1/workflows", s.apiWorkflowList)
	s.api("POST /api/v1/workflows", s.apiWorkflowCreate)
	s.api("POST /api/v1/workflows/import", s.apiWorkflowImport)
	s.api("POST /api/v1/workflows/validate", s.apiWorkflowValidate)
	s.api("GET /api/v1/workflows/{id}", s.apiWorkflowGet)
	s.api("PUT /api/v1/workflows/{id}", s.apiWorkflowUpdate)
	s.api("DELETE /api/v1/workflows/{id}", s.apiWorkflowDelete)
	s.api("POST /api/v1/workflows/{id}/activate", s.apiWorkflowActivate(true))
	s.api("POST /api/v1/workflows/{id}/deactivate", s.apiWorkflowActivate(false))
	s.api("POST /api/v1/workflows/{id}/duplicate", s.apiWorkflowDuplicate)
	s.api("GET /api/v1/workflows/{id}/export", s.apiWorkflowExport)
	s.api("GET /api/v1/workflows/{id}/versions", s.apiWorkflowVersions)
	s.api("GET /api/v1/workflows/{id}/versions/{number}", s.apiWorkflowVersion)
	s.api("POST /api/v1/workflows/{id}/versions/{number}/restore", s.apiWorkflowRestore)
	s.api("POST /api/v1/workflows/{id}/run", s.apiWorkflowRun)
	s.api("GET /api/v1/executions", s.apiExecutionList)
	s.api("GET /api/v1/executions/{id}", s.apiExecutionGet)
	s.api("POST /api/v1/executions/{id}/cancel", s.apiExecutionCancel)
	s.api("POST /api/v1/executions/{id}/retry", s.apiExecutionRetry)
	s.api("GET /api/v1/workflows/{id}/webhook", s.apiWorkflowWebhook)
	s.api("POST /api/v1/workflows/{id}/webhook/rotate", s.apiWorkflowWebhookRotate)
	s.api("GET /api/v1/workflows/{id}/webhook/deliveries", s.apiWorkflowWebhookDeliveries)
	s.api("GET /api/v1/executions/{id}/files/{fileID}", s.apiExecutionFile)

	// Integrations (API).
	s.api("GET /api/v1/integrations", s.apiIntegrationList)
	s.api("POST /api/v1/integrations", s.apiIntegrationCreate)
	s.api("GET /api/v1/integrations/{id}", s.apiIntegrationGet)
	s.api("PUT /api/v1/integrations/{id}", s.apiIntegrationUpdate)
	s.api("DELETE /api/v1/integrations/{id}", s.apiIntegrationDelete)
	s.api("POST /api/v1/integrations/{id}/test", s.apiIntegrationTest)
	s.api("PUT /api/v1/integrations/{id}/use", s.apiIntegrationSetUse)
	s.api("PUT /api/v1/integrations/{id}/privileged-role", s.apiIntegrationPrivilegedRole)

	// Members, invitations and personal API tokens (API): the twins of the settings pages above.
	s.api("GET /api/v1/members", s.apiMemberList)
	s.api("PUT /api/v1/members/{userID}", s.apiMemberChangeRole)
	s.api("DELETE /api/v1/members/{userID}", s.apiMemberRemove)
	s.api("POST /api/v1/invitations", s.apiInvitationCreate)
	s.api("DELETE /api/v1/invitations/{id}", s.apiInvitationRevoke)
	s.api("GET /api/v1/tokens", s.apiTokenList)
	s.api("POST /api/v1/tokens", s.apiTokenCreate)
	s.api("DELETE /api/v1/tokens/{id}", s.apiTokenRevoke)

	// Forms (builder, public pages, submissions, API) and uploads to workflows: see formRoutes in forms.go.
	s.formRoutes()

	public.New(s.Kit, public.Deps{Logger: s.deps.Logger, App: s.deps.App, Store: s.deps.Store, BaseURL: s.deps.BaseURL,
		Now: s.deps.Now, Plans: s.deps.Plans, Ingester: s.deps.Ingester, Events: s.deps.Events,
		WebhookKeys: s.deps.WebhookKeys, Deliveries: s.deps.Deliveries, WebhookMaxBodyBytes: s.deps.WebhookMaxBodyBytes,
		WebhookRateLimit: s.deps.WebhookRateLimit}).Routes(s.router)

	// The canvas's own JSON routes: API routes again under /ui/api/v1, with the session cookie; see ui_api.go.
	s.uiRoutes()
}

func (s *Server) handle(pattern string, h http.Handler)         { s.router.Handle(pattern, h) }
func (s *Server) page(pattern string, h http.HandlerFunc)       { s.router.Page(pattern, h) }
func (s *Server) publicPage(pattern string, h http.HandlerFunc) { s.router.PublicPage(pattern, h) }
func (s *Server) publicAPI(pattern string, h http.HandlerFunc)  { s.router.PublicAPI(pattern, h) }

func (s *Server) api(pattern string, h http.HandlerFunc) {
	s.router.API(pattern, h)
	if s.apiHandlers == nil {
		s.apiHandlers = map[string]http.HandlerFunc{}
	}
	s.apiHandlers[pattern] = h
}

// Routes lists the pattern of every registered route, for tests that walk all of them.
func (s *Server) Routes() []string { return s.router.Routes() }
