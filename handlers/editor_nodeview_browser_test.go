package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/sql/store"
)

// recordedRun writes a finished execution of wf, of trigger kind kind, whose node runs carry data: the trigger
// delivered {"body":{"total":150,"email":…}}, shape made {"total":150}, and big failed. It stands for a run a
// worker made, so the browser tests see node data without waiting on one.
func (h *harness) recordedRun(w *world, wf store.Workflow, kind string) string {
	h.t.Helper()
	ctx := context.Background()
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	now := time.Now()
	trigger := json.RawMessage(`{"body":{"total":150,"email":"ada@example.com"},"headers":{},"query":{},"method":"MANUAL"}`)
	runs := []engine.NodeRun{
		{NodeID: "hook", Type: "trigger.webhook", Status: engine.NodeSucceeded, Attempt: 1, Output: trigger, StartedAt: now, FinishedAt: now},
		{NodeID: "shape", Type: "transform.data", Status: engine.NodeSucceeded, Attempt: 1, Input: trigger,
			Output: json.RawMessage(`{"total":150}`), StartedAt: now, FinishedAt: now},
		{NodeID: "big", Type: "condition.if", Status: engine.NodeFailed, Attempt: 1, Input: json.RawMessage(`{"total":150}`),
			Error: "boom in big", StartedAt: now, FinishedAt: now},
	}
	e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID, WorkflowID: wf.ID,
		WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: kind, TriggerData: trigger, StartRuns: runs})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID,
		WorkflowID: wf.ID}, Status: engine.ExecutionFailed, Error: "big: boom in big", FailedNodeID: "big"}); err != nil {
		h.t.Fatal(err)
	}
	return e.ID.String()
}

// openNodeView selects a node on the canvas and opens its node view.
func (b *browserSession) openNodeView(id string) {
	b.t.Helper()
	b.click(`.react-flow__node[data-id="` + id + `"]`)
	b.click(`[data-action="open-nodeview"]`)
	b.waitFor(`[data-nodeview]`)
}

// dropField drags a field of the node view's data onto an input with the mouse, as a person would: pressed on the
// field, moved in steps onto the input (the page sees real pointer events), released there.
func (b *browserSession) dropField(field, target string) {
	b.t.Helper()
	b.drag(field+" onto "+target, b.center(field), b.center(target))
}

// TestNodeViewInTheBrowser drives the node view in Chromium: a field dragged from the input table into an
// expression inserts its path and the live preview shows its value; data pinned to a node is still pinned after a
// reload; and "debug in editor" on a failed execution's page opens the editor with that execution's node data.
func TestNodeViewInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()

	t.Run("drag a field into an expression and see the preview", func(t *testing.T) {
		wf := h.ownersWorkflow(w)
		h.recordedRun(w, wf, "manual") // the last test run, loaded when the editor opens
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["owner"], w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.openNodeView("big")
		cond := `[data-nodeview] [name="config.condition"]`
		b.click(cond)
		b.step("clear the condition", func(p *rod.Page) error {
			return p.KeyActions().Press(input.ControlLeft).Type(input.KeyA).Release(input.ControlLeft).Type(input.Backspace).Do()
		})
		b.waitUntil(`(s) => document.querySelector(s).value === ""`, cond)
		b.click(`[data-nodeview-side="input"] [data-view="table"]`)
		b.dropField(`[data-nodeview-side="input"] th[data-path="input.total"]`, cond)
		b.waitUntil(`(s) => document.querySelector(s).value === "input.total"`, cond)
		b.waitUntil(`() => (document.querySelector("[data-expression-preview]")?.textContent ?? "").includes("150")`)
		b.step("type a comparison", func(p *rod.Page) error { return b.waitFor(cond).Input(" > 100") })
		b.waitUntil(`() => (document.querySelector("[data-expression-preview]")?.textContent ?? "").includes("true")`)
		b.assertClean()
	})

	t.Run("pin data, reload, still pinned", func(t *testing.T) {
		wf := h.ownersWorkflow(w)
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["owner"], w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.openNodeView("shape")
		b.click(`[data-action="edit-pin"]`)
		area := b.waitFor(`[name="pin-data"]`)
		b.step("type the pinned data", func(p *rod.Page) error {
			if err := area.SelectAllText(); err != nil {
				return err
			}
			return area.Input(`{"total": 777, "email": "pinned@example.com"}`)
		})
		b.click(`[data-action="save-pin"]`)
		b.waitFor(`[data-pinned]`)
		pins, err := h.st.NodePinList(context.Background(), w.orgA.ID, wf.ID)
		if err != nil || len(pins) != 1 || !strings.Contains(string(pins[0].Data), "777") {
			t.Fatalf("stored pins: %+v, %v", pins, err)
		}

		b.open("/workflows/" + wf.ID.String())
		b.openNodeView("shape")
		b.waitFor(`[data-nodeview-side="output"] [data-pinned]`)
		b.click(`[data-nodeview-side="output"] [data-view="json"]`)
		b.waitUntil(`() => document.querySelector('[data-nodeview-side="output"] pre').textContent.includes("pinned@example.com")`)
		// The next node's input is the pinned output until a run says otherwise.
		b.click(`[data-action="close-nodeview"]`)
		b.openNodeView("big")
		b.click(`[data-nodeview-side="input"] [data-view="json"]`)
		b.waitUntil(`() => document.querySelector('[data-nodeview-side="input"] pre').textContent.includes("777")`)
		b.assertClean()
	})

	t.Run("at 390 px the three columns are tabs", func(t *testing.T) {
		wf := h.ownersWorkflow(w)
		h.recordedRun(w, wf, "manual")
		b := h.newBrowser(t)
		b.setViewport(390, 844)
		b.signIn(w.users["owner"], w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.openNodeView("shape")
		visible := func(col string) bool {
			return b.eval(`(c) => { const el = document.querySelector(".cm-nv-col-" + c); return !!el && !el.hidden && el.offsetWidth > 0 }`, col).Bool()
		}
		if !visible("parameters") || visible("input") || visible("output") {
			t.Errorf("on a phone the node view opens on Parameters alone: input %v, parameters %v, output %v",
				visible("input"), visible("parameters"), visible("output"))
		}
		b.click(`[data-tab="output"]`)
		b.waitUntil(`() => !document.querySelector(".cm-nv-col-output").hidden`)
		b.waitFor(`[data-nodeview-side="output"] [data-view="table"]`)
		b.assertNoHorizontalScroll()
		b.assertClean()
	})

	t.Run("debug a failed execution in the editor", func(t *testing.T) {
		wf := h.ownersWorkflow(w)
		exec := h.recordedRun(w, wf, "webhook") // not a test run: only ?debug loads it
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["owner"], w.orgA.ID)
		b.open("/executions/" + exec)
		b.click(`[data-debug-in-editor]`)
		b.waitUntil(`(id) => location.search === "?debug=" + id`, exec)
		b.waitFor(`.cm-runbar[data-run-status="failed"]`)
		b.openNodeView("big")
		b.click(`[data-nodeview-side="input"] [data-view="json"]`)
		b.waitUntil(`() => document.querySelector('[data-nodeview-side="input"] pre').textContent.includes("150")`)
		b.assertClean()

		// Someone else's execution id is dropped: the editor opens without a run.
		other := h.ownersWorkflow(w)
		b.open("/workflows/" + other.ID.String() + "?debug=" + exec)
		b.waitFor(`.react-flow__node[data-id="big"]`)
		if got := b.eval(`() => document.querySelector("[data-editor]").dataset.debugExecution ?? ""`).Str(); got != "" {
			t.Errorf("an execution of another workflow was passed to the editor: %q", got)
		}
	})
}
