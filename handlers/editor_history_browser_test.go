package handlers

import (
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"
)

// TestCanvasUndoRedoAndDeleteInTheBrowser drives the canvas's history in Chromium: a node drag is one undo step,
// an added node another, deleting the selection a third; undo and redo go back and forth through them from the
// toolbar and from the keyboard, the buttons are enabled only when there is a step to take, and Control+S saves
// what is left.
func TestCanvasUndoRedoAndDeleteInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(w.users["owner"], w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="hook"]`)

	nodes := func() int { return b.eval(`() => document.querySelectorAll(".react-flow__node").length`).Int() }
	hookAt := func() string {
		return b.eval(`() => document.querySelector('.react-flow__node[data-id="hook"]').style.transform`).Str()
	}
	enabled := func(action string) bool {
		return !b.eval(`(a) => document.querySelector('[data-action="' + a + '"]').disabled`, action).Bool()
	}
	keys := func(what string, press ...input.Key) {
		t.Helper()
		b.step(what, func(p *rod.Page) error {
			return p.KeyActions().Press(press[:len(press)-1]...).Type(press[len(press)-1]).Do()
		})
	}
	waitNodes := func(n int) {
		t.Helper()
		b.waitUntil(`(n) => document.querySelectorAll(".react-flow__node").length === n`, n)
	}

	if nodes() != 3 || enabled("undo") || enabled("redo") || enabled("save") {
		t.Fatalf("a loaded workflow: %d nodes, undo %v, redo %v, save %v", nodes(), enabled("undo"), enabled("redo"),
			enabled("save"))
	}
	start := hookAt()

	// A drag, an added node and a deletion: three steps.
	b.dragNodeTo("hook", 0.7, 0.75)
	b.waitUntil(`(was) => document.querySelector('.react-flow__node[data-id="hook"]').style.transform !== was`, start)
	moved := hookAt()
	if !enabled("undo") || !enabled("save") {
		t.Error("after a drag, undo and save are not enabled")
	}
	b.dragToCanvas(`[data-palette-type="transform.data"]`, 0.3, 0.8)
	b.waitFor(`.react-flow__node[data-id="data_1"]`)
	b.click(`[data-action="delete"]`)
	waitNodes(3)
	b.waitUntil(`() => document.querySelector("[data-editor-status]").textContent.includes("Deleted data_1")`)

	// The keyboard: Control+Z brings the node back, Control+Shift+Z deletes it again, Control+Z once more.
	keys("undo by keyboard", input.ControlLeft, input.KeyZ)
	waitNodes(4)
	keys("redo by keyboard", input.ControlLeft, input.ShiftLeft, input.KeyZ)
	waitNodes(3)
	keys("undo by keyboard", input.ControlLeft, input.KeyZ)
	waitNodes(4)

	// The toolbar: undo the addition, then the drag, which is one step however many moves it took.
	b.click(`[data-action="undo"]`)
	waitNodes(3)
	if got := hookAt(); got != moved {
		t.Errorf("undoing the addition moved the trigger: %s, want %s", got, moved)
	}
	b.click(`[data-action="undo"]`)
	b.waitUntil(`(was) => document.querySelector('.react-flow__node[data-id="hook"]').style.transform === was`, start)
	if enabled("undo") || !enabled("redo") || enabled("save") {
		t.Errorf("back at the start: undo %v, redo %v, save %v", enabled("undo"), enabled("redo"), enabled("save"))
	}
	b.click(`[data-action="redo"]`)
	b.waitUntil(`(was) => document.querySelector('.react-flow__node[data-id="hook"]').style.transform === was`, moved)

	// Control+S saves the moved trigger as version 2; a reload shows it where it was left.
	keys("save by keyboard", input.ControlLeft, input.KeyS)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	b.waitUntil(`() => document.querySelector('[data-action="save"]').disabled`)
	// A save rounds positions to whole units.
	rounded := func(transform string) string {
		return b.eval(`(t) => t.match(/-?[\d.]+/g).slice(0, 2).map((v) => Math.round(+v)).join(",")`, transform).Str()
	}
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="hook"]`)
	if got, want := rounded(hookAt()), rounded(moved); got != want {
		t.Errorf("after a reload the trigger is at %s, want %s", got, want)
	}
	b.assertClean()
}
