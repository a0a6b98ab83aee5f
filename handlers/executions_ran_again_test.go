package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
)

// TestExecutionShowsNodesThatRanAgain: a node run stored with a ran-again reason (the execution resumed after its
// worker process stopped) shows it on the execution page's timeline, with the idempotency key's promise, and in
// the API's execution detail; the other runs show nothing of it.
func TestExecutionShowsNodesThatRanAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	ctx := context.Background()
	e := h.graphExecution(w, graphFlow, 50)
	ref := queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID, WorkflowID: e.WorkflowID}
	again := nodeRun("no", "transform.data", engine.NodeSucceeded)
	again.RanAgain = queue.ResumedWorkerStopped
	if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionSucceeded,
		NodeRuns: []engine.NodeRun{nodeRun("hook", "trigger.webhook", engine.NodeSucceeded),
			nodeRun("shape", "transform.data", engine.NodeSucceeded), nodeRun("big", "condition.if", engine.NodeSucceeded),
			nodeRun("yes", "transform.data", engine.NodeSkipped), again}}); err != nil {
		t.Fatal(err)
	}

	resp := h.pageAs(owner, w.orgA.ID, "GET", "/executions/"+e.ID.String(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	doc := resp.doc(t)
	want := "ran again — " + queue.ResumedWorkerStopped + "; its side effects carried the same idempotency key"
	if got := strings.Join(strings.Fields(doc.Find(`table.node-runs tr[data-node-id="no"] .ran-again`).Text()), " "); got != want {
		t.Errorf("the node that ran again says %q, want %q", got, want)
	}
	if n := doc.Find(`table.node-runs .ran-again`).Length(); n != 1 {
		t.Errorf("%d timeline rows say they ran again, want 1", n)
	}

	var detail struct {
		Nodes []struct {
			NodeID   string  `json:"node_id"`
			RanAgain *string `json:"ran_again"`
		} `json:"nodes"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + e.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &detail)
	if len(detail.Nodes) != 5 {
		t.Fatalf("the API shows %d node runs, want 5", len(detail.Nodes))
	}
	for _, n := range detail.Nodes {
		switch {
		case n.NodeID == "no" && (n.RanAgain == nil || *n.RanAgain != queue.ResumedWorkerStopped):
			t.Errorf("the API's run of %s has ran_again %v, want %q", n.NodeID, n.RanAgain, queue.ResumedWorkerStopped)
		case n.NodeID != "no" && n.RanAgain != nil:
			t.Errorf("the API's run of %s has ran_again %q, want none", n.NodeID, *n.RanAgain)
		}
	}
}
