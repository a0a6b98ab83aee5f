package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// branchFlow is a webhook, a condition and a node behind each of its branches.
const branchFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"big","type":"condition.if","position":{"x":300,"y":0},"config":{"condition":"input.body.total > 100"}},
 {"id":"yes","type":"transform.data","position":{"x":620,"y":-140},"config":{"jq":"{branch: \"yes\"}"}},
 {"id":"no","type":"transform.data","position":{"x":620,"y":140},"config":{"jq":"{branch: \"no\", total: .total}"}}],
 "edges":[{"from":"hook","to":"big"},{"from":"big","port":"true","to":"yes"},{"from":"big","port":"false","to":"no"}]}`

// TestPinnedBranchInTheBrowser: data pinned to a condition says which output it leaves on. Pinned on "false", the
// canvas marks the condition with a named "pinned" badge, the node behind "false" gets the pinned data as its input
// and the one behind "true" none; a test run then runs the "false" branch only, as a real run taking that branch
// would. After a reload the badge and the port are still there, and choosing "true" re-pins the same data there.
func TestPinnedBranchInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.workflowIn(w.orgA.ID, owner, "Branches", branchFlow)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())

	b.openNodeView("big")
	b.click(`[data-action="edit-pin"]`)
	b.fill(`[name="pin-data"]`, `{"total": 5}`)
	// A condition's pinned data must name its branch: the choice offers exactly the condition's outputs.
	if got := b.eval(`() => [...document.querySelector('select[name="pin-port"]').options].map((o) => o.value).join(",")`).Str(); got != "true,false" {
		t.Errorf("outputs offered for the pinned data: %q, want true,false", got)
	}
	b.choose(`select[name="pin-port"]`, "false")
	b.click(`[data-action="save-pin"]`)
	b.waitFor(`[data-nodeview-side="output"] [data-pinned][data-pinned-port="false"]`)
	b.screenshot("pinned-on-false")
	pinnedPort := func() string {
		pins, err := h.st.NodePinList(context.Background(), w.orgA.ID, wf.ID)
		if err != nil || len(pins) != 1 {
			t.Fatalf("stored pins: %+v, %v", pins, err)
		}
		return pins[0].Port
	}
	if p := pinnedPort(); p != "false" {
		t.Errorf("stored port %q, want false", p)
	}
	b.click(`[data-action="close-nodeview"]`)
	checkPinnedBadge(t, b, "big", "false")
	b.screenshot("pinned-badge")

	// The branch taken gets the pinned data as its input; the other gets nothing.
	b.openNodeViewStill("no")
	b.click(`[data-nodeview-side="input"] [data-view="json"]`)
	b.waitUntil(`() => document.querySelector('[data-nodeview-side="input"] pre')?.textContent.includes('"total": 5')`)
	b.click(`[data-action="close-nodeview"]`)
	b.openNodeViewStill("yes")
	b.waitUntil(`() => document.querySelector('[data-nodeview-side="input"]').textContent.includes("No input yet")`)
	b.click(`[data-action="close-nodeview"]`)

	// A test run follows the pinned branch: "no" runs on the pinned data, "yes" is skipped.
	b.click(`[data-action="test-run"]`)
	b.click(`dialog [data-action="run-test"]`)
	b.waitFor(`.cm-runbar[data-run-status="succeeded"]`)
	b.waitUntil(`() => document.querySelector('.cm-runbar [data-run-number]')?.textContent === "#1"`)
	b.waitFor(`.react-flow__node[data-id="no"] [data-node-status="succeeded"]`)
	b.waitFor(`.react-flow__node[data-id="yes"] [data-node-status="skipped"]`)
	execs, err := h.st.ExecutionList(context.Background(), w.orgA.ID, store.ExecutionFilter{WorkflowID: &wf.ID, Limit: 5})
	if err != nil || len(execs) != 1 {
		t.Fatalf("executions: %+v, %v", execs, err)
	}
	runs := h.nodeRunsOf(w.orgA.ID, execs[0].ID)
	if r := runs["big"]; r.Status != engine.NodeSucceeded || r.Port != "false" {
		t.Errorf("the pinned condition ran as %+v, want succeeded on false", r)
	}
	var out struct {
		Branch string  `json:"branch"`
		Total  float64 `json:"total"`
	}
	if r := runs["no"]; r.Status != engine.NodeSucceeded || json.Unmarshal(r.Output, &out) != nil || out.Branch != "no" || out.Total != 5 {
		t.Errorf("the false branch ran as %s %s, want its output from the pinned data", r.Status, r.Output)
	}
	if r := runs["yes"]; r.Status == engine.NodeSucceeded {
		t.Errorf("the true branch ran (%s) though the pinned data leaves on false", r.Status)
	}

	// Reloaded, the pin keeps its port; choosing the other output re-pins the same data there.
	b.open("/workflows/" + wf.ID.String())
	checkPinnedBadge(t, b, "big", "false")
	b.openNodeViewStill("big")
	b.waitUntil(`() => document.querySelector('select[name="pin-port"]').value === "false"`)
	b.choose(`select[name="pin-port"]`, "true")
	b.waitFor(`[data-nodeview-side="output"] [data-pinned][data-pinned-port="true"]`)
	b.waitUntil(`() => document.querySelector('.react-flow__node[data-id="big"] [data-pinned-badge]')?.dataset.pinnedBadge === "true"`)
	if p := pinnedPort(); p != "true" {
		t.Errorf("stored port after choosing true: %q", p)
	}
	b.assertClean()
}

// openNodeViewStill opens the node view of a node once the view has stopped moving (selectNode), as a panel
// opened before may have panned it.
func (b *browserSession) openNodeViewStill(id string) {
	b.t.Helper()
	b.selectNode(id)
	b.click(`[data-action="open-nodeview"]`)
	b.waitFor(`[data-nodeview]`)
}

// checkPinnedBadge fails unless the canvas node id shows a visible "pinned" badge, named for assistive technology,
// that gives the output its pinned data leaves on.
func checkPinnedBadge(t *testing.T, b *browserSession, id, port string) {
	t.Helper()
	badge := `.react-flow__node[data-id="` + id + `"] [data-pinned-badge]`
	b.waitFor(badge)
	got := b.eval(`(s) => { const el = document.querySelector(s), r = el.getBoundingClientRect();
		return {role: el.getAttribute("role"), label: el.getAttribute("aria-label") || "", text: el.textContent,
			port: el.dataset.pinnedBadge, visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility === "visible"}; }`, badge)
	if got.Get("role").Str() != "img" || !containsAll(got.Get("label").Str(), "Pinned data", "“"+port+"”") ||
		!containsAll(got.Get("text").Str(), "pinned", port) || got.Get("port").Str() != port || !got.Get("visible").Bool() {
		t.Errorf("the pinned badge of %s: %v, want a visible img named for pinned data on %q", id, got, port)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// nodeRunsOf returns the latest run of each node of an execution.
func (h *harness) nodeRunsOf(org, execution uuid.UUID) map[string]engine.NodeRun {
	h.t.Helper()
	runs, err := h.st.NodeRuns(context.Background(), org, execution)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]engine.NodeRun{}
	for _, r := range runs {
		out[r.NodeID] = r
	}
	return out
}

// TestRecentRunsInTheEditorInTheBrowser: the editor's list of recent executions (in the Test run dialog) names each
// run as the executions list does, by its run number, with its kind (test, production, retry) and a relative time.
func TestRecentRunsInTheEditorInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	first := h.finishedRun(w, wf, "webhook", store.KindProduction, nil)
	h.finishedRun(w, wf, "manual", store.KindTest, nil)
	h.finishedRun(w, wf, "webhook", store.KindRetry, &first)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(w.users["owner"], w.orgA.ID)

	rowsOf := func(rows string) string {
		return b.eval(`(rows) => [...document.querySelectorAll(rows)].map((r) =>
			r.querySelector("[data-run-number]").textContent.trim() + " " + (r.querySelector("[data-run-kind]")?.dataset.runKind ?? r.dataset.kind)
		).join(", ")`, rows).Str()
	}
	b.open("/executions?workflow_id=" + wf.ID.String())
	b.waitFor(`table.executions tr[data-execution-id]`)
	list := rowsOf(`table.executions tbody tr`)
	if list != "#3 retry, #2 test, #1 production" {
		t.Fatalf("the executions list shows %q", list)
	}

	b.open("/workflows/" + wf.ID.String())
	b.click(`[data-action="test-run"]`)
	b.waitFor(`dialog .cm-row[data-execution-id]`)
	if got := rowsOf(`dialog .cm-row[data-execution-id]`); got != list {
		t.Errorf("the editor's recent runs show %q, the executions list %q", got, list)
	}
	b.screenshot("recent-runs")
	if got := b.eval(`() => [...document.querySelectorAll("dialog .cm-row time[data-reltime]")].map((t) => t.textContent).join(",")`).Str(); got != "just now,just now,just now" {
		t.Errorf("the recent runs' times read %q, want relative times", got)
	}
	b.assertClean()
}

// finishedRun records a succeeded execution of wf of a trigger kind and run kind, as a worker would have left it.
func (h *harness) finishedRun(w *world, wf store.Workflow, trigger, kind string, retryOf *uuid.UUID) uuid.UUID {
	h.t.Helper()
	ctx := context.Background()
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now()
	data := json.RawMessage(`{"body":{"total":1},"headers":{},"query":{},"method":"POST"}`)
	e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: trigger, TriggerData: data, Kind: kind,
		RetryOf: retryOf, StartRuns: []engine.NodeRun{{NodeID: "hook", Type: "trigger.webhook", Status: engine.NodeSucceeded,
			Attempt: 1, Output: data, StartedAt: now, FinishedAt: now}}})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID,
		WorkflowID: wf.ID}, Status: engine.ExecutionSucceeded}); err != nil {
		h.t.Fatal(err)
	}
	return e.ID
}
