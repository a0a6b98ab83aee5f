package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"
	"github.com/go-rod/rod/lib/proto"
	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// pileFlow is a webhook and a chain of five transforms with a branch, every node at the same spot: a pile that
// only a layout can make readable.
const pileFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"a","type":"transform.data","position":{"x":0,"y":0},"config":{"jq":"."}},
 {"id":"b","type":"transform.data","position":{"x":0,"y":0},"config":{"jq":"."}},
 {"id":"c","type":"transform.data","position":{"x":0,"y":0},"config":{"jq":"."}},
 {"id":"d","type":"transform.data","position":{"x":0,"y":0},"config":{"jq":"."}},
 {"id":"e","type":"transform.data","position":{"x":0,"y":0},"config":{"jq":"."}}],
 "edges":[{"from":"hook","to":"a"},{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"a","to":"d"},{"from":"d","to":"e"}]}`

// workflowIn creates a workflow holding definition in org, authored by author.
func (h *harness) workflowIn(org uuid.UUID, author store.User, name, definition string) store.Workflow {
	h.t.Helper()
	wf, err := h.st.WorkflowCreate(context.Background(), store.Actor{}, store.NewWorkflow{OrganizationID: org,
		Name: name, Definition: json.RawMessage(definition), AuthorID: httpx.Ptr(author.ID)})
	if err != nil {
		h.t.Fatal(err)
	}
	return wf
}

// webhookOf makes the webhook of a workflow in org, as an editor's request or the workflow's activation does
// (opening its page does not).
func (h *harness) webhookOf(org uuid.UUID, wf store.Workflow) {
	h.t.Helper()
	if _, err := h.st.WebhookEnsure(context.Background(), store.SystemActor, h.app.WebhookKeys, org, wf.ID); err != nil {
		h.t.Fatal(err)
	}
}

// overlappingNodes lists the pairs of canvas nodes whose boxes overlap, as "a/b".
const overlappingNodes = `() => {
	const boxes = [...document.querySelectorAll(".react-flow__node")].map((n) => ({id: n.dataset.id, r: n.getBoundingClientRect()}));
	const out = [];
	for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
		const a = boxes[i].r, b = boxes[j].r;
		if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push(boxes[i].id + "/" + boxes[j].id);
	}
	return out;
}`

// TestCanvasFlagGatesTidyUpInTheBrowser: the workflow page passes the canvas's flags to the island (data-flags).
// Where editor.tidy_up is off for the organization, neither the Tidy up button nor its shortcut exists; where an
// override turns it on, Tidy up lays a pile of six nodes out in layers without overlap, parents left of their
// children, as one undo step that a save keeps.
func TestCanvasFlagGatesTidyUpInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFlags())
	w := h.newWorld()
	ctx := context.Background()
	for org, on := range map[uuid.UUID]string{w.orgA.ID: "true", w.orgB.ID: "false"} {
		if err := h.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flags.EditorTidyUp, org, json.RawMessage(on), "beta"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.srv.deps.Flags.Provider().Reload(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		wf := h.workflowIn(w.orgB.ID, w.users["outsider"], "Pile B", pileFlow)
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["outsider"], w.orgB.ID)
		b.open("/workflows/" + wf.ID.String())
		b.waitFor(`.react-flow__node[data-id="e"]`)
		if got := b.eval(`() => document.querySelector("[data-editor]").dataset.flags`).Str(); got != `{"`+flags.EditorTidyUp+`":false}` {
			t.Errorf("data-flags = %s", got)
		}
		if b.eval(`() => document.querySelector('[data-action="tidy-up"]') !== null`).Bool() {
			t.Error("the Tidy up button shows where editor.tidy_up is off")
		}
		// Nothing is focused in a field, so the shortcut would act if it existed.
		b.step("Shift+T", func(p *rod.Page) error { return p.KeyActions().Press(input.ShiftLeft).Type(input.KeyT).Do() })
		if !b.eval(`() => document.querySelector('[data-action="save"]').disabled`).Bool() {
			t.Error("Shift+T changed the graph where editor.tidy_up is off")
		}
		if sheet := b.shortcutSheet(); !strings.Contains(sheet, "Ctrl+C") || strings.Contains(sheet, "Tidy up") {
			t.Errorf("the shortcut sheet where editor.tidy_up is off: %q", sheet)
		}
		b.assertClean()
	})

	t.Run("on", func(t *testing.T) {
		t.Parallel()
		wf := h.workflowIn(w.orgA.ID, w.users["owner"], "Pile A", pileFlow)
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["owner"], w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.waitFor(`.react-flow__node[data-id="e"]`)
		if n := len(b.eval(overlappingNodes).Arr()); n == 0 {
			t.Fatal("the pile does not overlap before tidying up: the test proves nothing")
		}
		b.click(`[data-action="tidy-up"]`)
		b.waitUntil(`() => document.querySelector("[data-editor-status]").textContent.includes("Tidied up")`)
		b.waitUntil(`() => (` + overlappingNodes + `)().length === 0`)
		x := func(id string) float64 {
			return b.eval(`(id) => document.querySelector('.react-flow__node[data-id="' + id + '"]').getBoundingClientRect().left`, id).Num()
		}
		for _, e := range [][2]string{{"hook", "a"}, {"a", "b"}, {"b", "c"}, {"a", "d"}, {"d", "e"}} {
			if x(e[0]) >= x(e[1]) {
				t.Errorf("after tidying up, %s (x=%v) is not left of its child %s (x=%v)", e[0], x(e[0]), e[1], x(e[1]))
			}
		}
		// In layers: the nodes as far from the trigger share a column (the same centre), each column wholly left
		// of the next.
		// In the canvas's own coordinates (the node's translate and unscaled width), read at once: the view may
		// still be fitting itself after the layout, which moves every box on screen.
		boxes := b.eval(`() => Object.fromEntries([...document.querySelectorAll(".react-flow__node")].map((n) => {
			const x = Number(/translate\(\s*(-?[\d.]+)px/.exec(n.style.transform)[1]);
			return [n.dataset.id, [x, x + n.offsetWidth / 2, x + n.offsetWidth]];
		}))`)
		column := func(id string) [3]float64 {
			r := boxes.Get(id)
			return [3]float64{r.Get("0").Num(), r.Get("1").Num(), r.Get("2").Num()}
		}
		layers := [][]string{{"hook"}, {"a"}, {"b", "d"}, {"c", "e"}}
		for i, layer := range layers {
			for _, id := range layer[1:] {
				if c0, c := column(layer[0])[1], column(id)[1]; c < c0-1 || c > c0+1 {
					t.Errorf("after tidying up, %s (centre %v) is not in the column of %s (centre %v)", id, c, layer[0], c0)
				}
			}
			if i > 0 {
				for _, prev := range layers[i-1] {
					for _, id := range layer {
						if column(prev)[2] >= column(id)[0] {
							t.Errorf("after tidying up, layer %d's %s overlaps layer %d's %s sideways", i-1, prev, i, id)
						}
					}
				}
			}
		}
		b.click(`[data-action="save"]`)
		b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
		resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(w.users["owner"], w.orgA.ID)})
		var saved struct {
			Definition struct {
				Nodes []struct {
					ID       string `json:"id"`
					Position struct{ X, Y float64 }
				} `json:"nodes"`
			} `json:"definition"`
		}
		resp.json(t, &saved)
		spots := map[string]bool{}
		for _, n := range saved.Definition.Nodes {
			spots[fmt.Sprint(n.Position.X, ",", n.Position.Y)] = true
		}
		if len(spots) != 6 {
			t.Errorf("saved positions %+v: want six distinct spots", saved.Definition.Nodes)
		}
		// One undo step puts the pile back.
		b.click(`[data-action="undo"]`)
		b.waitUntil(`() => (` + overlappingNodes + `)().length > 0`)
		if sheet := b.shortcutSheet(); !strings.Contains(sheet, "Shift+TTidy up") {
			t.Errorf("the shortcut sheet where editor.tidy_up is on lacks Tidy up: %q", sheet)
		}
		b.assertClean()
	})
}

// clickStill clicks the element matching selector once it has stopped moving (the view may be panning to it).
func (b *browserSession) clickStill(selector string) {
	b.t.Helper()
	el := b.waitFor(selector)
	b.step("click "+selector, func(*rod.Page) error {
		if err := el.WaitStable(100 * time.Millisecond); err != nil {
			return err
		}
		return el.Click(proto.InputMouseButtonLeft, 1)
	})
}

// TestBuildFromPlusPortsInTheBrowser builds a six-node workflow with the "+" of output ports only: each opens the
// node picker, a search narrows it, Enter or a click adds the node right of its parent, connected to that port, on
// a free spot (no two nodes overlap, even for both branches of a condition), and a save stores the five edges.
func TestBuildFromPlusPortsInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.workflowIn(w.orgA.ID, w.users["owner"], "Six", `{"nodes":[{"id":"webhook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}}],"edges":[]}`)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(w.users["owner"], w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="webhook"]`)

	steps := []struct {
		from, port, query, pick, id string
		enter                       bool
		// field and value fill the new node's required field in its panel.
		field, value string
	}{
		{"webhook", "out", "transform.data", "transform.data", "data_1", true, "config.jq", "."},
		{"data_1", "out", "if", "condition.if", "if_1", false, "config.condition", "true"},
		{"if_1", "true", "transform.filter", "transform.filter", "filter_1", true, "config.condition", "true"},
		{"if_1", "false", "format", "transform.format", "format_1", false, "config.template", "x"},
		{"filter_1", "out", "transform.data", "transform.data", "data_2", true, "config.jq", "."},
	}
	for _, s := range steps {
		// Close the panel and fit the view, so the "+" is on screen.
		b.press(input.Escape)
		b.click(`[data-action="fit"]`)
		b.clickStill(`[data-add-after="` + s.from + `"][data-add-port="` + s.port + `"]`)
		b.fill("#cm-picker-search", s.query)
		if s.enter {
			b.waitUntil(`(t) => document.querySelector('.cm-picker-active[data-picker-type="' + t + '"]') !== null`, s.pick)
			b.press(input.Enter)
		} else {
			b.click(`[data-picker-type="` + s.pick + `"]`)
		}
		b.waitFor(`.react-flow__node[data-id="` + s.id + `"]`)
		b.waitUntil(`() => document.querySelector("dialog[open]") === null`)
		b.waitUntil(`(id) => document.querySelector('.cm-panel input[name="id"]')?.value === id`, s.id)
		b.fill(`[name="`+s.field+`"]`, s.value)
	}
	b.waitUntil(`() => document.querySelectorAll(".react-flow__node").length === 6`)
	if o := b.eval(overlappingNodes).Arr(); len(o) != 0 {
		t.Errorf("nodes added from ports overlap: %v", o)
	}
	b.screenshot("six-from-ports")
	b.click(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(w.users["owner"], w.orgA.ID)})
	var saved struct {
		Definition struct {
			Edges []struct{ From, Port, To string } `json:"edges"`
		} `json:"definition"`
	}
	resp.json(t, &saved)
	got := map[string]bool{}
	for _, e := range saved.Definition.Edges {
		got[e.From+"|"+e.Port+"|"+e.To] = true
	}
	for _, want := range []string{"webhook||data_1", "data_1||if_1", "if_1|true|filter_1", "if_1|false|format_1", "filter_1||data_2"} {
		if !got[want] {
			t.Errorf("saved edges %v lack %s", saved.Definition.Edges, want)
		}
	}
	b.assertClean()
}

// TestFullWindowEditorInTheBrowser: in both themes at 1440×900 and 390×844 the workflow page is the editor: the
// page does not scroll, the toolbar and the zoom controls are on screen, the config panel (docked beside the
// canvas, a bottom sheet on a phone) never covers the node it edits, a dialog opens centred, and the details
// (webhook, runs, versions) open in a drawer.
func TestFullWindowEditorInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.workflowIn(w.orgA.ID, w.users["owner"], "Wide", `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"shape","type":"transform.data","position":{"x":300,"y":0},"config":{"jq":"."}},
 {"id":"last","type":"transform.data","position":{"x":600,"y":120},"config":{"jq":"."}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"last"}]}`)
	h.webhookOf(w.orgA.ID, wf)
	for _, theme := range []string{"light", "dark"} {
		for _, size := range [][2]int{{1440, 900}, {390, 844}} {
			t.Run(fmt.Sprintf("%s-%d", theme, size[0]), func(t *testing.T) {
				t.Parallel()
				b := h.newBrowser(t)
				b.setViewport(size[0], size[1])
				b.setStoredTheme(theme)
				b.signIn(w.users["owner"], w.orgA.ID)
				b.open("/workflows/" + wf.ID.String())
				b.waitFor(`.react-flow__node[data-id="last"]`)
				checkFullWindow(t, b)
				b.assertNoHorizontalScroll()
				b.screenshot(fmt.Sprintf("editor-%s-%d", theme, size[0]))
				b.assertClean()
			})
		}
	}
}

// checkFullWindow makes the checks of TestFullWindowEditorInTheBrowser on the open workflow page.
func checkFullWindow(t *testing.T, b *browserSession) {
	t.Helper()
	frame := b.eval(`() => {
		const r = (s) => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().toJSON() : null; };
		return {scroll: document.documentElement.scrollHeight, height: innerHeight, toolbar: r(".cm-toolbar"), zoom: r(".react-flow__controls")};
	}`)
	if frame.Get("scroll").Int() > frame.Get("height").Int() {
		t.Errorf("the page scrolls: %d px tall in a %d px window", frame.Get("scroll").Int(), frame.Get("height").Int())
	}
	for _, part := range []string{"toolbar", "zoom"} {
		if box := frame.Get(part); box.Nil() || box.Get("top").Num() < 0 || box.Get("bottom").Num() > frame.Get("height").Num() {
			t.Errorf("the %s is not on screen: %v", part, box)
		}
	}

	// The panel of the rightmost node: the canvas pans so that the node shows beside or above the panel.
	b.click(".react-flow__controls-fitview")
	b.clickStill(`.react-flow__node[data-id="last"] .cm-node-name`)
	b.waitPanelBesideNode("last")
	if narrow := b.eval(`() => innerWidth < 600`).Bool(); narrow {
		sheet := b.eval(`() => { const p = document.querySelector(".cm-panel").getBoundingClientRect(), c = document.querySelector(".cm-canvas").getBoundingClientRect();
			return Math.abs(p.bottom - c.bottom) <= 1 && Math.abs(p.width - c.width) <= 1; }`)
		if !sheet.Bool() {
			t.Error("at 390 px the panel is not a bottom sheet across the canvas")
		}
		b.press(input.Escape)
		b.click(`[aria-controls="cm-more-menu"]`)
	}

	// A dialog opens centred in the window.
	b.click(`[data-action="versions"]`)
	b.waitFor("dialog[open]")
	centred := b.eval(`() => { const r = document.querySelector("dialog[open]").getBoundingClientRect();
		return Math.abs(r.left + r.width / 2 - innerWidth / 2) <= 2 && Math.abs(r.top + r.height / 2 - innerHeight / 2) <= 2; }`)
	if !centred.Bool() {
		t.Error("the Versions dialog is not centred")
	}
	b.press(input.Escape)
	b.waitUntil(`() => document.querySelector("dialog[open]") === null`)

	// The details drawer shows the webhook, on screen.
	b.click(`[data-drawer="details"]`)
	b.waitUntil(`() => { const r = document.querySelector("#webhook-url").getBoundingClientRect();
		return r.width > 0 && r.left >= 0 && r.right <= innerWidth; }`)
}

// waitPanelBesideNode waits until the config panel is open and the node it edits shows whole on the canvas,
// nowhere under the panel (the canvas pans it clear).
func (b *browserSession) waitPanelBesideNode(id string) {
	b.t.Helper()
	b.waitFor(".cm-panel")
	b.waitUntil(`(id) => {
		const n = document.querySelector('.react-flow__node[data-id="' + id + '"]').getBoundingClientRect();
		const p = document.querySelector(".cm-panel").getBoundingClientRect();
		const c = document.querySelector(".cm-canvas").getBoundingClientRect();
		const apart = n.right <= p.left || p.right <= n.left || n.bottom <= p.top || p.bottom <= n.top;
		return apart && n.left >= c.left && n.right <= c.right && n.top >= c.top && n.bottom <= c.bottom;
	}`, id)
}

// toolbarAction clicks the editor toolbar's button for action, opening the More actions menu first where the
// toolbar folds the button into it (on a phone).
func (b *browserSession) toolbarAction(action string) {
	b.t.Helper()
	b.waitFor(`[data-action="` + action + `"]`)
	if b.eval(`(a) => !!document.querySelector('#cm-more-menu [data-action="' + a + '"]')`, action).Bool() {
		b.click(`[aria-controls="cm-more-menu"]`)
	}
	b.click(`[data-action="` + action + `"]`)
}

// shortcut presses Control+key as a person would, with the editing command (copy, paste) the browser runs for it:
// headless Chromium runs editing commands only when the key event names them.
func (b *browserSession) shortcut(key, code string, keyCode int, command string) {
	b.t.Helper()
	b.step("Control+"+key, func(p *rod.Page) error {
		down := proto.InputDispatchKeyEvent{Type: proto.InputDispatchKeyEventTypeKeyDown, Modifiers: 2, Key: key, Code: code,
			WindowsVirtualKeyCode: keyCode, Commands: []string{command}}
		if err := down.Call(p); err != nil {
			return err
		}
		return proto.InputDispatchKeyEvent{Type: proto.InputDispatchKeyEventTypeKeyUp, Modifiers: 2, Key: key, Code: code,
			WindowsVirtualKeyCode: keyCode}.Call(p)
	})
}

// TestCopyNodesIntoAnotherWorkflowInTheBrowser: three nodes selected with Control+click, copied with Control+C
// onto the clipboard as definition JSON ({"nodes", "edges"}), paste with Control+V into another workflow: they keep their ids, config and the edges among
// them, land where they overlap nothing, and a save stores them.
func TestCopyNodesIntoAnotherWorkflowInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	from := h.workflowIn(w.orgA.ID, owner, "From", `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"a","type":"transform.data","position":{"x":300,"y":0},"config":{"jq":".a"}},
 {"id":"b","type":"transform.data","position":{"x":600,"y":0},"config":{"jq":".b"}},
 {"id":"c","type":"transform.data","position":{"x":900,"y":0},"config":{"jq":".c"}},
 {"id":"d","type":"transform.data","position":{"x":1200,"y":0},"config":{"jq":".d"}}],
 "edges":[{"from":"hook","to":"a"},{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"d"}]}`)
	to := h.workflowIn(w.orgA.ID, owner, "To", `{"nodes":[{"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}}],"edges":[]}`)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + from.ID.String())
	b.waitFor(`.react-flow__node[data-id="d"]`)

	b.clickStill(`.react-flow__node[data-id="a"] .cm-node-name`)
	b.step("Control+click b and c", func(p *rod.Page) error {
		if err := p.Keyboard.Press(input.ControlLeft); err != nil {
			return err
		}
		for _, id := range []string{"b", "c"} {
			el, err := p.Element(`.react-flow__node[data-id="` + id + `"] .cm-node-name`)
			if err != nil {
				return err
			}
			if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
				return err
			}
		}
		return p.Keyboard.Release(input.ControlLeft)
	})
	b.waitUntil(`() => document.querySelectorAll(".react-flow__node.selected").length === 3`)
	// What the copy puts on the clipboard, read by a listener that runs after the editor's.
	b.eval(`() => window.addEventListener("copy", (e) => { window.cmCopied = e.clipboardData.getData("text/plain"); })`)
	b.shortcut("c", "KeyC", 67, "copy")
	b.waitUntil(`() => document.querySelector("[data-editor-status]").textContent.includes("Copied 3 node")`)
	var copied struct {
		Nodes []struct {
			ID, Type string
			Config   map[string]any
		} `json:"nodes"`
		Edges []struct{ From, To string } `json:"edges"`
	}
	if err := json.Unmarshal([]byte(b.eval(`() => window.cmCopied ?? ""`).Str()), &copied); err != nil {
		t.Fatalf("the clipboard does not hold JSON: %v", err)
	}
	if fmt.Sprint(copied.Nodes) != "[{a transform.data map[jq:.a]} {b transform.data map[jq:.b]} {c transform.data map[jq:.c]}]" ||
		fmt.Sprint(copied.Edges) != "[{a b} {b c}]" {
		t.Errorf("the clipboard holds %+v: want the definition of a, b, c and their two edges", copied)
	}

	b.open("/workflows/" + to.ID.String())
	b.waitFor(`.react-flow__node[data-id="hook"]`)
	b.shortcut("v", "KeyV", 86, "paste")
	b.waitUntil(`() => document.querySelectorAll(".react-flow__node").length === 4`)
	if o := b.eval(overlappingNodes).Arr(); len(o) != 0 {
		t.Errorf("pasted nodes overlap: %v", o)
	}
	b.clickStill(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + to.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)})
	var saved struct {
		Definition struct {
			Nodes []struct {
				ID     string         `json:"id"`
				Config map[string]any `json:"config"`
			} `json:"nodes"`
			Edges []struct{ From, To string } `json:"edges"`
		} `json:"definition"`
	}
	resp.json(t, &saved)
	jq := map[string]any{}
	for _, n := range saved.Definition.Nodes {
		jq[n.ID] = n.Config["jq"]
	}
	if jq["a"] != ".a" || jq["b"] != ".b" || jq["c"] != ".c" || len(jq) != 4 {
		t.Errorf("saved nodes %+v: want hook and a, b, c with their config", saved.Definition.Nodes)
	}
	if fmt.Sprint(saved.Definition.Edges) != "[{a b} {b c}]" {
		t.Errorf("saved edges %v, want a→b and b→c", saved.Definition.Edges)
	}
	// Each editor opened loads its catalogue once: a second load, once React Flow's viewport was ready, used to
	// replace a paste made in between.
	if n := b.requestsEndingWith("/ui/api/v1/node-types"); n != 2 {
		t.Errorf("two editors opened loaded the node catalogue %d times, want 2", n)
	}
	b.assertClean()
}

// TestProblemsNameTheNodeAndFieldInTheBrowser: Validate's problems read in the canvas's words — the node's label
// and the field's label as the panel shows it, not ids and paths — and a click on one opens that node's panel with
// the field focused.
func TestProblemsNameTheNodeAndFieldInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.workflowIn(w.orgA.ID, w.users["owner"], "Broken", `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"shape","type":"transform.data","name":"Shape the order","position":{"x":300,"y":0},"config":{"jq":"{{{"}}],
 "edges":[{"from":"hook","to":"shape"}]}`)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	// Validating a broken definition is answered 422 on purpose; Chromium logs it.
	b.tolerate(regexp.MustCompile(`^console \(network\): .* status of 422 .*/ui/api/v1/workflows/validate$`))
	b.signIn(w.users["owner"], w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="shape"]`)
	b.click(`[data-action="validate"]`)
	b.click(`[data-action="problems"]`)
	item := b.waitFor(`[data-problem-node="shape"]`)
	text := b.eval(`() => document.querySelector('[data-problem-node="shape"]').textContent`).Str()
	if !strings.Contains(text, "Shape the order") || strings.Contains(text, "config.jq") {
		t.Errorf("the problem reads %q: want the node's label and no field path", text)
	}
	b.step("click the problem", func(*rod.Page) error { return item.Click(proto.InputMouseButtonLeft, 1) })
	b.waitUntil(`() => document.activeElement?.getAttribute("name") === "config.jq"`)
	label := b.eval(`() => document.querySelector('label[for="' + document.activeElement.id + '"]')?.textContent ?? ""`).Str()
	if label == "" || !strings.Contains(text, strings.TrimSpace(strings.TrimSuffix(strings.Fields(label)[0], "*"))) {
		t.Errorf("the problem %q does not name the field as its label %q does", text, label)
	}
	b.assertClean()
}

// shortcutSheet presses "?" on the canvas and returns the text of the shortcut sheet it opens, then closes it.
func (b *browserSession) shortcutSheet() string {
	b.t.Helper()
	b.step("press ?", func(p *rod.Page) error {
		for _, typ := range []proto.InputDispatchKeyEventType{proto.InputDispatchKeyEventTypeKeyDown, proto.InputDispatchKeyEventTypeKeyUp} {
			ev := proto.InputDispatchKeyEvent{Type: typ, Modifiers: 8, Key: "?", Code: "Slash", WindowsVirtualKeyCode: 191}
			if typ == proto.InputDispatchKeyEventTypeKeyDown {
				ev.Text = "?"
			}
			if err := ev.Call(p); err != nil {
				return err
			}
		}
		return nil
	})
	b.waitFor("dialog[open] [data-shortcut-sheet]")
	text := b.eval(`() => document.querySelector("[data-shortcut-sheet]").textContent`).Str()
	b.press(input.Escape)
	b.waitUntil(`() => document.querySelector("dialog[open]") === null`)
	return text
}
