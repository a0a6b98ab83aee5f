package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestTimelineMatchesTheGraphForParkedAndCutShortRuns: a run recorded as running shows "waiting" in the timeline
// while its execution waits (as the graph says), with when it resumes; once the execution is canceled it shows
// "interrupted", as the graph's caption does, never "running".
func TestTimelineMatchesTheGraphForParkedAndCutShortRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	ctx := context.Background()
	e := h.graphExecution(w, graphFlow, 50)
	ref := queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID, WorkflowID: e.WorkflowID}
	resume := time.Now().Add(5 * time.Minute)
	parked := nodeRun("big", "condition.if", engine.NodeRunning)
	parked.Output = json.RawMessage(`{"resume_at":"` + resume.UTC().Format(time.RFC3339) + `"}`)
	if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionWaiting, ResumeAt: resume,
		NodeRuns: []engine.NodeRun{nodeRun("hook", "trigger.webhook", engine.NodeSucceeded), parked}}); err != nil {
		t.Fatal(err)
	}
	check := func(wantTimeline, wantGraph string) {
		t.Helper()
		resp := h.pageAs(owner, w.orgA.ID, "GET", "/executions/"+e.ID.String(), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page: %d", resp.StatusCode)
		}
		doc := resp.doc(t)
		if got := doc.Find(`table.node-runs tr[data-node-id="big"]`).AttrOr("data-node-status", ""); got != wantTimeline {
			t.Errorf("timeline says %q, want %q", got, wantTimeline)
		}
		if got := strings.TrimSpace(doc.Find(`table.node-runs tr[data-node-id="big"] .badge`).Text()); got != wantTimeline {
			t.Errorf("timeline badge says %q, want %q", got, wantTimeline)
		}
		if got := doc.Find(`g.graph-node[data-node-id="big"] .graph-node-status`).Text(); got != wantGraph {
			t.Errorf("graph says %q, want %q", got, wantGraph)
		}
		resumes := doc.Find(`dd[data-resumes-at] time`)
		if wantTimeline == "waiting" && (resumes.AttrOr("datetime", "") != resume.UTC().Format(time.RFC3339) ||
			!strings.HasPrefix(resumes.Text(), "in ")) {
			t.Errorf("resumes at: %q %q", resumes.AttrOr("datetime", ""), resumes.Text())
		}
		if wantTimeline != "waiting" && resumes.Length() != 0 {
			t.Error("a canceled execution still says when it resumes")
		}
	}
	check("waiting", "waiting")
	if _, err := h.st.ExecutionRequestCancel(ctx, store.Actor{}, w.orgA.ID, e.ID); err != nil {
		t.Fatal(err)
	}
	check("interrupted", "interrupted")
}

// TestEditorTestRunsAreTestKind: the canvas's Test run (the API route under /ui/api/v1) makes a test run, the API's
// run a production one unless asked; the list page shows and filters the kind, and each execution's run number.
func TestEditorTestRunsAreTestKind(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.ownersWorkflow(w)
	run := func(req request) (id string, number int64) {
		t.Helper()
		var out struct {
			ExecutionID string `json:"execution_id"`
			RunNumber   int64  `json:"run_number"`
		}
		resp := h.do(req)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %d %s", req.Path, resp.StatusCode, resp.body)
		}
		resp.json(t, &out)
		return out.ExecutionID, out.RunNumber
	}
	testID, n1 := run(request{Method: "POST", Path: "/ui/api/v1/workflows/" + wf.ID.String() + "/run", JSON: `{}`,
		Cookie: h.sessionCookie(owner, w.orgA.ID)})
	prodID, n2 := run(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run", JSON: `{}`,
		Bearer: h.accessToken(owner, w.orgA.ID)})
	asTestID, n3 := run(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run?kind=test", JSON: `{}`,
		Bearer: h.accessToken(owner, w.orgA.ID)})
	if n1 != 1 || n2 != 2 || n3 != 3 {
		t.Errorf("run numbers %d %d %d, want 1 2 3", n1, n2, n3)
	}
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run?kind=retry", JSON: `{}`,
		Bearer: h.accessToken(owner, w.orgA.ID)})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"kind"`) {
		t.Errorf("kind=retry: %d %s", resp.StatusCode, resp.body)
	}

	doc := h.pageAs(owner, w.orgA.ID, "GET", "/executions?kind=test", nil).doc(t)
	rows := doc.Find("table.executions tbody tr")
	if rows.Length() != 2 || rows.Eq(0).AttrOr("data-execution-id", "") != asTestID ||
		rows.Eq(1).AttrOr("data-execution-id", "") != testID {
		t.Fatalf("kind=test lists %d rows", rows.Length())
	}
	if got := rows.Eq(1).Find("[data-run-number]").Text(); got != "#1" {
		t.Errorf("run number shown %q", got)
	}
	created := rows.Eq(1).Find("time[data-reltime]")
	if created.Text() != "just now" || !strings.HasSuffix(created.AttrOr("title", ""), "UTC") {
		t.Errorf("created %q (title %q)", created.Text(), created.AttrOr("title", ""))
	}
	var api struct {
		Items []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions?kind=production", Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &api)
	if len(api.Items) != 1 || api.Items[0].ID != prodID || api.Items[0].Kind != "production" {
		t.Errorf("kind=production: %+v", api.Items)
	}
}

// TestAuditNamesTargetsAndWrapsActionsAtDots: the audit page names a workflow and an execution by name and run
// number (the id stays in the tooltip), and offers a line break only after an action's dots.
func TestAuditNamesTargetsAndWrapsActionsAtDots(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	failed := h.ownersExecution(w, store.StatusFailed)
	resp := h.do(request{Method: "POST", Path: "/api/v1/executions/" + failed.ID.String() + "/retry", JSON: `{}`,
		Bearer: h.accessToken(owner, w.orgA.ID)})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.body)
	}
	doc := h.pageAs(owner, w.orgA.ID, "GET", "/settings/audit", nil).doc(t)
	row := doc.Find(`table.audit td[data-action="execution.retry"]`).Parent()
	if row.Length() != 1 {
		t.Fatal("no execution.retry entry")
	}
	target := row.Find("td").Eq(3)
	if got := strings.TrimSpace(target.Text()); got != "execution Owner's flow #2" {
		t.Errorf("target %q", got)
	}
	if _, err := h.st.ExecutionGet(context.Background(), w.orgA.ID, mustUUID(t, target.AttrOr("title", ""))); err != nil {
		t.Errorf("the tooltip is not the execution's id: %q", target.AttrOr("title", ""))
	}
	action := row.Find("td.audit-action")
	if action.Find("wbr").Length() != 2 || action.Find("span").First().Text() != "execution." || action.Find("code").Length() != 0 {
		t.Errorf("action cell %q", action.Text())
	}
}
