package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the node view's routes, merged into routeCases: the workflow is organization A's owner's, so
// everyone in A reads its pins and previews against it, only admins and owners pin, and the outsider gets 404.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /api/v1/workflows/{id}/pins": {onWorkflow("GET", "/pins", ""), readers(200)},
		"PUT /api/v1/workflows/{id}/pins/{nodeID}": {onWorkflow("PUT", "/pins/shape",
			`{"data":{"total":500}}`), editors(200)},
		"DELETE /api/v1/workflows/{id}/pins/{nodeID}": {func(h *harness, w *world) request {
			wf := h.ownersWorkflow(w)
			if _, err := h.st.NodePinSet(context.Background(), w.orgA.ID, wf.ID, "shape", "", json.RawMessage(`{"total":1}`), nil); err != nil {
				h.t.Fatal(err)
			}
			return request{Method: "DELETE", Path: "/api/v1/workflows/" + wf.ID.String() + "/pins/shape"}
		}, editors(204)},
		"GET /api/v1/workflows/{id}/last-test-run": {func(h *harness, w *world) request {
			req := onExecution("", store.StatusFailed, "")(h, w)
			wfID := h.lastWorkflowOf(w, req.Path)
			return request{Method: "GET", Path: "/api/v1/workflows/" + wfID + "/last-test-run"}
		}, readers(200)},
		"POST /api/v1/workflows/{id}/preview": {onWorkflow("POST", "/preview",
			`{"kind":"expression","source":"input.total * 2","input":{"total":21}}`), readers(200)},
	})
}

// lastWorkflowOf returns the workflow of the execution at an /api/v1/executions/{id} path.
func (h *harness) lastWorkflowOf(w *world, path string) string {
	h.t.Helper()
	id := strings.TrimPrefix(path, "/api/v1/executions/")
	for _, e := range mustList(h, w) {
		if e.ID.String() == id {
			return e.WorkflowID.String()
		}
	}
	h.t.Fatalf("execution %s not found", id)
	return ""
}

func mustList(h *harness, w *world) []store.Execution {
	h.t.Helper()
	list, err := h.st.ExecutionList(context.Background(), w.orgA.ID, store.ExecutionFilter{Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func TestNodePinsAreEditorsAndTheirOrganizations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)
	pins := "/api/v1/workflows/" + wf.ID.String() + "/pins"

	if r := h.do(request{Method: "PUT", Path: pins + "/shape", Bearer: viewer, JSON: `{"data":{"total":7}}`}); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer pins: %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "PUT", Path: pins + "/shape", Bearer: outsider, JSON: `{"data":{"total":7}}`}); r.StatusCode != http.StatusNotFound {
		t.Errorf("other organization pins: %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "PUT", Path: pins + "/shape", Bearer: owner, JSON: `{"data":{"total":7}}`}); r.StatusCode != http.StatusOK {
		t.Fatalf("owner pins: %d %s", r.StatusCode, r.body)
	}
	big := `{"data":"` + strings.Repeat("x", 300<<10) + `"}`
	if r := h.do(request{Method: "PUT", Path: pins + "/shape", Bearer: owner, JSON: big}); r.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "data") {
		t.Errorf("oversized pin: %d %.300s", r.StatusCode, r.body)
	}
	// The viewer sees the pin; the other organization sees nothing, not even that the workflow exists.
	var got struct {
		Items []struct {
			NodeID string          `json:"node_id"`
			Data   json.RawMessage `json:"data"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: pins, Bearer: viewer}).json(t, &got)
	if len(got.Items) != 1 || got.Items[0].NodeID != "shape" || string(got.Items[0].Data) != `{"total":7}` {
		t.Errorf("viewer's pins: %+v", got.Items)
	}
	if r := h.do(request{Method: "GET", Path: pins, Bearer: outsider}); r.StatusCode != http.StatusNotFound {
		t.Errorf("other organization lists pins: %d", r.StatusCode)
	}
	if r := h.do(request{Method: "DELETE", Path: pins + "/shape", Bearer: viewer}); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer unpins: %d", r.StatusCode)
	}
	if r := h.do(request{Method: "DELETE", Path: pins + "/shape", Bearer: owner}); r.StatusCode != http.StatusNoContent {
		t.Errorf("owner unpins: %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "DELETE", Path: pins + "/shape", Bearer: owner}); r.StatusCode != http.StatusNotFound {
		t.Errorf("unpin twice: %d", r.StatusCode)
	}
	// Never test-run: an answer, not a 404 (every editor asks when it opens).
	last := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String() + "/last-test-run", Bearer: viewer})
	if last.StatusCode != http.StatusOK || !strings.Contains(last.body, `"execution_id":null`) {
		t.Errorf("last test run of a workflow never run: %d %s", last.StatusCode, last.body)
	}
}

func TestExpressionPreviewRunsUnderTheSandboxLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)
	path := "/api/v1/workflows/" + wf.ID.String() + "/preview"
	type answer struct {
		OK     bool   `json:"ok"`
		Result any    `json:"result"`
		Error  string `json:"error"`
	}
	preview := func(bearer, body string) (int, answer) {
		r := h.do(request{Method: "POST", Path: path, Bearer: bearer, JSON: body})
		var a answer
		if r.StatusCode == http.StatusOK {
			r.json(t, &a)
		}
		return r.StatusCode, a
	}
	tests := []struct {
		name, body, wantResult, wantError string
	}{
		{"expression", `{"kind":"expression","source":"input.total * 2","input":{"total":21}}`, "42", ""},
		{"template", `{"kind":"template","source":"Order {{ input.id }} for {{ trigger.body.email }}","input":{"id":7},"trigger":{"body":{"email":"a@example.com"}}}`,
			"Order 7 for a@example.com", ""},
		{"jq projection", `{"kind":"jq","source":"{t: .total}","input":{"total":3}}`, `map[t:3]`, ""},
		{"type error", `{"kind":"expression","source":"input.total + \"x\"","input":{"total":1}}`, "", "input.total"},
		{"hostile expression times out", `{"kind":"expression","source":"let r = 1..2000; reduce(r, #acc + reduce(r, #acc + reduce(r, #acc+1,0),0),0) > 0"}`,
			"", "ran longer than"},
		{"hostile jq is stopped", `{"kind":"jq","source":"def f: [f]; f"}`, "", "jq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, a := preview(viewer, tt.body)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			if tt.wantError != "" {
				if a.OK || !strings.Contains(a.Error, tt.wantError) {
					t.Errorf("want an error with %q, got %+v", tt.wantError, a)
				}
				return
			}
			if !a.OK || strings.TrimSpace(fmtValue(a.Result)) != tt.wantResult {
				t.Errorf("want %s, got %+v", tt.wantResult, a)
			}
		})
	}
	if status, _ := preview(viewer, `{"kind":"python","source":"1"}`); status != http.StatusUnprocessableEntity {
		t.Errorf("unknown kind: %d", status)
	}
	if status, _ := preview(outsider, `{"kind":"expression","source":"1"}`); status != http.StatusNotFound {
		t.Errorf("other organization previews: %d", status)
	}
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		out := "map["
		first := true
		for k, val := range m {
			if !first {
				out += " "
			}
			first = false
			out += k + ":" + fmtValue(val)
		}
		return out + "]"
	}
	return string(b)
}

// A test run that asks for pins starts the pinned node from its pinned output, which its children get; a run that
// does not ask (every triggered run, and a manual run without pins=true) runs the node as published.
func TestTestRunUsesPinsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	owner := h.accessToken(w.users["owner"], w.orgA.ID)
	base := "/api/v1/workflows/" + wf.ID.String()
	if r := h.do(request{Method: "PUT", Path: base + "/pins/shape", Bearer: owner, JSON: `{"data":{"total":500}}`}); r.StatusCode != http.StatusOK {
		t.Fatalf("pin: %d %s", r.StatusCode, r.body)
	}
	tests := []struct {
		name, query, wantShape, wantPort string
	}{
		{"with pins", "?pins=true", `{"total":500}`, "true"},
		{"without pins", "", `{"total":1}`, "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(request{Method: "POST", Path: base + "/run" + tt.query, Bearer: owner, JSON: `{"total":1}`})
			var acc struct {
				ExecutionID string `json:"execution_id"`
			}
			r.json(t, &acc)
			h.waitExecution(owner, acc.ExecutionID, "succeeded")
			var detail struct {
				Nodes []struct {
					NodeID string          `json:"node_id"`
					Port   string          `json:"port"`
					Input  json.RawMessage `json:"input"`
					Output json.RawMessage `json:"output"`
				} `json:"nodes"`
			}
			h.do(request{Method: "GET", Path: "/api/v1/executions/" + acc.ExecutionID, Bearer: owner}).json(t, &detail)
			got := map[string]string{}
			for _, n := range detail.Nodes {
				got[n.NodeID+".output"] = strings.ReplaceAll(string(n.Output), " ", "")
				got[n.NodeID+".port"] = n.Port
				got[n.NodeID+".input"] = strings.ReplaceAll(string(n.Input), " ", "")
			}
			if got["shape.output"] != tt.wantShape || got["big.input"] != tt.wantShape || got["big.port"] != tt.wantPort {
				t.Errorf("runs: %v; want shape's output and big's input %s, big's port %s", got, tt.wantShape, tt.wantPort)
			}
		})
	}
	// The last test run is the newest manual run, with its nodes' data.
	var last struct {
		ExecutionID *string `json:"execution_id"`
		Nodes       []struct {
			NodeID string `json:"node_id"`
		} `json:"nodes"`
	}
	h.do(request{Method: "GET", Path: base + "/last-test-run", Bearer: owner}).json(t, &last)
	if last.ExecutionID == nil || len(last.Nodes) != 3 {
		t.Errorf("last test run: %+v", last)
	}
}
