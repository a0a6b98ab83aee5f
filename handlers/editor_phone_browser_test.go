package handlers

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"
)

// tapNode opens the sheet of a canvas node on a phone: it closes what is open, fits the view with the zoom
// controls' button (the toolbar's Fit view sits in its "more" menu there) and clicks the node's title once the
// view has stopped moving.
func (b *browserSession) tapNode(id string) {
	b.t.Helper()
	b.press(input.Escape)
	b.click(".react-flow__controls-fitview")
	b.eval(`() => { window.cmLastViewport = undefined; }`)
	b.waitUntil(`(id) => {
		const t = document.querySelector('.react-flow__viewport').style.transform;
		const still = window.cmLastViewport === t;
		window.cmLastViewport = t;
		const name = document.querySelector('.react-flow__node[data-id="' + id + '"] .cm-node-name');
		if (!still || !name) return false;
		const r = name.getBoundingClientRect();
		return name.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
	}`, id)
	b.clickStill(`.react-flow__node[data-id="` + id + `"] .cm-node-name`)
	b.waitFor(`.cm-panel [name="name"]`)
}

// checkSheet fails unless, on a phone, the open panel is a bottom sheet across the canvas that leaves the node it
// edits in view (after the canvas panned it clear), and nothing but data tables scrolls sideways: neither the page
// nor the sheet.
func checkSheet(t *testing.T, b *browserSession, node string) {
	t.Helper()
	b.waitUntil(`(id) => {
		const n = document.querySelector('.react-flow__node[data-id="' + id + '"]').getBoundingClientRect();
		const p = document.querySelector(".cm-panel").getBoundingClientRect();
		const c = document.querySelector(".cm-canvas").getBoundingClientRect();
		const apart = n.right <= p.left || p.right <= n.left || n.bottom <= p.top || p.bottom <= n.top;
		return apart && n.left >= c.left && n.right <= c.right && n.top >= c.top && n.bottom <= c.bottom;
	}`, node)
	got := b.eval(`() => {
		const p = document.querySelector(".cm-panel"), r = p.getBoundingClientRect(), c = document.querySelector(".cm-canvas").getBoundingClientRect();
		const wide = [...p.querySelectorAll("*")].filter((el) => {
			if (el.closest(".cm-nv-table-wrap")) return false;
			const b = el.getBoundingClientRect();
			return b.width > 0 && (b.right > r.right + 1 || b.left < r.left - 1);
		}).map((el) => el.tagName.toLowerCase() + (el.getAttribute("name") ? "[name=" + el.getAttribute("name") + "]" : "") + "." + (el.className || "")).slice(0, 8);
		return {sheet: Math.abs(r.bottom - c.bottom) <= 1 && Math.abs(r.width - c.width) <= 1,
			scrolls: p.scrollWidth > p.clientWidth + 1, wide};
	}`)
	if !got.Get("sheet").Bool() {
		t.Error("the panel is not a bottom sheet across the canvas")
	}
	if got.Get("scrolls").Bool() || len(got.Get("wide").Arr()) > 0 {
		t.Errorf("the sheet scrolls sideways or its content sticks out of it: %v", got.Get("wide"))
	}
	b.assertNoHorizontalScroll()
}

// TestEditorControlsOnAPhoneInTheBrowser runs the editor's newer controls at 390×844: a schema's enum is a select
// and headers are key/value rows in the node's bottom sheet, which never covers the node and never scrolls
// sideways; a sticky note is added, typed and coloured in view; the sharing drawer opens on screen from the "more"
// menu and grants a member "run". What each control stored is checked through the API.
func TestEditorControlsOnAPhoneInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	phone := func(t *testing.T, wfID string) *browserSession {
		b := h.newBrowser(t)
		b.setViewport(390, 844)
		b.signIn(owner, w.orgA.ID)
		b.open("/workflows/" + wfID)
		b.waitFor(`.cm-editor.cm-narrow .react-flow__node`)
		return b
	}
	definition := func(t *testing.T, wfID string, v any) {
		var out struct {
			Definition json.RawMessage `json:"definition"`
		}
		h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wfID, Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &out)
		if err := json.Unmarshal(out.Definition, v); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("selects and key-value rows in the sheet", func(t *testing.T) {
		t.Parallel()
		wf := h.workflowIn(w.orgA.ID, owner, "Phone controls", httpNodeFlow)
		b := phone(t, wf.ID.String())
		b.tapNode("call")
		checkSheet(t, b, "call")
		method := `.cm-panel select[name="config.method"]`
		if got := b.eval(`(s) => { const el = document.querySelector(s);
			return el.tagName === "SELECT" && [...el.options].some((o) => o.value === "PUT") && getComputedStyle(el).backgroundImage.includes("gradient"); }`, method); !got.Bool() {
			t.Error("the method is not a select with a chevron offering the methods")
		}
		b.choose(method, "PUT")
		b.waitUntil(`() => document.querySelector('[aria-label="Headers: name 1"]')?.value === "X-One"`)
		b.click(`[data-map-add="config.headers"]`)
		b.fill(`[aria-label="Headers: name 2"]`, "X-Two")
		b.fill(`[aria-label="Headers: value 2"]`, "{{ trigger.body.id }}")
		b.eval(`() => document.activeElement.blur()`)
		checkSheet(t, b, "call")
		b.screenshot("controls-390")
		b.clickStill(`[data-action="save"]`)
		b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
		var def struct {
			Nodes []struct {
				ID     string         `json:"id"`
				Config map[string]any `json:"config"`
			} `json:"nodes"`
		}
		definition(t, wf.ID.String(), &def)
		for _, n := range def.Nodes {
			if n.ID == "call" {
				headers, _ := json.Marshal(n.Config["headers"])
				if n.Config["method"] != "PUT" || string(headers) != `{"X-One":"1","X-Two":"{{ trigger.body.id }}"}` {
					t.Errorf("saved method %v, headers %s", n.Config["method"], headers)
				}
			}
		}
		b.assertClean()
	})

	t.Run("a sticky note", func(t *testing.T) {
		t.Parallel()
		wf := h.workflowIn(w.orgA.ID, owner, "Phone note", httpNodeFlow)
		b := phone(t, wf.ID.String())
		b.click(`[data-action="add-note"]`)
		b.waitUntil(`() => document.activeElement?.matches('[data-note="note_1"] textarea')`)
		b.fill(`[data-note="note_1"] textarea`, "Ask Ada before changing the URL")
		b.choose(`[data-note="note_1"] [aria-label="Note colour"]`, "pink")
		// The note shows whole inside the canvas, under the toolbar.
		b.waitUntil(`() => { const n = document.querySelector('.react-flow__node[data-id="note:note_1"]').getBoundingClientRect();
			const c = document.querySelector(".cm-canvas").getBoundingClientRect();
			return n.left >= c.left && n.right <= c.right && n.top >= c.top && n.bottom <= c.bottom; }`)
		b.assertNoHorizontalScroll()
		b.screenshot("note-390")
		b.clickStill(`[data-action="save"]`)
		b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
		var def struct {
			Notes []struct{ ID, Text, Color string } `json:"notes"`
		}
		definition(t, wf.ID.String(), &def)
		if len(def.Notes) != 1 || def.Notes[0].Text != "Ask Ada before changing the URL" || def.Notes[0].Color != "pink" {
			t.Errorf("saved notes %+v", def.Notes)
		}
		b.assertClean()
	})

	t.Run("the sharing drawer", func(t *testing.T) {
		t.Parallel()
		wf := h.workflowIn(w.orgA.ID, owner, "Phone sharing", httpNodeFlow)
		member := w.users["member"]
		b := phone(t, wf.ID.String())
		b.click(`[aria-controls="cm-more-menu"]`)
		b.click(`#cm-more-menu [data-action="sharing"]`)
		b.waitFor(`[data-sharing-empty]`)
		if got := b.eval(`() => { const d = document.querySelector('[data-drawer-panel="sharing"]').getBoundingClientRect();
			const c = document.querySelector(".cm-body").getBoundingClientRect();
			return d.left >= 0 && d.right <= innerWidth && d.top >= c.top && d.bottom <= innerHeight && d.width >= c.width - 1; }`).Bool(); !got {
			t.Error("the sharing drawer is not on screen across the editor")
		}
		b.assertNoHorizontalScroll()
		b.eval(`(email) => { const s = document.querySelector("#cm-share-member");
			const o = [...s.options].find((x) => x.textContent.includes(email)); s.value = o.value;
			s.dispatchEvent(new Event("change", {bubbles: true})); }`, member.Email)
		b.choose(`#cm-share-permission`, "Run")
		b.click(`[data-action="share"]`)
		b.waitFor(`[data-grant="` + member.Email + `"]`)
		b.assertNoHorizontalScroll()
		b.screenshot("sharing-390")
		var out struct {
			Items []struct{ Email, Permission string } `json:"items"`
		}
		h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String() + "/sharing", Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &out)
		if got := fmt.Sprint(out.Items); got != "[{"+member.Email+" run}]" {
			t.Errorf("grants after sharing: %s", got)
		}
		b.assertClean()
	})
}

// TestCreateCredentialByRoleInTheBrowser: "Create new…" beside a node's credential picker works for an admin, and
// for a member (who may edit the workflow but not create integrations) it is disabled with the reason beside it:
// pressing it opens nothing and asks the server nothing.
func TestCreateCredentialByRoleInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	member := w.users["member"]
	wf := h.workflowIn(w.orgA.ID, member, "Member's calls", httpNodeFlow)

	t.Run("member", func(t *testing.T) {
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(member, w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.waitFor(`.react-flow__node[data-id="call"]`)
		b.selectNode("call")
		got := b.eval(`() => { const btn = document.querySelector('.cm-panel [data-action="create-credential"]');
			const note = document.getElementById(btn.getAttribute("aria-describedby") || "");
			return {disabled: btn.disabled, note: note ? note.textContent : "", shown: !!note && note.getBoundingClientRect().height > 0}; }`)
		if !got.Get("disabled").Bool() || !got.Get("shown").Bool() || got.Get("note").Str() == "" {
			t.Fatalf("a member's Create new…: %v, want disabled with its reason shown beside it", got)
		}
		b.step("press the disabled button", func(p *rod.Page) error {
			_, err := p.Eval(`() => document.querySelector('.cm-panel [data-action="create-credential"]').click()`)
			return err
		})
		if n := b.eval(`() => document.querySelectorAll("dialog[open]").length`).Int(); n != 0 {
			t.Errorf("a member's disabled Create new… opened %d dialogs", n)
		}
		b.assertLabelled()
		b.assertClean() // no 403 in the console: nothing was asked of the server
	})

	t.Run("admin", func(t *testing.T) {
		b := h.newBrowser(t)
		b.setViewport(1440, 900)
		b.signIn(w.users["admin"], w.orgA.ID)
		b.open("/workflows/" + wf.ID.String())
		b.waitFor(`.react-flow__node[data-id="call"]`)
		b.selectNode("call")
		if n := b.eval(`() => document.querySelectorAll("[data-create-credential-denied]").length`).Int(); n != 0 {
			t.Errorf("an admin is told %d times that only admins create credentials", n)
		}
		b.click(`.cm-panel [data-action="create-credential"]:not([disabled])`)
		b.waitFor(`dialog [data-credential-form="http"]`)
		b.assertClean()
	})
}
