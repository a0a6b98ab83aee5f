package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestErrorWorkflowRunLinksToTheFailedExecution: the page of an error workflow's run, started by another
// execution's failure, links to the failed execution and names its workflow (escaped); other runs show no link.
func TestErrorWorkflowRunLinksToTheFailedExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	ctx := context.Background()
	wf, err := h.st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: w.orgA.ID, Name: "<b>Orders</b>",
		Definition: json.RawMessage(graphFlow), AuthorID: httpx.Ptr(owner.ID)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	failing, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID,
		WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual"})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := h.st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: w.orgA.ID, Name: "On failure",
		Definition: json.RawMessage(`{"nodes":[{"id":"failure","type":"trigger.error","config":{}}],"edges":[]}`),
		AuthorID:   httpx.Ptr(owner.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.WorkflowSetActive(ctx, store.Actor{}, w.orgA.ID, handler.ID, true, nil); err != nil {
		t.Fatal(err)
	}
	ref := queue.ExecutionRef{ID: failing.ID, OrganizationID: w.orgA.ID, WorkflowID: failing.WorkflowID}
	if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionFailed,
		Error: `node "big" failed: boom`, FailedNodeID: "big"}); err != nil {
		t.Fatal(err)
	}
	runs, err := h.st.ExecutionList(ctx, w.orgA.ID, store.ExecutionFilter{WorkflowID: &handler.ID})
	if err != nil || len(runs) != 1 {
		t.Fatalf("the error workflow has %d executions (%v), want 1", len(runs), err)
	}

	resp := h.pageAs(owner, w.orgA.ID, "GET", "/executions/"+runs[0].ID.String(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	doc := resp.doc(t)
	link := doc.Find("a#failed-execution")
	if href, _ := link.Attr("href"); href != "/executions/"+failing.ID.String() {
		t.Errorf("link to the failed execution: %q", href)
	}
	fact := link.Parent()
	if !strings.Contains(fact.Text(), "<b>Orders</b>") || fact.Find("b").Length() != 0 {
		t.Errorf("the failed workflow's name is not shown escaped: %q", fact.Text())
	}
	if n := h.pageAs(owner, w.orgA.ID, "GET", "/executions/"+failing.ID.String(), nil).doc(t).Find("a#failed-execution").Length(); n != 0 {
		t.Errorf("the failed execution's own page links to a failure")
	}
}
