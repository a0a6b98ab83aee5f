package handlers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod/lib/input"
)

// httpNodeFlow is a webhook and an HTTP request whose headers hold one entry.
const httpNodeFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"call","type":"action.http","position":{"x":320,"y":0},"config":{"url":"https://api.example.com/x","headers":{"X-One":"1"}}}],
 "edges":[{"from":"hook","to":"call"}]}`

// enumFields lists the form names ("config.method", "config.response.format") of every property of a config schema
// that is a single enum value, nested objects included: each must be a <select> in the node's panel.
func enumFields(schema map[string]any) []string {
	defs, _ := schema["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok && strings.HasPrefix(ref, "#/$defs/") {
			if d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any); ok {
				return d
			}
		}
		return s
	}
	var out []string
	var walk func(s map[string]any, prefix string)
	walk = func(s map[string]any, prefix string) {
		props, _ := s["properties"].(map[string]any)
		for name, raw := range props {
			p, _ := raw.(map[string]any)
			p = resolve(p)
			if _, ok := p["enum"]; ok {
				out = append(out, prefix+"."+name)
			} else if _, ok := p["properties"].(map[string]any); ok {
				walk(p, prefix+"."+name)
			}
		}
	}
	walk(schema, "config")
	sort.Strings(out)
	return out
}

// TestEverySchemaEnumIsASelectInTheBrowser: for every node type in the catalogue whose config has enum settings,
// the node's panel shows each of them as a <select> offering the schema's values, drawn with a chevron (not as a
// text box).
func TestEverySchemaEnumIsASelectInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	var catalogue struct {
		Items []struct {
			Name         string         `json:"name"`
			ConfigSchema map[string]any `json:"config_schema"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &catalogue)
	want := map[string][]string{}
	var nodes []string
	for i, nt := range catalogue.Items {
		if f := enumFields(nt.ConfigSchema); len(f) > 0 {
			id := fmt.Sprintf("n%d", i)
			want[id] = f
			nodes = append(nodes, fmt.Sprintf(`{"id":%q,"type":%q,"position":{"x":%d,"y":%d},"config":{}}`, id, nt.Name, (i%4)*300, (i/4)*200))
		}
	}
	if len(want) < 5 || !strings.Contains(fmt.Sprint(want), "config.method") || !strings.Contains(fmt.Sprint(want), "config.body_type") {
		t.Fatalf("enum settings found: %v; want method and body type among at least five types", want)
	}
	wf := h.workflowIn(w.orgA.ID, owner, "Enums", `{"nodes":[`+strings.Join(nodes, ",")+`],"edges":[]}`)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b.waitFor(`.react-flow__node[data-id="` + id + `"]`)
		b.selectNode(id)
		got := b.eval(`(names) => names.map((n) => {
			const el = document.querySelector('.cm-panel [name="' + n + '"]');
			if (!el) return n + ": missing";
			if (el.tagName !== "SELECT") return n + ": a " + el.tagName;
			if (el.options.length < 2) return n + ": no choices";
			if (!getComputedStyle(el).backgroundImage.includes("gradient")) return n + ": no chevron";
			return "";
		}).filter(Boolean)`, want[id]).Arr()
		if len(got) > 0 {
			t.Errorf("node %s: %v", id, got)
		}
	}
	b.assertClean()
}

// TestKeyValueRowsForHeadersInTheBrowser: an HTTP node's headers are rows of name and value, not JSON: a row added
// with a name already used says which name is duplicated and changes nothing; renamed, its value (an expression)
// joins the headers, a row removed leaves them, and a save stores the object.
func TestKeyValueRowsForHeadersInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.workflowIn(w.orgA.ID, owner, "Headers", httpNodeFlow)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="call"]`)
	b.selectNode("call")
	if n := b.eval(`() => document.querySelectorAll('.cm-panel textarea[name="config.headers"], .cm-panel textarea[name="config.query"]').length`).Int(); n != 0 {
		t.Errorf("%d JSON textareas for headers or query, want rows", n)
	}
	b.waitUntil(`() => document.querySelector('[aria-label="Headers: name 1"]').value === "X-One" &&
		document.querySelector('[aria-label="Headers: value 1"]').value === "1"`)

	b.click(`[data-map-add="config.headers"]`)
	b.fill(`[aria-label="Headers: name 2"]`, "X-One")
	b.waitUntil(`() => document.querySelector('[data-field-error="config.headers"]')?.textContent.includes("Duplicate name “X-One”")`)
	b.fill(`[aria-label="Headers: name 2"]`, "X-Two")
	b.fill(`[aria-label="Headers: value 2"]`, "{{ trigger.body.id }}")
	b.waitUntil(`() => !document.querySelector('[data-field-error="config.headers"]')`)
	// A query parameter added and removed again leaves no query. (The focused value's data hints go away on blur,
	// which moves what is below: blur first, as a person's click on the next field would.)
	b.eval(`() => document.activeElement.blur()`)
	b.click(`[data-map-add="config.query"]`)
	b.fill(`[aria-label="Query parameters: name 1"]`, "page")
	b.click(`[aria-label="Remove query parameters row 1"]`)
	b.press(input.Escape)

	b.clickStill(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	var saved struct {
		Definition struct {
			Nodes []struct {
				ID     string         `json:"id"`
				Config map[string]any `json:"config"`
			} `json:"nodes"`
		} `json:"definition"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &saved)
	for _, n := range saved.Definition.Nodes {
		if n.ID != "call" {
			continue
		}
		got, _ := json.Marshal(n.Config["headers"])
		if string(got) != `{"X-One":"1","X-Two":"{{ trigger.body.id }}"}` {
			t.Errorf("saved headers %s", got)
		}
		if _, ok := n.Config["query"]; ok {
			t.Errorf("saved query %v, want none", n.Config["query"])
		}
	}
	b.assertClean()
}

// TestCreateCredentialFromTheNodeInTheBrowser: "Create new…" beside an HTTP node's credential picker opens the HTTP
// kind's form (its bearer token a password input, shown only once bearer is chosen), creates the integration
// through the API and selects it in the node, without leaving the editor; the secret never comes back.
func TestCreateCredentialFromTheNodeInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.workflowIn(w.orgA.ID, owner, "Creds", httpNodeFlow)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`.react-flow__node[data-id="call"]`)
	b.selectNode("call")
	page := b.location()

	b.click(`[data-action="create-credential"]`)
	b.waitFor(`dialog [data-credential-form="http"]`)
	if n := b.eval(`() => document.querySelectorAll('dialog [name="credential.token"]').length`).Int(); n != 0 {
		t.Errorf("the bearer token shows before bearer is chosen")
	}
	b.fill(`dialog [name="credential.name"]`, "Billing API")
	b.choose(`dialog [name="credential.auth"]`, "bearer")
	b.waitUntil(`() => document.querySelector('dialog [name="credential.token"]')?.type === "password"`)
	b.fill(`dialog [name="credential.token"]`, "sekret-token-123")
	h.remember("sekret-token-123")
	// Refused first (credentials must name their hosts): the server's message shows at its field, in the dialog.
	b.tolerate(regexp.MustCompile(`^console \(network\): .* status of 422 .*/ui/api/v1/integrations$`))
	b.click(`dialog [data-action="save-credential"]`)
	b.waitUntil(`() => document.querySelector('dialog [data-field-error="credential.allowed_hosts"]')?.textContent.includes("base_url")`)
	b.fill(`dialog [name="credential.base_url"]`, "https://billing.example.com")
	b.click(`dialog [data-action="save-credential"]`)
	b.waitUntil(`() => !document.querySelector("dialog[open]")`)
	b.waitUntil(`() => { const s = document.querySelector('.cm-panel select[name="config.integration_id"]');
		return s && s.value !== "" && s.selectedOptions[0].textContent.includes("Billing API"); }`)
	if b.location() != page {
		t.Errorf("left the editor for %s", b.location())
	}
	chosen := b.eval(`() => document.querySelector('.cm-panel select[name="config.integration_id"]').value`).Str()

	var list struct {
		Items []struct {
			ID, Name, Kind string
			HasSecrets     bool `json:"has_secrets"`
		} `json:"items"`
	}
	resp := h.do(request{Method: "GET", Path: "/api/v1/integrations", Bearer: h.accessToken(owner, w.orgA.ID)})
	resp.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != chosen || list.Items[0].Kind != "http" || !list.Items[0].HasSecrets {
		t.Errorf("integrations %+v, want the one HTTP integration %s with its secret", list.Items, chosen)
	}
	if strings.Contains(resp.body, "sekret-token-123") {
		t.Errorf("the secret came back")
	}
	b.clickStill(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	wfResp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)})
	if !strings.Contains(wfResp.body, `"integration_id":"`+chosen+`"`) {
		t.Errorf("the saved node does not use the new integration: %s", wfResp.body)
	}
	b.assertClean()
}

// TestSharingDrawerInTheBrowser: the owner grants a member "run" from the editor's sharing drawer; the member's
// editor then runs but does not edit, and offers no sharing; the owner raises the grant to edit and revokes it,
// each change through the API (what the API lists afterwards is what the drawer did).
func TestSharingDrawerInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner, member := w.users["owner"], w.users["member"]
	wf := h.workflowIn(w.orgA.ID, owner, "Shared", httpNodeFlow)
	grants := func() string {
		var out struct {
			Items []struct{ Email, Permission string } `json:"items"`
		}
		h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String() + "/sharing", Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &out)
		return fmt.Sprint(out.Items)
	}

	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.click(`[data-action="sharing"]`)
	b.waitFor(`[data-sharing-empty]`)
	b.eval(`(email) => { const s = document.querySelector("#cm-share-member");
		const o = [...s.options].find((x) => x.textContent.includes(email)); s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true})); }`, member.Email)
	b.choose(`#cm-share-permission`, "Run")
	b.click(`[data-action="share"]`)
	b.waitFor(`[data-grant="` + member.Email + `"]`)
	if got := grants(); got != "[{"+member.Email+" run}]" {
		t.Errorf("grants after sharing: %s", got)
	}

	m := h.newBrowser(t)
	m.setViewport(1440, 900)
	m.signIn(member, w.orgA.ID)
	m.open("/workflows/" + wf.ID.String())
	m.waitFor(`.react-flow__node[data-id="call"]`)
	m.waitFor(`[data-action="test-run"]`)
	if n := m.eval(`() => document.querySelectorAll('[data-action="save"], [data-action="sharing"]').length`).Int(); n != 0 {
		t.Errorf("a member with run sees %d save or sharing buttons", n)
	}
	m.assertClean()

	b.choose(`[aria-label^="Permission of"]`, "Edit")
	b.waitUntil(`() => document.querySelector("[data-sharing-message]")?.textContent.includes("may now edit")`)
	if got := grants(); got != "[{"+member.Email+" edit}]" {
		t.Errorf("grants after raising: %s", got)
	}
	b.click(`[aria-label^="Stop sharing with"]`)
	b.waitFor(`[data-sharing-empty]`)
	if got := grants(); got != "[]" {
		t.Errorf("grants after revoking: %s", got)
	}
	b.assertClean()
}

// TestStickyNotesInTheBrowser: a note stored with the workflow shows its text as text (markup in it stays letters,
// line breaks stay); N adds a note ready for typing, which takes a colour and a new size; a copied note pastes as a
// new one, Delete removes it, and a save stores the notes in the definition's notes.
func TestStickyNotesInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	wf := h.workflowIn(w.orgA.ID, owner, "Notes", `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}}],"edges":[],
 "notes":[{"id":"note_1","text":"<img src=x id=evil>\nsecond line","position":{"x":0,"y":-260},"size":{"width":240,"height":160},"color":"green"}]}`)
	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/workflows/" + wf.ID.String())
	b.waitFor(`[data-note="note_1"] [data-note-text]`)
	if got := b.eval(`() => { const el = document.querySelector('[data-note="note_1"] [data-note-text]');
		return [el.children.length, el.innerText, !!document.getElementById("evil")]; }`).Arr(); got[0].Int() != 0 ||
		got[1].Str() != "<img src=x id=evil>\nsecond line" || got[2].Bool() {
		t.Errorf("the stored note renders as %v, want its text as plain text with its line break", got)
	}

	b.waitFor(`[data-view-fitted]`) // a note added while the first view is still being fitted would be panned away
	b.press(input.KeyN)
	b.waitUntil(`() => document.activeElement?.matches('[data-note="note_2"] textarea')`)
	b.fill(`[data-note="note_2"] textarea`, "Line one\nLine <two>")
	b.choose(`[data-note="note_2"] [aria-label="Note colour"]`, "blue")
	corner := `.react-flow__node[data-id="note:note_2"] .react-flow__resize-control.handle.bottom.right`
	// The note is panned into view when it lands below it; its corner stays put once the pan is over.
	b.waitUntil(`(sel) => { const r = document.querySelector(sel)?.getBoundingClientRect();
		return r && r.bottom < innerHeight - 20 && r.right < innerWidth - 20; }`, corner)
	if err := b.waitFor(corner).WaitStable(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	from := b.center(corner)
	to := from
	to.X, to.Y = from.X+120, from.Y+60
	b.drag("the note's corner", from, to)
	b.waitUntil(`() => document.querySelector('.react-flow__node[data-id="note:note_2"]').getBoundingClientRect().width > 300`)

	// Copy note_1, paste it as note_3, then delete that.
	b.clickStill(`[data-note="note_1"] [data-note-text]`)
	b.waitUntil(`() => document.querySelectorAll(".react-flow__node.selected").length === 1`)
	b.shortcut("c", "KeyC", 67, "copy")
	b.waitUntil(`() => document.querySelector("[data-editor-status]").textContent.includes("1 note")`)
	b.shortcut("v", "KeyV", 86, "paste")
	b.waitFor(`[data-note="note_3"]`)
	b.press(input.Delete)
	b.waitUntil(`() => !document.querySelector('[data-note="note_3"]') && document.querySelectorAll("[data-note]").length === 2`)

	b.clickStill(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)
	var saved struct {
		Definition struct {
			Notes []struct {
				ID, Text, Color string
				Size            struct{ Width, Height float64 }
			} `json:"notes"`
		} `json:"definition"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &saved)
	notes := saved.Definition.Notes
	if len(notes) != 2 || notes[0].ID != "note_1" || notes[0].Text != "<img src=x id=evil>\nsecond line" || notes[0].Color != "green" {
		t.Fatalf("saved notes %+v", notes)
	}
	if n := notes[1]; n.ID != "note_2" || n.Text != "Line one\nLine <two>" || n.Color != "blue" || n.Size.Width < 300 || n.Size.Height < 190 {
		t.Errorf("the new note saved as %+v: want its text, blue, about 360×220", n)
	}
	b.assertClean()
}
