package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestPinnedDataNamesItsPort: a pin carries the output port its data leaves on, listed back with it; a test run with
// pins refuses, naming the node, a pin on a port the node does not have (a branch renamed since), and starts once
// the pin names one of the condition's branches.
func TestPinnedDataNamesItsPort(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.workflowIn(w.orgA.ID, owner, "Branches", branchFlow)
	token := h.accessToken(owner, w.orgA.ID)
	base := "/api/v1/workflows/" + wf.ID.String()

	if r := h.do(request{Method: "PUT", Path: base + "/pins/big", Bearer: token, JSON: `{"data":{"total":5},"port":"maybe"}`}); r.StatusCode != http.StatusOK {
		t.Fatalf("pin on maybe: %d %s", r.StatusCode, r.body)
	}
	var pins struct {
		Items []struct {
			NodeID string          `json:"node_id"`
			Port   string          `json:"port"`
			Data   json.RawMessage `json:"data"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: base + "/pins", Bearer: token}).json(t, &pins)
	if len(pins.Items) != 1 || pins.Items[0].NodeID != "big" || pins.Items[0].Port != "maybe" {
		t.Errorf("pins listed: %+v", pins.Items)
	}
	run := h.do(request{Method: "POST", Path: base + "/run?kind=test&pins=true", Bearer: token, JSON: `{}`})
	var problem struct {
		Errors []struct {
			NodeID  string `json:"node_id"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if run.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a test run with a pin on a port the node lacks: %d %s", run.StatusCode, run.body)
	}
	run.json(t, &problem)
	if len(problem.Errors) != 1 || problem.Errors[0].NodeID != "big" || !strings.Contains(problem.Errors[0].Message, "“maybe”") ||
		!strings.Contains(problem.Errors[0].Message, "“true”, “false”") {
		t.Errorf("the refusal: %+v", problem.Errors)
	}

	if r := h.do(request{Method: "PUT", Path: base + "/pins/big", Bearer: token, JSON: `{"data":{"total":5},"port":"false"}`}); r.StatusCode != http.StatusOK ||
		!strings.Contains(r.body, `"port":"false"`) {
		t.Fatalf("pin on false: %d %s", r.StatusCode, r.body)
	}
	if r := h.do(request{Method: "POST", Path: base + "/run?kind=test&pins=true", Bearer: token, JSON: `{}`}); r.StatusCode != http.StatusAccepted {
		t.Errorf("a test run with the pin on false: %d %s", r.StatusCode, r.body)
	}
}
