package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The canvas island calls the API from a signed-in page. The API proper takes only Bearer tokens, so that a cookie
// can never be replayed against it from another site; the canvas instead calls the same handlers under /ui/api/v1,
// authenticated by the session cookie and guarded against cross-site requests like every cookie route. Answers and
// errors (problem+json) are the API's own, so one client speaks both.

// UIAPIPrefix is where the canvas finds the API routes it uses.
const UIAPIPrefix = "/ui/api/v1"

// CanvasAPIRoutes are the API routes mounted again under UIAPIPrefix: what the editor needs to load, validate and
// save a workflow, switch it on, show its webhook and history, run it with sample data, create a credential from a
// node's picker, and share the workflow with members from the sharing drawer.
func CanvasAPIRoutes() []string {
	return []string{
		"GET /api/v1/node-types",
		"GET /api/v1/integrations",
		"GET /api/v1/integration-kinds",
		"POST /api/v1/integrations",
		"GET /api/v1/members",
		"GET /api/v1/forms",
		"POST /api/v1/workflows/validate",
		"GET /api/v1/workflows/{id}",
		"PUT /api/v1/workflows/{id}",
		"POST /api/v1/workflows/{id}/activate",
		"POST /api/v1/workflows/{id}/deactivate",
		"GET /api/v1/workflows/{id}/webhook",
		"GET /api/v1/workflows/{id}/versions",
		"GET /api/v1/workflows/{id}/versions/{number}",
		"POST /api/v1/workflows/{id}/versions/{number}/restore",
		"POST /api/v1/workflows/{id}/run",
		"GET /api/v1/executions",
		"GET /api/v1/executions/{id}",
		"GET /api/v1/workflows/{id}/sharing",
		"PUT /api/v1/workflows/{id}/sharing/{userID}",
		"DELETE /api/v1/workflows/{id}/sharing/{userID}",
		"GET /api/v1/workflows/{id}/pins",
		"PUT /api/v1/workflows/{id}/pins/{nodeID}",
		"DELETE /api/v1/workflows/{id}/pins/{nodeID}",
		"GET /api/v1/workflows/{id}/last-test-run",
		"POST /api/v1/workflows/{id}/preview",
	}
}

// uiRoutes mounts CanvasAPIRoutes under UIAPIPrefix, and the live execution stream the canvas shows a test run
// with. It runs after the API routes are registered.
func (s *Handlers) uiRoutes(rt *httpx.Router) {
	for _, pattern := range CanvasAPIRoutes() {
		h, ok := s.handlers[pattern]
		if !ok {
			panic("ui routes: no API route " + pattern)
		}
		method, path, _ := strings.Cut(pattern, " ")
		s.uiAPI(rt, method+" "+UIAPIPrefix+strings.TrimPrefix(path, "/api/v1"), h)
	}
	s.uiAPI(rt, "GET "+UIAPIPrefix+"/executions/{id}/events", s.uiExecutionEvents)
}

var errSignInFirst = fault.New(fault.Unauthorized, "sign in first")

// uiAPI registers a cookie-authenticated JSON route: like a page, but an anonymous caller gets a 401 problem rather
// than a redirect to the sign-in page.
func (s *Handlers) uiAPI(rt *httpx.Router, pattern string, h http.HandlerFunc) {
	rt.Handle(pattern, s.CookieAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !httpx.PrincipalFrom(r.Context()).Authenticated() {
			s.Problem(w, r, errSignInFirst)
			return
		}
		h(w, r)
	})))
}

// uiExecutionEvents is GET /ui/api/v1/executions/{id}/events: server-sent "execution" events, each holding the
// execution as GET …/executions/{id} shows it, at once and after every change, until it is final ("end").
func (s *Handlers) uiExecutionEvents(w http.ResponseWriter, r *http.Request) {
	exec, err := s.PathExecution(r, authz.ExecutionView)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	s.StreamExecution(w, r, s.deps.Events, exec, s.sendExecutionJSON)
}

// sendExecutionJSON re-reads the execution and writes it as an "execution" event, followed by "end" when final.
func (s *Handlers) sendExecutionJSON(ctx context.Context, w io.Writer, exec store.Execution) (final bool, err error) {
	exec, err = s.deps.Store.ExecutionGet(ctx, exec.OrganizationID, exec.ID)
	if err != nil {
		return false, err
	}
	detail, err := s.executionDetail(ctx, exec)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return false, err
	}
	if err := httpx.WriteSSE(w, "execution", string(b)); err != nil {
		return false, err
	}
	if httpx.FinalStatus(exec.Status) {
		return true, httpx.WriteSSE(w, "end", exec.Status)
	}
	return false, nil
}
