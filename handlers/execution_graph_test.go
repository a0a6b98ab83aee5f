package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// graphFlow (testdata/graph_flow.json) branches on the order total: "yes" (true) fails when the total is big, "no"
// (false) is skipped then; "after" follows "yes". No node has a position, as when a definition is made through the
// API; the trigger's name tries to inject markup. The pages package's tests draw the same workflow.
var graphFlow = func() string {
	b, err := os.ReadFile("testdata/graph_flow.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// delayFlow parks at "wait" before "after".
const delayFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","position":{"x":0,"y":0},"config":{}},
 {"id":"wait","type":"condition.delay","position":{"x":300,"y":0},"config":{"duration":"1h"}},
 {"id":"after","type":"transform.data","position":{"x":600,"y":100},"config":{"jq":"."}}],
 "edges":[{"from":"hook","to":"wait"},{"from":"wait","to":"after"}]}`

var graphFlowIDs = []string{"hook", "shape", "big", "yes", "no", "after"}

// graphExecution creates a workflow of org A's owner from definition and an execution of it for an order of total,
// still queued.
func (h *harness) graphExecution(w *world, definition string, total int) store.Execution {
	h.t.Helper()
	ctx := context.Background()
	wf, err := h.st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: w.orgA.ID,
		Name: "Graph flow", Definition: json.RawMessage(definition), AuthorID: httpx.Ptr(w.users["owner"].ID)})
	if err != nil {
		h.t.Fatal(err)
	}
	head, err := h.st.WorkflowHeadForRun(ctx, w.orgA.ID, wf.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := h.st.ExecutionCreate(ctx, store.Actor{}, store.NewExecution{OrganizationID: w.orgA.ID,
		WorkflowID: wf.ID, WorkflowVersionID: head.VersionID, Version: head.Version, TriggerKind: "manual",
		TriggerData: json.RawMessage(`{"body":{"total":` + strconv.Itoa(total) + `}}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// nodeRun is a finished run of a test node, started a second ago.
func nodeRun(id, typ string, status engine.NodeStatus) engine.NodeRun {
	now := time.Now()
	r := engine.NodeRun{NodeID: id, Type: typ, Status: status, Attempt: 1, StartedAt: now.Add(-time.Second),
		FinishedAt: now, Output: json.RawMessage(`{}`)}
	if status == engine.NodeRunning {
		r.FinishedAt = time.Time{}
	}
	return r
}

// graphStatuses reads each drawn node's data-status, failing on a node drawn twice.
func graphStatuses(t *testing.T, doc *goquery.Selection) map[string]string {
	t.Helper()
	out := map[string]string{}
	doc.Find("svg.graph g.graph-node[data-node-id]").Each(func(_ int, s *goquery.Selection) {
		id := s.AttrOr("data-node-id", "")
		if _, dup := out[id]; dup {
			t.Errorf("node %s drawn twice", id)
		}
		out[id] = s.AttrOr("data-status", "")
	})
	return out
}

func expectStatuses(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("graph has %d nodes, want %d: %v", len(got), len(want), got)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("node %s: status %q, want %q", id, got[id], st)
		}
	}
}

func TestExecutionGraphPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	ctx := context.Background()
	page := func(e store.Execution) (response, *goquery.Document) {
		t.Helper()
		resp := h.pageAs(owner, w.orgA.ID, "GET", "/executions/"+e.ID.String(), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page: %d", resp.StatusCode)
		}
		return resp, resp.doc(t)
	}

	t.Run("failed, with skipped and unrun nodes", func(t *testing.T) {
		e := h.graphExecution(w, graphFlow, 250)
		ref := queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID, WorkflowID: e.WorkflowID}
		failed := nodeRun("yes", "transform.data", engine.NodeFailed)
		failed.Error, failed.Attempt = "too big", 3
		if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionFailed,
			Error: `node "yes" failed: too big`, FailedNodeID: "yes", NodeRuns: []engine.NodeRun{
				nodeRun("hook", "trigger.webhook", engine.NodeSucceeded), nodeRun("shape", "transform.data", engine.NodeSucceeded),
				nodeRun("big", "condition.if", engine.NodeSucceeded), failed, nodeRun("no", "transform.data", engine.NodeSkipped)}}); err != nil {
			t.Fatal(err)
		}
		resp, doc := page(e)
		expectStatuses(t, graphStatuses(t, doc.Selection), map[string]string{"hook": "succeeded", "shape": "succeeded",
			"big": "succeeded", "yes": "failed", "no": "skipped", "after": "idle"})

		yes := doc.Find(`g.graph-node[data-node-id="yes"]`)
		if yes.AttrOr("data-failed-at", "") != "true" || !yes.HasClass("graph-node-failed-at") {
			t.Error("the node the execution failed at is not marked")
		}
		if n := doc.Find(`g.graph-node[data-failed-at]`).Length(); n != 1 {
			t.Errorf("%d nodes marked as failed at", n)
		}
		// Readable without colour: a glyph, words and a tooltip with status, attempts and the error.
		if got := yes.Find(".graph-node-status").Text(); got != "failed here" {
			t.Errorf("caption %q", got)
		}
		if got := yes.Find(".graph-node-glyph").Text(); got != "✗" {
			t.Errorf("glyph %q", got)
		}
		title := yes.Find("title").Text()
		for _, want := range []string{"yes · transform.data", "failed here", "3 attempts", "The execution failed here.", "Error: too big"} {
			if !strings.Contains(title, want) {
				t.Errorf("tooltip %q lacks %q", title, want)
			}
		}
		if got := doc.Find(`g.graph-node[data-node-id="after"] .graph-node-status`).Text(); got != "not run" {
			t.Errorf("after's caption %q", got)
		}

		// Every node links to its timeline entry (a node with no run, to the timeline), and the anchor exists.
		for _, id := range []string{"hook", "yes", "no"} {
			href := doc.Find(`g.graph-node[data-node-id="`+id+`"] a`).AttrOr("href", "")
			if href != "#node-run-"+id {
				t.Errorf("node %s links to %q", id, href)
			}
			if doc.Find(`tr#node-run-`+id+`[data-node-id="`+id+`"]`).Length() != 1 {
				t.Errorf("no timeline row #node-run-%s", id)
			}
		}
		if href := doc.Find(`g.graph-node[data-node-id="after"] a`).AttrOr("href", ""); href != "#execution-timeline" ||
			doc.Find("#execution-timeline").Length() != 1 {
			t.Errorf("a node without runs links to %q", href)
		}

		// Edges: one per definition edge, the ports written on them.
		if n := doc.Find("g.graph-edge").Length(); n != 5 {
			t.Errorf("%d edges", n)
		}
		for port, to := range map[string]string{"true": "yes", "false": "no"} {
			edge := doc.Find(`g.graph-edge[data-from="big"][data-to="` + to + `"]`)
			if edge.Find("text.graph-edge-label").Text() != port || edge.Find("path").AttrOr("d", "") == "" {
				t.Errorf("edge big→%s: %q", to, edge.Find("text.graph-edge-label").Text())
			}
		}
		if doc.Find(`g.graph-edge[data-from="big"][data-to="yes"]`).HasClass("graph-edge-taken") == false ||
			doc.Find(`g.graph-edge[data-from="big"][data-to="no"]`).HasClass("graph-edge-taken") {
			t.Error("the taken branch is not told apart from the skipped one")
		}

		// No position saved: the layered fallback, left to right by depth, the branches one above the other.
		x := func(id string) int {
			v, _ := strconv.Atoi(doc.Find(`g.graph-node[data-node-id="`+id+`"] rect.graph-node-box`).AttrOr("x", ""))
			return v
		}
		y := func(id string) int {
			v, _ := strconv.Atoi(doc.Find(`g.graph-node[data-node-id="`+id+`"] rect.graph-node-box`).AttrOr("y", ""))
			return v
		}
		if !(x("hook") < x("shape") && x("shape") < x("big") && x("big") < x("yes") && x("yes") == x("no") &&
			x("yes") < x("after") && y("yes") != y("no")) {
			t.Errorf("layout: hook %d shape %d big %d yes %d,%d no %d,%d after %d", x("hook"), x("shape"), x("big"),
				x("yes"), y("yes"), x("no"), y("no"), x("after"))
		}
		svg := doc.Find("svg.graph")
		if vb := strings.Fields(svg.AttrOr("viewBox", "")); len(vb) != 4 {
			t.Errorf("viewBox %q", svg.AttrOr("viewBox", ""))
		}
		if _, ok := svg.Attr("width"); ok {
			t.Error("the SVG has a fixed width: it must scale with the page")
		}

		// The trigger's name is text, never markup.
		if strings.Contains(resp.body, "<script>alert") {
			t.Error("a node name was rendered as markup")
		}
		if title := doc.Find(`g.graph-node[data-node-id="hook"] title`).Text(); !strings.Contains(title, "<script>alert(1)</script> & co (hook)") {
			t.Errorf("hook's tooltip %q", title)
		}
		if label := doc.Find(`g.graph-node[data-node-id="hook"] .graph-node-label`).Text(); !strings.HasPrefix(label, "<script>") ||
			!strings.HasSuffix(label, "…") {
			t.Errorf("hook's label %q", label)
		}

		// A failed execution offers retry from the start and from the failed node, not cancel.
		for _, from := range []string{"start", "failed"} {
			if doc.Find(`form[action="/executions/`+e.ID.String()+`/retry"] input[name="from"][value="`+from+`"]`).Length() != 1 {
				t.Errorf("no retry from %s", from)
			}
		}
		if doc.Find(`form[action="/executions/`+e.ID.String()+`/cancel"]`).Length() != 0 {
			t.Error("a finished execution offers cancel")
		}
		retry := h.pageAs(owner, w.orgA.ID, "POST", "/executions/"+e.ID.String()+"/retry", url.Values{"from": {"failed"}})
		if retry.StatusCode != http.StatusSeeOther || !strings.HasPrefix(retry.Header.Get("Location"), "/executions/") {
			t.Errorf("retry from failed: %d %s", retry.StatusCode, retry.Header.Get("Location"))
		}
	})

	t.Run("queued, then running", func(t *testing.T) {
		e := h.graphExecution(w, graphFlow, 250)
		_, doc := page(e)
		want := map[string]string{}
		for _, id := range graphFlowIDs {
			want[id] = "idle"
		}
		expectStatuses(t, graphStatuses(t, doc.Selection), want)
		if doc.Find(`form[action="/executions/`+e.ID.String()+`/cancel"]`).Length() != 1 ||
			doc.Find(`form[action="/executions/`+e.ID.String()+`/retry"]`).Length() != 0 {
			t.Error("a queued execution offers cancel only")
		}

		ref := queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID, WorkflowID: e.WorkflowID}
		if _, _, err := h.st.ExecutionStart(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		for _, r := range []engine.NodeRun{nodeRun("hook", "trigger.webhook", engine.NodeSucceeded),
			nodeRun("shape", "transform.data", engine.NodeRunning)} {
			if err := h.st.NodeRunRecord(ctx, ref, r); err != nil {
				t.Fatal(err)
			}
		}
		_, doc = page(e)
		want["hook"], want["shape"] = "succeeded", "running"
		expectStatuses(t, graphStatuses(t, doc.Selection), want)
		if got := doc.Find(`g.graph-node[data-node-id="shape"] .graph-node-glyph`).Text(); got != "▶" {
			t.Errorf("running glyph %q", got)
		}
		if doc.Find(`g.graph-node[data-failed-at]`).Length() != 0 {
			t.Error("a running execution has a failed-at node")
		}
	})

	t.Run("waiting at a delay, positions saved", func(t *testing.T) {
		e := h.graphExecution(w, delayFlow, 250)
		ref := queue.ExecutionRef{ID: e.ID, OrganizationID: w.orgA.ID, WorkflowID: e.WorkflowID}
		if _, _, err := h.st.ExecutionStart(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		resume := time.Now().Add(time.Hour).UTC()
		parked := nodeRun("wait", "condition.delay", engine.NodeRunning)
		parked.Output, _ = json.Marshal(map[string]time.Time{"resume_at": resume})
		if _, err := h.st.ExecutionComplete(ctx, queue.Completion{Execution: ref, Status: engine.ExecutionWaiting,
			ResumeAt: resume, NodeRuns: []engine.NodeRun{nodeRun("hook", "trigger.webhook", engine.NodeSucceeded), parked}}); err != nil {
			t.Fatal(err)
		}
		_, doc := page(e)
		expectStatuses(t, graphStatuses(t, doc.Selection), map[string]string{"hook": "succeeded", "wait": "waiting",
			"after": "idle"})
		if title := doc.Find(`g.graph-node[data-node-id="wait"] title`).Text(); !strings.Contains(title, "until ") {
			t.Errorf("wait's tooltip %q", title)
		}
		// The canvas positions are kept (the boxes do not overlap, so they are not spread).
		box := doc.Find(`g.graph-node[data-node-id="after"] rect.graph-node-box`)
		if box.AttrOr("x", "") != "600" || box.AttrOr("y", "") != "100" {
			t.Errorf("after drawn at %s,%s", box.AttrOr("x", ""), box.AttrOr("y", ""))
		}
	})
}

// TestExecutionGraphStreams follows a real run of a small order through the event stream: the first "timeline"
// event draws every node idle, the last every node's outcome, as a worker (and NOTIFY) reports it.
func TestExecutionGraphStreams(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	e := h.graphExecution(w, graphFlow, 50)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/executions/"+e.ID.String()+"/events", nil)
	req.AddCookie(h.sessionCookie(owner, w.orgA.ID))
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	events := readSSE(t, bufio.NewReader(stream.Body))
	parse := func(ev sseEvent) *goquery.Document {
		t.Helper()
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(ev.data))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	first := <-events
	if first.name != "timeline" {
		t.Fatalf("first event %+v", first)
	}
	want := map[string]string{}
	for _, id := range graphFlowIDs {
		want[id] = "idle"
	}
	expectStatuses(t, graphStatuses(t, parse(first).Selection), want)
	if strings.Contains(first.data, "<script>alert") {
		t.Error("the streamed graph renders a node name as markup")
	}

	h.startWorkers()
	var last sseEvent
	for ev := range events {
		if ev.name == "end" {
			if ev.data != store.StatusSucceeded {
				t.Errorf("end event %+v", ev)
			}
			break
		}
		last = ev
	}
	if ctx.Err() != nil {
		t.Fatal("no end event before the deadline")
	}
	doc := parse(last)
	got := graphStatuses(t, doc.Selection)
	expectStatuses(t, got, map[string]string{"hook": "succeeded", "shape": "succeeded", "big": "succeeded",
		"yes": "skipped", "no": "succeeded", "after": got["after"]})
	if st := got["after"]; st != "idle" && st != "skipped" {
		t.Errorf("after, past the untaken branch: %q", st)
	}
	if doc.Find(`g.graph-edge-taken[data-from="big"][data-to="no"]`).Length() != 1 {
		t.Error("the streamed graph does not show the branch taken")
	}
	if doc.Find(`g.graph-node[data-failed-at]`).Length() != 0 {
		t.Error("a succeeded execution has a failed-at node")
	}
}
