// Package pages is the signed-in web UI, templ views driven by HTMX: accounts (sign-in, sign-up, password reset,
// invitations), profile, re-authentication and organization switch, the dashboard, members and invitations, API
// tokens, workflows, executions (live events, files, the execution graph), the audit log, and the
// form builder with its submissions.
//
// It may import httpx, app, views, engine, sql/store and platform/*; it imports no other surface (api, public,
// admin) and no sql/db.
package pages

import (
	"log/slog"
	"net/url"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Deps is what the pages need; handlers.New fills it from its own Deps (see there for each field).
type Deps struct {
	Logger        *slog.Logger
	App           *app.App
	Store         *store.Store
	BaseURL       *url.URL
	Version       string
	SignupEnabled bool
	Plans         *engine.PlanLoader
	Events        *store.ExecutionEvents
	Files         storage.Backend
}

// Handlers serves the pages.
type Handlers struct {
	*httpx.Kit
	deps Deps
}

// New returns the pages over the shared kit.
func New(kit *httpx.Kit, deps Deps) *Handlers {
	return &Handlers{Kit: kit, deps: deps}
}

// Routes registers the pages.
func (s *Handlers) Routes(rt *httpx.Router) {
	// Accounts.
	rt.PublicPage("GET /signup", s.signupForm)
	rt.PublicPage("POST /signup", s.signup)
	rt.PublicPage("GET /login", s.loginForm)
	rt.PublicPage("POST /login", s.login)
	rt.PublicPage("POST /logout", s.logout)
	rt.PublicPage("GET /forgot-password", s.forgotPasswordForm)
	rt.PublicPage("POST /forgot-password", s.forgotPassword)
	rt.PublicPage("GET /reset-password", s.resetPasswordForm)
	rt.PublicPage("POST /reset-password", s.resetPassword)
	rt.PublicPage("GET /invitations/{token}", s.invitationPage)
	rt.PublicPage("POST /invitations/{token}", s.acceptInvitation)

	rt.Page("GET /{$}", s.dashboard)
	rt.Page("GET /profile", s.profilePage)
	rt.Page("POST /profile", s.updateProfile)
	rt.Page("POST /profile/password", s.changePassword)
	rt.Page("GET /reauth", s.reauthForm)
	rt.Page("POST /reauth", s.reauth)
	rt.Page("POST /orgs/switch", s.switchOrganization)

	// Settings.
	rt.Page("GET /settings/members", s.membersPage)
	rt.Page("POST /settings/members/invite", s.inviteMember)
	rt.Page("POST /settings/members/leave", s.leaveOrganization)
	rt.Page("POST /settings/members/{userID}/role", s.changeMemberRole)
	rt.Page("POST /settings/members/{userID}/remove", s.removeMember)
	rt.Page("POST /settings/invitations/{id}/revoke", s.revokeInvitation)
	rt.Page("GET /settings/tokens", s.tokensPage)
	rt.Page("POST /settings/tokens", s.createToken)
	rt.Page("POST /settings/tokens/{id}/revoke", s.revokeToken)
	rt.Page("GET /settings/audit", s.auditPage)

	// Integrations: handlers/pages/integrations, mounted by handlers.routes.

	// Workflows and executions (pages): the monitoring UI, the cookie twin of the API below. See pages_*.go.
	rt.Page("GET /workflows", s.workflowsPage)
	rt.Page("POST /workflows", s.createWorkflowPage)
	rt.Page("GET /workflows/{id}", s.workflowPage)
	rt.Page("POST /workflows/{id}/activate", s.setWorkflowActivePage(true))
	rt.Page("POST /workflows/{id}/deactivate", s.setWorkflowActivePage(false))
	rt.Page("POST /workflows/{id}/duplicate", s.duplicateWorkflowPage)
	rt.Page("POST /workflows/{id}/archive", s.archiveWorkflowPage)
	rt.Page("POST /workflows/{id}/versions/{number}/restore", s.restoreWorkflowVersionPage)
	rt.Page("GET /executions", s.executionsPage)
	rt.Page("GET /executions/{id}", s.executionPage)
	rt.Page("GET /executions/{id}/events", s.executionEventsPage)
	rt.Page("GET /executions/{id}/files/{fileID}", s.executionFilePage)
	rt.Page("GET /executions/{id}/payloads/{key}", s.executionPayloadPage)
	rt.Page("POST /executions/{id}/cancel", s.cancelExecutionPage)
	rt.Page("POST /executions/{id}/retry", s.retryExecutionPage)
	rt.Page("POST /executions/bulk", s.bulkExecutionsPage)

	// The builder and submissions (signed-in pages).
	rt.Page("GET /forms", s.formsPage)
	rt.Page("POST /forms", s.formCreate)
	rt.Page("GET /forms/{id}", s.formEditorPage)
	rt.Page("POST /forms/{id}", s.formSave)
	rt.Page("POST /forms/{id}/preview", s.formPreview)
	rt.Page("POST /forms/{id}/publish", s.formPublish(true))
	rt.Page("POST /forms/{id}/unpublish", s.formPublish(false))
	rt.Page("POST /forms/{id}/delete", s.formDelete)
	rt.Page("GET /forms/{id}/submissions", s.submissionsPage)
	rt.Page("GET /forms/{id}/submissions.csv", s.submissionsCSV)
	rt.Page("GET /forms/{id}/submissions/{sid}", s.submissionPage)
	rt.Page("POST /forms/{id}/submissions/{sid}/delete", s.submissionDelete)
	rt.Page("GET /forms/{id}/submissions/{sid}/files/{fid}", s.submissionFile)

	// Notifications: the bell, channels and rules (notifications.go).
	s.notificationRoutes(rt)
}
