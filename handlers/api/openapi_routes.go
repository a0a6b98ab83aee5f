package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The descriptions of the accounts, workflow, execution, webhook and integration routes. Bodies are the types the
// handlers decode and encode. Where a handler answers a map literal, the type below spells out that map; the
// contract test validates the handler's real answers against it, so the two cannot drift apart unnoticed.

// nodeTypeList is the answer of GET /api/v1/node-types.
type nodeTypeList struct {
	Items []engine.NodeType `json:"items"`
}

// workflowPage is the answer of GET /api/v1/workflows; NextCursor is "" on the last page.
type workflowPage struct {
	Items      []WorkflowJSON `json:"items"`
	NextCursor string         `json:"next_cursor"`
}

// workflowExport is the answer of GET /api/v1/workflows/{id}/export, which import takes back as a workflowInput.
type workflowExport struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Priority         int16           `json:"priority"`
	ConcurrencyLimit *int32          `json:"concurrency_limit"`
	Definition       json.RawMessage `json:"definition"`
}

// versionList is the answer of GET /api/v1/workflows/{id}/versions.
type versionList struct {
	Items []versionJSON `json:"items"`
}

// ExecutionAccepted answers a call that queued an execution.
type ExecutionAccepted struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	// RunNumber is the new execution's number within its workflow ("#12").
	RunNumber int64 `json:"run_number,omitempty"`
}

// executionPage is the answer of GET /api/v1/executions; NextCursor is "" on the last page.
type executionPage struct {
	Items      []ExecutionJSON `json:"items"`
	NextCursor string          `json:"next_cursor"`
}

// executionCancelJSON is the answer of POST /api/v1/executions/{id}/cancel: the status after the request (a
// running execution stays running until its next node boundary).
type executionCancelJSON struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	Status      string    `json:"status"`
}

// webhookDeliveryList is the answer of GET /api/v1/workflows/{id}/webhook/deliveries.
type webhookDeliveryList struct {
	Items []WebhookDeliveryJSON `json:"items"`
}

// integrationList is the answer of GET /api/v1/integrations.
type integrationList struct {
	Items []store.Integration `json:"items"`
}

// connectionTestJSON is the answer of POST /api/v1/integrations/{id}/test.
type connectionTestJSON struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// anyJSON is a body of any JSON value: a manual run's trigger body, a webhook's awaited result.
type anyJSON = json.RawMessage

// Tags group the operations in the docs.
const (
	tagAuth         = "Authentication"
	tagWorkflows    = "Workflows"
	tagExecutions   = "Executions"
	tagWebhooks     = "Webhooks"
	tagIntegrations = "Integrations"
	tagAudit        = "Audit log"
)

// coreRouteDescriptions describes the authentication, workflow, execution, webhook, integration and audit routes.
func coreRouteDescriptions() map[string]apiRoute {
	var (
		workflowListParams = []apiParam{
			searchParam("the name and description (the name weighs more)"),
			query("active", false, "Only active (true) or inactive (false) workflows."),
			query("archived", false, "Archived workflows instead of live ones."),
			cursorParam, limitParam,
		}
		executionListParams = []apiParam{
			searchParam("the error of failed executions, or, written trigger.<path>=<value>, the trigger data (among the newest 5,000 executions the other filters select; the cursor continues)"),
			query("workflow_id", uuid.UUID{}, "Only executions of this workflow."),
			{Name: "status", In: "query", Type: "", Description: "Only executions in this status.",
				Enum: []string{store.StatusQueued, store.StatusRunning, store.StatusWaiting, store.StatusSucceeded,
					store.StatusFailed, store.StatusCanceled}},
			{Name: "kind", In: "query", Type: "", Description: "Only executions of this kind: production, test (the editor's Test run) or retry.",
				Enum: []string{store.KindProduction, store.KindTest, store.KindRetry}},
			query("since", time.Time{}, "Only executions created after this time (RFC 3339)."),
			cursorParam, limitParam,
		}
		auditParams = []apiParam{
			query("action", "", `An action prefix: "member." finds every membership change.`),
			query("actor", uuid.UUID{}, "Only what this user did."),
			query("from", "", "From this date (YYYY-MM-DD), inclusive."),
			query("to", "", "Up to this date (YYYY-MM-DD), inclusive."),
			cursorParam, query("limit", 0, "Entries per page, 1 to 200."),
		}
		idempotencyKey = header("Idempotency-Key",
			"A key of the caller's choosing (up to 255 characters): a retry with the same key within 24 hours gets the first answer again instead of a second execution.")
	)
	const st401, st403, st404, st409, st422 = http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusConflict, http.StatusUnprocessableEntity
	with := func(success []apiResponse, errs ...int) []apiResponse { return append(success, problems(errs...)...) }
	one := func(r apiResponse) []apiResponse { return []apiResponse{r} }

	return map[string]apiRoute{
		// Authentication.
		"POST /api/v1/auth/token": {Tag: tagAuth, Public: true, Summary: "Sign in: issue an access and a refresh token",
			Description: "The access token is a short-lived JWT; the refresh token starts a rotation family. Without organization_id the token acts in the user's first organization.",
			Body:        tokenRequest{}, Responses: with(one(ok(TokenResponse{}, "The token pair.")), st401, st403, http.StatusTooManyRequests)},
		"POST /api/v1/auth/refresh": {Tag: tagAuth, Public: true, Summary: "Rotate a refresh token",
			Description: "Answers a new pair. Presenting a refresh token that was already rotated revokes its whole family.",
			Body:        refreshRequest{}, Responses: with(one(ok(TokenResponse{}, "The new token pair.")), st401, http.StatusTooManyRequests)},
		"POST /api/v1/auth/logout": {Tag: tagAuth, Public: true, Summary: "Revoke a refresh token's family",
			Description: "Access tokens already issued run out within their short lifetime.",
			Body:        refreshRequest{}, Responses: with(one(noContent("Revoked.")), st401, http.StatusTooManyRequests)},
		"GET /api/v1/me": {Tag: tagAuth, Summary: "Who the token speaks for",
			Responses: with(one(ok(meJSON{}, "The user, its role and organization.")), st403)},
		"GET /api/v1/audit": {Tag: tagAudit, Summary: "The organization's audit log (admins and owners)",
			Params: auditParams, Responses: with(one(ok(auditListJSON{}, "A page of entries, newest first.")), st403, st422)},

		// Workflows.
		"GET /api/v1/node-types": {Tag: tagWorkflows, Summary: "The node type catalogue",
			Description: "Each type's config JSON Schema, ports and an example config: the same registry the editor's palette uses.",
			Responses:   one(ok(nodeTypeList{}, "Every node type."))},
		"GET /api/v1/workflows": {Tag: tagWorkflows, Summary: "List workflows", Params: workflowListParams,
			Responses: with(one(ok(workflowPage{}, "A page of workflows, newest first.")), st403, st422)},
		"POST /api/v1/workflows": {Tag: tagWorkflows, Summary: "Create a workflow", Body: workflowInput{},
			Description: "An invalid definition gets 422 with one error per problem, naming the node and the field.",
			Responses:   with(one(created(WorkflowJSON{}, "The workflow, version 1, inactive.")), st403, st422)},
		"POST /api/v1/workflows/import": {Tag: tagWorkflows, Summary: "Import an exported workflow",
			Body: workflowInput{}, Responses: with(one(created(WorkflowJSON{}, "The new workflow.")), st403, st422)},
		"POST /api/v1/workflows/validate": {Tag: tagWorkflows, Summary: "Check a definition without saving it",
			Description: "Runs the checks a save runs; an invalid definition gets 422 with one error per problem, naming the node and the field.",
			Body:        definitionInput{}, Responses: with(one(ok(definitionValid{}, "The definition is valid.")), st422)},
		"GET /api/v1/workflows/{id}": {Tag: tagWorkflows, Summary: "A workflow with its current definition",
			Responses: with(one(apiResponse{Status: http.StatusOK, Body: WorkflowJSON{}, Description: "The workflow.",
				Headers: map[string]string{"ETag": "The version, for If-Match."}}), st403, st404)},
		"PUT /api/v1/workflows/{id}": {Tag: tagWorkflows, Summary: "Save a new version",
			Description: "Carries the version it edits (in the body, or as If-Match); a stale one gets 409 naming who saved in between.",
			Params:      []apiParam{header("If-Match", `The version edited, as the ETag of GET ("3"); the body's version wins.`)},
			Body:        workflowInput{},
			Responses: with(one(apiResponse{Status: http.StatusOK, Body: WorkflowJSON{}, Description: "The new head.",
				Headers: map[string]string{"ETag": "The new version."}}), st403, st404, st409, st422)},
		"DELETE /api/v1/workflows/{id}": {Tag: tagWorkflows, Summary: "Archive a workflow",
			Description: "Its executions stay readable.", Responses: with(one(noContent("Archived.")), st403, st404)},
		"POST /api/v1/workflows/{id}/activate": {Tag: tagWorkflows, Summary: "Activate: its trigger starts runs",
			Responses: with(one(ok(WorkflowJSON{}, "The workflow.")), st403, st404, st409, st422)},
		"POST /api/v1/workflows/{id}/deactivate": {Tag: tagWorkflows, Summary: "Deactivate",
			Responses: with(one(ok(WorkflowJSON{}, "The workflow.")), st403, st404, st409)},
		"POST /api/v1/workflows/{id}/duplicate": {Tag: tagWorkflows, Summary: "Copy a workflow's current version",
			Body: duplicateInput{}, BodyOptional: true,
			Responses: with(one(created(WorkflowJSON{}, "The copy.")), st403, st404, st422)},
		"GET /api/v1/workflows/{id}/export": {Tag: tagWorkflows, Summary: "Export as a document import accepts",
			Responses: with(one(ok(workflowExport{}, "The document (sent as an attachment).")), st403, st404)},
		"GET /api/v1/workflows/{id}/versions": {Tag: tagWorkflows, Summary: "The version history, newest first",
			Responses: with(one(ok(versionList{}, "Versions without their definitions.")), st403, st404)},
		"GET /api/v1/workflows/{id}/versions/{number}": {Tag: tagWorkflows, Summary: "One version with its definition",
			Responses: with(one(ok(versionJSON{}, "The version.")), st403, st404)},
		"POST /api/v1/workflows/{id}/versions/{number}/restore": {Tag: tagWorkflows,
			Summary: "Restore an old version as a new head", Description: "History is never rewritten.",
			Responses: with(one(ok(WorkflowJSON{}, "The new head.")), st403, st404, st409, st422)},
		"POST /api/v1/workflows/{id}/run": {Tag: tagExecutions, Summary: "Run manually",
			Description: "The JSON body becomes the trigger's body (`trigger.body`); 202 once the execution is committed. `kind=test` marks a test run, left out of the dashboard and statistics (the editor's Test run is one). With pins=true (the editor's test run), nodes with pinned data start as succeeded with it as their output and are not run.",
			Params: []apiParam{{Name: "kind", In: "query", Type: "", Description: "production (the default through the API) or test.",
				Enum: []string{store.KindProduction, store.KindTest}},
				{Name: "pins", In: "query", Type: false, Description: "true: start pinned nodes from their pinned data (an editor test run)."}},
			Body: anyJSON{}, BodyOptional: true,
			Responses: with(one(accepted(ExecutionAccepted{}, "Queued.")), st403, st404, st409)},

		"GET /api/v1/workflows/{id}/stats": {Tag: tagWorkflows, Summary: "Per-minute statistics of its executions",
			Description: "Executions that finished in each minute, by final status, and their trigger-to-finish percentiles; aggregated about a minute behind the clock, kept for STATS_RETENTION.",
			Params:      statsParams,
			Responses:   with(one(ok(StatsJSON{}, "The minutes of the range that had finished executions.")), st403, st404, st422)},
		"GET /api/v1/stats": {Tag: tagExecutions, Summary: "Per-minute statistics of the organization's executions",
			Description: "As a workflow's statistics, over every workflow of the organization together.",
			Params:      statsParams,
			Responses:   with(one(ok(StatsJSON{}, "The minutes of the range that had finished executions.")), st403, st422)},

		// Executions.
		"GET /api/v1/executions": {Tag: tagExecutions, Summary: "List executions", Params: executionListParams,
			Responses: with(one(ok(executionPage{}, "A page of executions, newest first (without node runs).")), st403, st422)},
		"GET /api/v1/executions/{id}": {Tag: tagExecutions, Summary: "An execution with its node runs",
			Responses: with(one(ok(ExecutionJSON{}, "The execution, its node runs, files and e-mails.")), st403, st404)},
		"POST /api/v1/executions/{id}/cancel": {Tag: tagExecutions, Summary: "Cancel",
			Description: "A queued or waiting execution ends at once; a running one at its next node boundary.",
			Responses:   with(one(accepted(executionCancelJSON{}, "Cancel requested.")), st403, st404, st409)},
		"POST /api/v1/executions/{id}/retry": {Tag: tagExecutions, Summary: "Retry as a new execution",
			Description: `From the start, or from the failed node ("failed") with the recorded inputs; runs before it are carried over, never repeated.`,
			Body:        retryInput{}, BodyOptional: true,
			Responses: with(one(accepted(ExecutionAccepted{}, "The retry is queued.")), st403, st404, st409, st422)},
		"GET /api/v1/executions/{id}/files/{fileID}": {Tag: tagExecutions, Summary: "Download a file the execution exported",
			Description: "Streamed through the server; with `presign=1` and S3 storage, a redirect to a link of the store " +
				"that works for 60 seconds, so that a large file does not pass through the server (other storage streams it).",
			Params: []apiParam{{Name: "presign", In: "query", Type: "", Enum: []string{"1", "0", "true", "false"},
				Description: "1 asks for a redirect to a short-lived link of the store instead of the file (S3 storage only)."}},
			Responses: with([]apiResponse{{Status: http.StatusOK, Body: binaryBody{}, ContentType: "application/octet-stream",
				Description: "The file, with its own Content-Type."},
				{Status: http.StatusFound, Description: "presign=1 with S3 storage: the file is at Location.",
					Headers: map[string]string{"Location": "A presigned URL of the store, valid for 60 seconds."}}},
				st403, st404, st422)},

		// Webhooks.
		"GET /api/v1/workflows/{id}/webhook": {Tag: tagWebhooks, Summary: "The webhook's URL and signing secret",
			Description: "For those who may edit the workflow: the secret lets its holder start runs. Created on first request.",
			Responses:   with(one(ok(WebhookInfo{}, "URL, secret and signature header.")), st403, st404)},
		"POST /api/v1/workflows/{id}/webhook/rotate": {Tag: tagWebhooks, Summary: "Rotate the signing secret",
			Description: "The previous secret stays valid for a day.",
			Responses:   with(one(ok(WebhookInfo{}, "The new secret.")), st403, st404)},
		"GET /api/v1/workflows/{id}/webhook/deliveries": {Tag: tagWebhooks, Summary: "The webhook's latest calls",
			Params:    []apiParam{limitParam},
			Responses: with(one(ok(webhookDeliveryList{}, "Deliveries, newest first.")), st403, st404, st422)},
		"POST /hooks/{token}": {Tag: tagWebhooks, Public: true, Summary: "Fire a workflow's webhook",
			Description: "Signed with `" + httpx.SignatureHeader + ": t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>` " +
				"(or the trigger's own auth mode). The body (JSON or form) becomes `trigger.body`. A signed request is " +
				"accepted once: the same timestamp and body again inside the window gets 409.",
			Params: []apiParam{header(httpx.SignatureHeader, "The HMAC signature."), idempotencyKey},
			Body:   anyJSON{}, BodyOptional: true,
			Responses: with([]apiResponse{
				accepted(ExecutionAccepted{}, "Queued (committed)."),
				ok(anyJSON{}, "The workflow's result, when the trigger is set to wait for it."),
			}, st401, st404, st409, http.StatusRequestEntityTooLarge, st422, http.StatusTooManyRequests, http.StatusBadGateway)},
		"GET /hooks/{token}": {Tag: tagWebhooks, Public: true, Summary: "Fire a webhook that accepts GET",
			Description: "Only when the trigger allows GET; the query string becomes `trigger.query`.",
			Params:      []apiParam{header(httpx.SignatureHeader, "The HMAC signature (over an empty body)."), idempotencyKey},
			Responses: with([]apiResponse{
				accepted(ExecutionAccepted{}, "Queued (committed)."),
				ok(anyJSON{}, "The workflow's result, when the trigger is set to wait for it."),
			}, st401, st404, st409, st422, http.StatusTooManyRequests, http.StatusBadGateway)},

		// Integrations.
		"GET /api/v1/integrations": {Tag: tagIntegrations, Summary: "List integrations (secrets never shown)",
			Params: []apiParam{query("kind", "", "Only integrations of this kind (smtp, http, postgres …)."),
				searchParam("the name")},
			Responses: with(one(ok(integrationList{}, "Integrations.")), st403)},
		"POST /api/v1/integrations": {Tag: tagIntegrations, Summary: "Add an integration",
			Description: "settings mixes plain settings and secrets; the kind's secret fields are sealed and never shown back.",
			Body:        app.IntegrationInput{}, Responses: with(one(created(store.Integration{}, "The integration.")), st403, st409, st422)},
		"GET /api/v1/integrations/{id}": {Tag: tagIntegrations, Summary: "An integration",
			Responses: with(one(ok(store.Integration{}, "The integration.")), st403, st404)},
		"PUT /api/v1/integrations/{id}": {Tag: tagIntegrations, Summary: "Update an integration",
			Description: "A settings object without a secret field keeps the stored secret.",
			Body:        app.IntegrationInput{}, Responses: with(one(ok(store.Integration{}, "The integration.")), st403, st404, st409, st422)},
		"DELETE /api/v1/integrations/{id}": {Tag: tagIntegrations, Summary: "Delete an integration",
			Responses: with(one(noContent("Deleted.")), st403, st404, st409)},
		"POST /api/v1/integrations/{id}/test": {Tag: tagIntegrations, Summary: "Test the connection",
			Description: "A failed connection is an answer (ok: false), not an API error.",
			Responses:   with(one(ok(connectionTestJSON{}, "The outcome.")), st403, st404)},
		"PUT /api/v1/integrations/{id}/use": {Tag: tagIntegrations, Summary: "Set who may use an integration",
			Description: "restricted false: everyone in the organization; true: admins, owners, the roles and members listed.",
			Body:        app.IntegrationUseInput{}, Responses: with(one(ok(store.Integration{}, "The integration.")), st403, st404, st422)},
		"PUT /api/v1/integrations/{id}/privileged-role": {Tag: tagIntegrations, Summary: "Allow a privileged database role (instance administrators)",
			Description: "Lets a PostgreSQL integration connect as a superuser or a member of pg_read_server_files, pg_write_server_files or pg_execute_server_program.",
			Body:        privilegedRoleInput{}, Responses: with(one(ok(store.Integration{}, "The integration.")), st403, st404, st422)},
	}
}
