package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// testRegistry holds every node type, the built-ins and the actions, as the real process does.
func testRegistry(t *testing.T) *engine.Registry {
	reg := nodes.NewRegistry()
	if err := actions.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// startWorkers runs executions in the test, with a River client over the harness's database and the action
// nodes' services over the harness's integrations and file storage.
func (h *harness) startWorkers() {
	h.t.Helper()
	services, err := actions.NewServicesFactory(actions.ServicesConfig{Integrations: h.srv.deps.Integrations,
		Records: h.st, Files: h.srv.deps.Files, RateLimiter: h.st.IntegrationRateLimiter(),
		OutboundAllowedHosts: []string{"127.0.0.1"}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { services.Close() })
	worker := queue.NewExecuteWorker(queue.WorkerOptions{Store: h.st,
		Plans: h.srv.deps.Plans, Executor: engine.NewExecutor(h.executor), ExecutionTimeout: time.Minute,
		Services: services.ForExecution, Logger: h.srv.deps.Logger, LogExecutions: queue.LogExecutionsAll})
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	client, err := h.st.NewJobClient(store.JobClientConfig{Workers: workers, MaxWorkers: 4,
		ExecutionTimeout: time.Minute, FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.StopAndCancel(ctx)
	})
}

const apiFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","name":"Order in","position":{"x":0,"y":0},"config":{}},
 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total}"}},
 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`

func TestWorkflowAndExecutionAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)

	// Every problem of an invalid definition comes back at once, naming node and field.
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Orders","definition":
		{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},{"id":"big","type":"condition.if","config":{"condition":"input.total >"}},
		{"id":"x","type":"no.such","config":{}}],"edges":[{"from":"hook","to":"big"}]}}`})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		t.Fatalf("invalid definition: %d %s", resp.StatusCode, resp.body)
	}
	var problem struct {
		Errors []struct {
			NodeID  string `json:"node_id"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	resp.json(t, &problem)
	found := map[string]bool{}
	for _, e := range problem.Errors {
		found[e.NodeID] = true
	}
	if !found["big"] || !found["x"] {
		t.Errorf("problems %+v do not name nodes big and x", problem.Errors)
	}

	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: viewer, JSON: `{"name":"Nope","definition":` + apiFlow + `}`})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer create: %d", resp.StatusCode)
	}
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: member, JSON: `{"name":"Orders","definition":` + apiFlow + `}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	var wf struct {
		ID         string          `json:"id"`
		Version    int             `json:"version"`
		Active     bool            `json:"active"`
		Definition json.RawMessage `json:"definition"`
	}
	resp.json(t, &wf)
	if wf.Version != 1 || wf.Active {
		t.Fatalf("created %+v", wf)
	}

	// The outsider learns nothing; the viewer reads.
	if resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID, Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider read: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID, Bearer: viewer}); resp.StatusCode != http.StatusOK ||
		!strings.Contains(resp.body, `"Order in"`) {
		t.Errorf("viewer read: %d %s", resp.StatusCode, resp.body)
	}

	// Saves make versions; a stale one is a conflict that says who saved.
	resp = h.do(request{Method: "PUT", Path: "/api/v1/workflows/" + wf.ID, Bearer: member, JSON: `{"version":1,"name":"Orders v2","definition":` + apiFlow + `}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.body, `"version":2`) {
		t.Fatalf("save: %d %s", resp.StatusCode, resp.body)
	}
	resp = h.do(request{Method: "PUT", Path: "/api/v1/workflows/" + wf.ID, Bearer: member, JSON: `{"version":1,"definition":` + apiFlow + `}`})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.body, "A member") {
		t.Errorf("stale save: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID + "/versions", Bearer: member}); !strings.Contains(resp.body, `"number":2`) {
		t.Errorf("versions: %s", resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/versions/1/restore", Bearer: member}); resp.StatusCode != http.StatusOK ||
		!strings.Contains(resp.body, `"version":3`) {
		t.Errorf("restore: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/activate", Bearer: member}); !strings.Contains(resp.body, `"active":true`) {
		t.Errorf("activate: %s", resp.body)
	}

	// A run goes through River to the end, every node recorded.
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/run", Bearer: member, JSON: `{"total":250}`})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run: %d %s", resp.StatusCode, resp.body)
	}
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	exec := h.waitExecution(member, run.ExecutionID, "succeeded")
	statuses := map[string]string{}
	for _, n := range exec.Nodes {
		statuses[n.NodeID] = n.Status
	}
	if fmt.Sprint(statuses) != "map[big:succeeded hook:succeeded shape:succeeded]" {
		t.Errorf("node runs %v", statuses)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/executions/" + run.ExecutionID, Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("outsider execution read: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/executions?status=succeeded&workflow_id=" + wf.ID, Bearer: viewer}); !strings.Contains(resp.body, run.ExecutionID) {
		t.Errorf("list: %s", resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/executions?status=bogus", Bearer: viewer}); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(resp.body, `"field":"status"`) {
		t.Errorf("bad filter: %d %s", resp.StatusCode, resp.body)
	}
	// A retry runs the same version again; a viewer may not.
	if resp := h.do(request{Method: "POST", Path: "/api/v1/executions/" + run.ExecutionID + "/retry", Bearer: viewer}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer retry: %d", resp.StatusCode)
	}
	resp = h.do(request{Method: "POST", Path: "/api/v1/executions/" + run.ExecutionID + "/retry", Bearer: member, JSON: `{"from":"start"}`})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.body)
	}
	var retry struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &retry)
	h.waitExecution(member, retry.ExecutionID, "succeeded")
	if resp := h.do(request{Method: "POST", Path: "/api/v1/executions/" + retry.ExecutionID + "/cancel", Bearer: member}); resp.StatusCode != http.StatusConflict {
		t.Errorf("cancel a finished execution: %d %s", resp.StatusCode, resp.body)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/node-types", Bearer: viewer}); !strings.Contains(resp.body, `"condition.if"`) {
		t.Errorf("node types: %.200s", resp.body)
	}
	if h.auditCount("workflow.create") != 1 || h.auditCount("execution.run") != 1 || h.auditCount("execution.retry") != 1 {
		t.Errorf("audit rows missing")
	}
}

type executionDetail struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Nodes  []struct {
		NodeID string `json:"node_id"`
		Status string `json:"status"`
	} `json:"nodes"`
}

func (h *harness) waitExecution(token, id, want string) executionDetail {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	// The wait grows, so that a slow execution on a busy machine does not spend the token's API rate limit (600
	// requests a minute) on polling.
	wait := 25 * time.Millisecond
	for {
		var e executionDetail
		if resp := h.do(request{Method: "GET", Path: "/api/v1/executions/" + id, Bearer: token}); resp.StatusCode != http.StatusTooManyRequests {
			resp.json(h.t, &e)
		}
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("execution %s is %s (%s), want %s", id, e.Status, e.Error, want)
		}
		time.Sleep(wait)
		wait = min(2*wait, 500*time.Millisecond)
	}
}
