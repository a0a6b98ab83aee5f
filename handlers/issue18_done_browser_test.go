package handlers

import (
	"regexp"
	"strings"
	"testing"

	"github.com/go-rod/rod/lib/input"

	"github.com/concertmaster/concertmaster/sql/store"
)

// runnableFlow is a webhook and a transform: a test run of it succeeds with nothing but the server's own worker.
const runnableFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"shape","type":"transform.data","position":{"x":320,"y":0},"config":{"jq":"{total: .body.total}"}}],
 "edges":[{"from":"hook","to":"shape"}]}`

// TestRunGrantRunsButDoesNotEditInTheBrowser: a member (who may neither run nor edit another's workflow by role)
// opens the owner's workflow and finds no Test run; the owner grants them "run" in the editor's sharing drawer;
// the member's editor then runs a test run to success, while the canvas stays read-only (a dragged node does not
// move, Delete removes nothing, no "+" or Save) and a save sent anyway from their session is refused.
func TestRunGrantRunsButDoesNotEditInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	owner, member := w.users["owner"], w.users["member"]
	wf := h.workflowIn(w.orgA.ID, owner, "Granted", runnableFlow)
	path := "/workflows/" + wf.ID.String()

	m := h.newBrowser(t)
	m.setViewport(1440, 900)
	m.signIn(member, w.orgA.ID)
	m.open(path)
	m.waitFor(`.react-flow__node[data-id="shape"]`)
	if n := m.eval(`() => document.querySelectorAll('[data-action="test-run"], [data-action="save"]').length`).Int(); n != 0 {
		t.Fatalf("before any grant the member sees %d Test run or Save buttons: the test proves nothing", n)
	}

	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open(path)
	b.click(`[data-action="sharing"]`)
	b.waitFor(`[data-sharing-empty]`)
	b.eval(`(email) => { const s = document.querySelector("#cm-share-member");
		const o = [...s.options].find((x) => x.textContent.includes(email)); s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true})); }`, member.Email)
	b.choose(`#cm-share-permission`, "Run")
	b.click(`[data-action="share"]`)
	b.waitFor(`[data-grant="` + member.Email + `"]`)
	grant, err := h.st.WorkflowGrant(t.Context(), w.orgA.ID, wf.ID, member.ID)
	if err != nil || grant != store.PermissionRun {
		t.Fatalf("the member's stored grant: %q, %v", grant, err)
	}
	b.assertClean()

	// The member runs it.
	m.open(path)
	m.waitFor(`.react-flow__node[data-id="shape"]`)
	m.click(`[data-action="test-run"]`)
	m.fill(`[name="sample"]`, `{"total": 42}`)
	m.click(`[data-action="run-test"]`)
	m.waitFor(`.cm-runbar[data-run-status="succeeded"]`)
	m.waitFor(`.react-flow__node[data-id="shape"] [data-node-status="succeeded"]`)
	var runs struct {
		Items []struct {
			Status string `json:"status"`
			Kind   string `json:"kind"`
		} `json:"items"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions?workflow_id=" + wf.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)}).json(t, &runs)
	if len(runs.Items) != 1 || runs.Items[0].Status != "succeeded" || runs.Items[0].Kind != "test" {
		t.Errorf("executions after the member's test run: %+v, want one succeeded test run", runs.Items)
	}

	// ...but does not edit it: no Save or "+", a dragged node stays, Delete removes nothing.
	if n := m.eval(`() => document.querySelectorAll('[data-action="save"], [data-add-after], [data-action="sharing"]').length`).Int(); n != 0 {
		t.Errorf("the member with run sees %d Save, \"+\" or Sharing controls", n)
	}
	where := `() => document.querySelector('.react-flow__node[data-id="shape"]').style.transform`
	before := m.eval(where).Str()
	m.dragNodeTo("shape", 0.8, 0.8)
	m.selectNode("shape")
	m.press(input.Delete)
	if after := m.eval(where).Str(); after != before {
		t.Errorf("the member moved a node: %s → %s", before, after)
	}
	if m.eval(`() => document.querySelector('.react-flow__node[data-id="shape"]') === null`).Bool() {
		t.Error("the member deleted a node")
	}
	// A save sent from the member's session anyway is refused by the server.
	m.tolerate(regexp.MustCompile(`^console \(network\): .* status of 403 .*/ui/api/v1/workflows/` + wf.ID.String() + `$`))
	status := m.eval(`async (id) => {
		const wf = await (await fetch("/ui/api/v1/workflows/" + id, {headers: {Accept: "application/json"}})).json();
		wf.definition.nodes = wf.definition.nodes.filter((n) => n.id !== "shape");
		wf.definition.edges = [];
		const res = await fetch("/ui/api/v1/workflows/" + id, {method: "PUT", headers: {"Content-Type": "application/json", Accept: "application/json"},
			body: JSON.stringify({definition: wf.definition, version: wf.version})});
		return res.status;
	}`, wf.ID.String()).Int()
	if status != 403 {
		t.Errorf("a save from the member's session answered %d, want 403", status)
	}
	resp := h.do(request{Method: "GET", Path: "/api/v1/workflows/" + wf.ID.String(), Bearer: h.accessToken(owner, w.orgA.ID)})
	if !regexp.MustCompile(`"id":"shape"`).MatchString(resp.body) {
		t.Errorf("the workflow lost its node: %s", resp.body)
	}
	m.assertClean()
}

// TestDebugARealFailedExecutionInTheBrowser: a production run that failed in the worker (the transform refuses a
// negative total) opens from its execution page in the editor with that run's data: the canvas colours the nodes
// as the run went, the failed node's panel shows its error, and its node view shows the input it failed on.
func TestDebugARealFailedExecutionInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	owner := w.users["owner"]
	token := h.accessToken(owner, w.orgA.ID)
	wf := h.workflowIn(w.orgA.ID, owner, "Orders", browserFlow)
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/run", Bearer: token, JSON: `{"total":-3,"customer":"Ada"}`})
	var run struct {
		ID string `json:"execution_id"`
	}
	resp.json(t, &run)
	h.waitExecution(token, run.ID, "failed")

	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	b.signIn(owner, w.orgA.ID)
	b.open("/executions/" + run.ID)
	b.click(`[data-debug-in-editor]`)
	b.waitUntil(`(id) => location.pathname.startsWith("/workflows/") && location.search === "?debug=" + id`, run.ID)
	b.waitFor(`.cm-runbar[data-run-status="failed"]`)
	b.waitFor(`.react-flow__node[data-id="hook"] [data-node-status="succeeded"]`)
	b.waitFor(`.react-flow__node[data-id="shape"] [data-node-status="failed"]`)
	if b.eval(`() => document.querySelector('.react-flow__node[data-id="big"] [data-node-status="succeeded"], .react-flow__node[data-id="big"] [data-node-status="failed"]') !== null`).Bool() {
		t.Error("the node after the failed one shows as run")
	}
	b.selectNode("shape")
	b.waitUntil(`() => (document.querySelector(".cm-panel .cm-run")?.textContent ?? "").includes("the total cannot be negative")`)
	// A production run is not called a test run, in the run bar or in the node's panel.
	if r := b.eval(`() => ({bar: document.querySelector(".cm-runbar").textContent, panel: document.querySelector(".cm-panel .cm-run h3").textContent})`); strings.Contains(r.Get("bar").Str(), "Test run") || !strings.HasPrefix(r.Get("panel").Str(), "Run:") {
		t.Errorf("a production run is shown as a test run: %v", r)
	}
	b.click(`[data-action="open-nodeview"]`)
	b.waitFor(`[data-nodeview]`)
	// The output side says why there is no output.
	b.waitUntil(`() => /the node failed.*the total cannot be negative/.test(document.querySelector('[data-nodeview-side="output"]')?.textContent ?? "")`)
	b.click(`[data-nodeview-side="input"] [data-view="json"]`)
	b.waitUntil(`() => /"total":\s*-3/.test(document.querySelector('[data-nodeview-side="input"] pre')?.textContent ?? "")`)
	b.assertClean()
}
