package pages

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// graphFlow is the branching workflow the handlers' tests run (../testdata/graph_flow.json).
var graphFlow = func() string {
	b, err := os.ReadFile("../testdata/graph_flow.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

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

func TestLayeredLayout(t *testing.T) {
	t.Parallel()
	def, err := engine.ParseDefinition([]byte(graphFlow))
	if err != nil {
		t.Fatal(err)
	}
	if savedLayout(def.Nodes) != nil {
		t.Fatal("positions all 0,0 were taken as a layout")
	}
	pos := layeredLayout(def)
	at := map[string]point{}
	for i, n := range def.Nodes {
		at[n.ID] = pos[i]
	}
	col := float64(graphNodeW + graphGapX)
	for id, layer := range map[string]float64{"hook": 0, "shape": 1, "big": 2, "yes": 3, "no": 3, "after": 4} {
		if at[id].x != layer*col {
			t.Errorf("%s in column %v, want %v", id, at[id].x/col, layer)
		}
	}
	if d := at["no"].y - at["yes"].y; d < graphNodeH {
		t.Errorf("yes and no overlap: %v apart", d)
	}
	// A one-node column is centred on the tallest (two rows).
	if want := (at["yes"].y + at["no"].y) / 2; at["hook"].y != want {
		t.Errorf("hook at y %v, want %v", at["hook"].y, want)
	}
	// A node reached by two paths sits past the longer one.
	diamond := &engine.Definition{Nodes: []engine.Node{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}},
		Edges: []engine.Edge{{From: "a", To: "b"}, {From: "b", To: "c"}, {From: "a", To: "d"}, {From: "c", To: "d"}}}
	if p := layeredLayout(diamond); p[3].x != 3*col {
		t.Errorf("d in column %v", p[3].x/col)
	}
}

func TestSavedLayout(t *testing.T) {
	t.Parallel()
	nodes := func(ps ...engine.Position) []engine.Node {
		out := make([]engine.Node, len(ps))
		for i, p := range ps {
			out[i] = engine.Node{ID: strconv.Itoa(i), Position: p}
		}
		return out
	}
	// Far enough apart: kept as they are.
	if p := savedLayout(nodes(engine.Position{X: 0, Y: 0}, engine.Position{X: 300, Y: 40})); p == nil || p[1] != (point{300, 40}) {
		t.Errorf("kept %v", p)
	}
	// Close (an editor with smaller boxes): spread until the boxes here no longer overlap.
	p := savedLayout(nodes(engine.Position{X: 0, Y: 0}, engine.Position{X: 150, Y: 0}))
	if p == nil || p[1].x < graphNodeW {
		t.Errorf("spread %v", p)
	}
	// Piled up (only a few units apart): not a layout.
	if p := savedLayout(nodes(engine.Position{X: 0, Y: 0}, engine.Position{X: 10, Y: 5})); p != nil {
		t.Errorf("piled-up nodes taken as a layout: %v", p)
	}
	// One node anywhere is fine.
	if p := savedLayout(nodes(engine.Position{})); len(p) != 1 {
		t.Errorf("one node: %v", p)
	}
}

func TestGraphNodeStatus(t *testing.T) {
	t.Parallel()
	running := store.Execution{Status: store.StatusRunning}
	done := store.Execution{Status: store.StatusSucceeded}
	item := func(i int, st engine.NodeStatus) engine.NodeRun {
		r := nodeRun("each", "transform.data", st)
		r.ItemIndex = &i
		return r
	}
	cases := []struct {
		name          string
		exec          store.Execution
		runs          []engine.NodeRun
		status, label string
	}{
		{"not run", running, nil, "idle", "not run"},
		{"one success", done, []engine.NodeRun{item(0, engine.NodeSucceeded)}, "succeeded", "succeeded"},
		{"loop body all succeeded", done, []engine.NodeRun{item(0, engine.NodeSucceeded), item(1, engine.NodeSucceeded),
			item(2, engine.NodeSucceeded)}, "succeeded", "succeeded 3/3"},
		{"loop body, one failed", done, []engine.NodeRun{item(0, engine.NodeSucceeded), item(1, engine.NodeFailed),
			item(2, engine.NodeRunning)}, "failed", "failed 1/3"},
		{"loop body still running", running, []engine.NodeRun{item(0, engine.NodeSucceeded), item(1, engine.NodeRunning)},
			"running", "running 1/2"},
		{"loop body, some skipped", done, []engine.NodeRun{item(0, engine.NodeSkipped), item(1, engine.NodeSucceeded)},
			"succeeded", "succeeded 1/2"},
		{"all skipped", done, []engine.NodeRun{item(0, engine.NodeSkipped)}, "skipped", "skipped"},
		{"cut short", store.Execution{Status: store.StatusCanceled}, []engine.NodeRun{nodeRun("each", "transform.data",
			engine.NodeRunning)}, "idle", "interrupted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gn := graphNode(engine.Node{ID: "each", Type: "transform.data"}, c.runs, c.exec, false)
			if gn.Status != c.status || gn.Caption != c.label || gn.Glyph == "" {
				t.Errorf("got %q %q %q, want %q %q", gn.Status, gn.Caption, gn.Glyph, c.status, c.label)
			}
			if !strings.Contains(gn.Title, c.label) {
				t.Errorf("tooltip %q lacks %q", gn.Title, c.label)
			}
		})
	}
	loop := graphNode(engine.Node{ID: "each", Type: "transform.data"}, []engine.NodeRun{item(0, engine.NodeSucceeded),
		item(1, engine.NodeSucceeded)}, done, false)
	if !strings.Contains(loop.Title, "2 runs: 2 succeeded") || !strings.Contains(loop.Title, "in all") {
		t.Errorf("loop tooltip %q", loop.Title)
	}
}

func TestFailedNodeOf(t *testing.T) {
	t.Parallel()
	def := &engine.Definition{Nodes: []engine.Node{{ID: "a"}, {ID: "b", OnError: engine.OnErrorContinue}, {ID: "c"}}}
	failed := func(nodeID string) store.Execution {
		return store.Execution{Status: store.StatusFailed, Error: "boom", FailedNodeID: nodeID}
	}
	runs := []engine.NodeRun{nodeRun("b", "x", engine.NodeFailed), nodeRun("c", "x", engine.NodeFailed)}
	for _, c := range []struct {
		exec store.Execution
		runs []engine.NodeRun
		want string
	}{
		{failed("a"), runs, "a"},
		{failed("zz"), runs, "c"},  // a node not in the version: the failed run that stops
		{failed(""), runs, "c"},    // recorded before the failed node was stored
		{failed(""), nil, ""},      // a timeout, say
		{failed(""), runs[:1], ""}, // b continues on error: it did not stop the execution
		{store.Execution{Status: store.StatusSucceeded, FailedNodeID: "a"}, runs, ""},
	} {
		if got := failedNodeOf(def, c.exec, c.runs); got != c.want {
			t.Errorf("%s at %q: %q, want %q", c.exec.Status, c.exec.FailedNodeID, got, c.want)
		}
	}
}

func TestExecutionGraphEscapesAndEdges(t *testing.T) {
	t.Parallel()
	def := &engine.Definition{
		Nodes: []engine.Node{{ID: "a", Type: "trigger.webhook", Name: `"><script>x()</script>`},
			{ID: "b", Type: "condition.switch"}},
		Edges: []engine.Edge{{From: "a", To: "b"}, {From: "b", Port: "eu", To: "missing"}},
	}
	g := executionGraph(def, store.Execution{Status: store.StatusQueued}, nil)
	if len(g.Nodes) != 2 || len(g.Edges) != 1 {
		t.Fatalf("%d nodes, %d edges (an edge to an unknown node is left out)", len(g.Nodes), len(g.Edges))
	}
	var html strings.Builder
	if err := views.ExecutionTimeline(views.ExecutionLive{Status: "queued", Graph: g}).Render(context.Background(), &html); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html.String(), "<script>") {
		t.Errorf("a node name became markup: %s", html.String())
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Find(`g[data-node-id="a"] title`).Text(); !strings.HasPrefix(got, `"><script>x()</script> (a)`) {
		t.Errorf("title %q", got)
	}
	if n := doc.Find(`[data-node-id="b"][data-status="idle"]`).Length(); n != 1 {
		t.Errorf("b: %d idle nodes", n)
	}
}

// TestTimelineShowsBatchProgress renders the live part with the progress that batch checkpoints give: a progress
// bar at rows done of rows total, and the counts in words; without checkpoints there is no bar.
func TestTimelineShowsBatchProgress(t *testing.T) {
	t.Parallel()
	k := func(i int) *int { return &i }
	checkpoint := func(batch int, size int64) engine.NodeRun {
		out, _ := json.Marshal(engine.BatchCheckpoint{Batch: batch, Batches: 3, Size: size, Total: 2500, Unit: "rows"})
		return engine.NodeRun{NodeID: "loop", Type: "condition.loop", Status: engine.NodeSucceeded, ItemIndex: k(batch),
			Port: engine.PortBatch, Output: out, FinishedAt: time.Now()}
	}
	for name, c := range map[string]struct {
		runs []engine.NodeRun
		want string
	}{
		"two batches": {[]engine.NodeRun{checkpoint(0, 1000), checkpoint(1, 1000)}, "2000"},
		"none":        {[]engine.NodeRun{{NodeID: "loop", Type: "condition.loop", Status: engine.NodeSucceeded, ItemIndex: k(0), Port: "done"}}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			live := views.ExecutionLive{Status: "running"}
			if p := engine.ProgressOf(c.runs); p != nil {
				live.Progress = &views.ExecutionProgress{NodeID: p.NodeID, Done: p.Done, Total: p.Total, Unit: p.Unit,
					BatchesDone: p.BatchesDone, Batches: p.Batches}
			}
			var html strings.Builder
			if err := views.ExecutionTimeline(live).Render(context.Background(), &html); err != nil {
				t.Fatal(err)
			}
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(html.String()))
			if err != nil {
				t.Fatal(err)
			}
			bar := doc.Find("progress#batch-progress")
			if c.want == "" {
				if bar.Length() != 0 {
					t.Errorf("a progress bar without checkpoints")
				}
				return
			}
			if v, _ := bar.Attr("value"); v != c.want {
				t.Errorf("value %q, want %s", v, c.want)
			}
			if m, _ := bar.Attr("max"); m != "2500" {
				t.Errorf("max %q", m)
			}
			if text := strings.Join(strings.Fields(doc.Find(".batch-progress label").Text()), " "); !strings.Contains(text, "2000 of 2500 rows, 2 of 3 batches") {
				t.Errorf("label %q", text)
			}
		})
	}
}
