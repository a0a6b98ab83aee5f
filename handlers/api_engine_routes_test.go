package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the workflow and execution API, merged into routeCases. A workflow in these cases is created
// by organization A's owner, so a member has no right of its own on it: only what its role gives.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/node-types":                                {get("/api/v1/node-types"), withAnon(every(200), 401)},
		"GET /api/v1/workflows":                                 {get("/api/v1/workflows"), withAnon(every(200), 401)},
		"POST /api/v1/workflows":                                {newWorkflowRequest("/api/v1/workflows"), creators()},
		"POST /api/v1/workflows/import":                         {newWorkflowRequest("/api/v1/workflows/import"), creators()},
		"GET /api/v1/workflows/{id}":                            {onWorkflow("GET", "", ""), readers(200)},
		"PUT /api/v1/workflows/{id}":                            {onWorkflow("PUT", "", `{"version":1,"definition":`+apiFlow+`}`), editors(200)},
		"DELETE /api/v1/workflows/{id}":                         {onWorkflow("DELETE", "", ""), editors(204)},
		"POST /api/v1/workflows/{id}/activate":                  {onWorkflow("POST", "/activate", ""), editors(200)},
		"POST /api/v1/workflows/{id}/deactivate":                {onWorkflow("POST", "/deactivate", ""), editors(200)},
		"POST /api/v1/workflows/{id}/duplicate":                 {onWorkflow("POST", "/duplicate", ""), withOutsider(creators(), 404)},
		"GET /api/v1/workflows/{id}/export":                     {onWorkflow("GET", "/export", ""), readers(200)},
		"GET /api/v1/workflows/{id}/versions":                   {onWorkflow("GET", "/versions", ""), readers(200)},
		"GET /api/v1/workflows/{id}/versions/{number}":          {onWorkflow("GET", "/versions/1", ""), readers(200)},
		"POST /api/v1/workflows/{id}/versions/{number}/restore": {onWorkflow("POST", "/versions/1/restore", ""), editors(200)},
		"POST /api/v1/workflows/{id}/run":                       {onWorkflow("POST", "/run", `{"total":1}`), editors(202)},
		"GET /api/v1/executions":                                {get("/api/v1/executions"), withAnon(every(200), 401)},
		"GET /api/v1/workflows/{id}/stats":                      {onWorkflow("GET", "/stats", ""), readers(200)},
		"GET /api/v1/stats":                                     {get("/api/v1/stats"), withAnon(every(200), 401)},
		"GET /api/v1/executions/{id}":                           {onExecution("", store.StatusQueued, ""), readers(200)},
		"POST /api/v1/executions/{id}/cancel":                   {onExecution("/cancel", store.StatusQueued, ""), editors(202)},
		"POST /api/v1/executions/{id}/retry":                    {onExecution("/retry", store.StatusFailed, `{"from":"failed"}`), editors(202)},
		"GET /api/v1/workflows/{id}/webhook":                    {onWorkflow("GET", "/webhook", ""), editors(200)},
		"POST /api/v1/workflows/{id}/webhook/rotate":            {onWorkflow("POST", "/webhook/rotate", ""), editors(200)},
		// Webhooks take no session or token: an unsigned call is refused whoever makes it, and a GET is not
		// accepted unless the trigger allows it.
		"GET /api/v1/workflows/{id}/webhook/deliveries": {onWorkflow("GET", "/webhook/deliveries", ""), readers(200)},
		"POST /hooks/{token}":                           {onHook("POST"), every(401)},
		"GET /hooks/{token}":                            {onHook("GET"), every(404)},
	})
}

// creators: anyone from member up creates (the outsider in its own organization); viewers may not.
func creators() map[string]int {
	m := withAnon(every(201), 401)
	m["viewer"] = http.StatusForbidden
	return m
}

// readers: everyone in organization A reads; the outsider learns nothing.
func readers(status int) map[string]int {
	return withOutsider(withAnon(every(status), 401), 404)
}

// editors: admins and owners (members and viewers have no grant on the owner's workflow).
func editors(status int) map[string]int {
	m := readers(status)
	m["viewer"], m["member"] = http.StatusForbidden, http.StatusForbidden
	return m
}

func newWorkflowRequest(path string) func(*harness, *world) request {
	return func(*harness, *world) request {
		return request{Method: "POST", Path: path, JSON: `{"name":"New flow","definition":` + apiFlow + `}`}
	}
}

// ownersWorkflow creates a workflow in organization A as its owner.
func (h *harness) ownersWorkflow(w *world) store.Workflow {
	h.t.Helper()
	wf, err := h.st.WorkflowCreate(context.Background(), store.Actor{}, store.NewWorkflow{OrganizationID: w.orgA.ID,
		Name: "Owner's flow", Definition: json.RawMessage(apiFlow), AuthorID: httpx.Ptr(w.users["owner"].ID)})
	if err != nil {
		h.t.Fatal(err)
	}
	return wf
}

func onWorkflow(method, suffix, body string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		wf := h.ownersWorkflow(w)
		return request{Method: method, Path: "/api/v1/workflows/" + wf.ID.String() + suffix, JSON: body}
	}
}

// onExecution creates an execution of the owner's workflow and leaves it in status (queued, or finished as given).
func onExecution(suffix, status, body string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		ctx := context.Background()
		wf := h.ownersWorkflow(w)
		head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID,
			WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
		if err != nil {
			h.t.Fatal(err)
		}
		if status != store.StatusQueued {
			if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: e.ID,
				OrganizationID: w.orgA.ID, WorkflowID: wf.ID}, Status: engine.ExecutionStatus(status), Error: "boom"}); err != nil {
				h.t.Fatal(err)
			}
		}
		return request{Method: "POST", Path: "/api/v1/executions/" + e.ID.String() + suffix, JSON: body,
			Header: nil}.withMethod(suffix)
	}
}

// withMethod makes a request without a suffix a read.
func (r request) withMethod(suffix string) request {
	if suffix == "" {
		r.Method = "GET"
	}
	return r
}

// onHook calls the webhook of an active workflow of organization A, without a signature.
func onHook(method string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		ctx := context.Background()
		wf := h.ownersWorkflow(w)
		if _, err := h.st.WorkflowSetActive(ctx, store.Actor{}, w.orgA.ID, wf.ID, true, nil); err != nil {
			h.t.Fatal(err)
		}
		hook, err := h.st.WebhookEnsure(ctx, store.Actor{}, h.srv.deps.WebhookKeys, w.orgA.ID, wf.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		h.remember(hook.Secret)
		return request{Method: method, Path: "/hooks/" + hook.Token, JSON: `{"x":1}`}
	}
}
