package pages

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// The execution page draws the workflow version an execution ran as an SVG made here, in Go: the layout is plain
// arithmetic over the definition, the page needs no script for it, and each "timeline" event carries it redrawn.
// Sizes are SVG user units; the viewBox scales the drawing to the page.
const (
	graphNodeW   = 196
	graphNodeH   = 72
	graphGapX    = 80 // between layers: room for an arrow and its port label
	graphGapY    = 28
	graphPadding = 16
	// graphMaxStretch is how far saved positions may be spread apart to stop boxes overlapping; past it the
	// positions say little (nodes piled up, as a definition made through the API has them) and layers are drawn.
	graphMaxStretch = 3.0
	// graphStretchLimit bounds the pairwise overlap check; bigger graphs keep their saved positions as they are.
	graphStretchLimit = 300
	graphLabelRunes   = 16
	graphTitleErrRune = 200
)

// The statuses a graph node shows: the node-run statuses, plus idle (no run yet) and waiting (a parked delay).
const (
	graphIdle      = "idle"
	graphRunning   = string(engine.NodeRunning)
	graphWaiting   = "waiting"
	graphSucceeded = string(engine.NodeSucceeded)
	graphFailed    = string(engine.NodeFailed)
	graphSkipped   = string(engine.NodeSkipped)
)

// graphGlyphs show a node's status without relying on colour.
var graphGlyphs = map[string]string{graphIdle: "○", graphRunning: "▶", graphWaiting: "◔", graphSucceeded: "✓",
	graphFailed: "✗", graphSkipped: "–"}

// graphNodeID is the engine's node id pattern: only such an id becomes part of an anchor.
var graphNodeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// timelineAnchor is the id of a node's first row in the timeline, which its box in the graph links to.
func timelineAnchor(nodeID string) string {
	if !graphNodeID.MatchString(nodeID) {
		return ""
	}
	return "node-run-" + nodeID
}

// graphDefinition is the definition of the version an execution pinned, from the plan cache when it compiles (the
// usual case, shared with the workers) and parsed afresh otherwise. A definition that cannot even be parsed is
// drawn as nothing rather than failing the page.
func (s *Handlers) graphDefinition(ctx context.Context, versionID uuid.UUID) (*engine.Definition, error) {
	if plan, err := s.deps.Plans.Load(ctx, versionID); err == nil {
		return plan.Definition(), nil
	}
	raw, err := s.deps.Store.WorkflowDefinition(ctx, versionID)
	if err != nil {
		return nil, err
	}
	def, err := engine.ParseDefinition(raw)
	if err != nil {
		return &engine.Definition{}, nil
	}
	return def, nil
}

// executionGraph lays out def and colours each node by its runs in exec.
func executionGraph(def *engine.Definition, exec store.Execution, runs []engine.NodeRun) views.ExecutionGraph {
	g := views.ExecutionGraph{FailedAt: failedNodeOf(def, exec, runs)}
	if def == nil || len(def.Nodes) == 0 {
		return g
	}
	pos := savedLayout(def.Nodes)
	if pos == nil {
		pos = layeredLayout(def)
	}
	byNode := map[string][]engine.NodeRun{}
	for _, r := range runs {
		byNode[r.NodeID] = append(byNode[r.NodeID], r)
	}
	status := make(map[string]string, len(def.Nodes))
	index := make(map[string]int, len(def.Nodes))
	for i, n := range def.Nodes {
		index[n.ID] = i
		gn := graphNode(n, byNode[n.ID], exec, n.ID == g.FailedAt)
		gn.X, gn.Y, gn.W, gn.H = int(math.Round(pos[i].x)), int(math.Round(pos[i].y)), graphNodeW, graphNodeH
		status[n.ID] = gn.Status
		g.Nodes = append(g.Nodes, gn)
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	grow := func(x, y float64) {
		minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
	}
	for _, n := range g.Nodes {
		grow(float64(n.X), float64(n.Y))
		grow(float64(n.X+n.W), float64(n.Y+n.H))
	}
	for _, e := range def.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 {
			continue
		}
		ge := graphEdge(g.Nodes[from], g.Nodes[to])
		ge.From, ge.To, ge.Port = e.From, e.To, e.Port
		ge.Taken = ran(status[e.From]) && ran(status[e.To])
		if ge.Port != "" {
			// A label is about 7 units a letter wide, centred on its point.
			half := float64(utf8.RuneCountInString(ge.Port)) * 3.5
			grow(float64(ge.LabelX)-half, float64(ge.LabelY)-12)
			grow(float64(ge.LabelX)+half, float64(ge.LabelY)+4)
		}
		g.Edges = append(g.Edges, ge)
	}
	minX, minY = math.Floor(minX)-graphPadding, math.Floor(minY)-graphPadding
	maxX, maxY = math.Ceil(maxX)+graphPadding, math.Ceil(maxY)+graphPadding
	g.ViewBox = fmt.Sprintf("%d %d %d %d", int(minX), int(minY), int(maxX-minX), int(maxY-minY))
	return g
}

// ran reports whether a node's graph status means it ran (or runs).
func ran(status string) bool {
	return status == graphSucceeded || status == graphFailed || status == graphRunning || status == graphWaiting
}

type point struct{ x, y float64 }

// savedLayout returns the canvas positions of the nodes (top left corners), spread apart when the boxes drawn here
// would overlap, or nil when the positions say nothing: all the same (a definition made through the API), or so
// close together that spreading them far enough would distort the drawing.
func savedLayout(nodes []engine.Node) []point {
	pos := make([]point, len(nodes))
	same := true
	for i, n := range nodes {
		pos[i] = point{n.Position.X, n.Position.Y}
		if pos[i] != pos[0] {
			same = false
		}
		if math.IsNaN(pos[i].x) || math.IsInf(pos[i].x, 0) || math.IsNaN(pos[i].y) || math.IsInf(pos[i].y, 0) {
			return nil
		}
	}
	if len(nodes) > 1 && same {
		return nil
	}
	if len(nodes) > graphStretchLimit {
		return pos
	}
	// The stretch a pair needs is the smaller of the stretches that would separate it horizontally or vertically.
	stretch := 1.0
	for i := range pos {
		for j := i + 1; j < len(pos); j++ {
			need := min(apart(pos[i].x, pos[j].x, graphNodeW+graphGapY), apart(pos[i].y, pos[j].y, graphNodeH+graphGapY))
			stretch = max(stretch, need)
		}
	}
	if stretch > graphMaxStretch {
		return nil
	}
	for i := range pos {
		pos[i] = point{pos[i].x * stretch, pos[i].y * stretch}
	}
	return pos
}

// apart is the factor by which the distance between a and b must grow to reach gap (+Inf for no distance).
func apart(a, b, gap float64) float64 {
	d := math.Abs(a - b)
	if d >= gap {
		return 1
	}
	if d == 0 {
		return math.Inf(1)
	}
	return gap / d
}

// layeredLayout places the nodes left to right by depth from the trigger (the longest path from a node without
// parents), each layer a column centred on the tallest one, ordered to follow their parents (one barycentre pass),
// which keeps most arrows from crossing. A cycle (invalid, so never stored) only stacks its nodes in a last layer.
func layeredLayout(def *engine.Definition) []point {
	n := len(def.Nodes)
	index := make(map[string]int, n)
	for i, nd := range def.Nodes {
		index[nd.ID] = i
	}
	parents, children := make([][]int, n), make([][]int, n)
	indegree := make([]int, n)
	for _, e := range def.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 || from == to || slices.Contains(children[from], to) {
			continue
		}
		children[from] = append(children[from], to)
		parents[to] = append(parents[to], from)
		indegree[to]++
	}
	layer := make([]int, n)
	placed := make([]bool, n)
	var queue []int
	for i := range n {
		if indegree[i] == 0 {
			queue = append(queue, i)
		}
	}
	deepest := 0
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		placed[i] = true
		deepest = max(deepest, layer[i])
		for _, c := range children[i] {
			layer[c] = max(layer[c], layer[i]+1)
			if indegree[c]--; indegree[c] == 0 {
				queue = append(queue, c)
			}
		}
	}
	for i := range n {
		if !placed[i] {
			layer[i] = deepest + 1
		}
	}
	columns := map[int][]int{}
	last := 0
	for i := range n {
		columns[layer[i]] = append(columns[layer[i]], i)
		last = max(last, layer[i])
	}
	row := make([]float64, n)
	tallest := 0
	for l := 0; l <= last; l++ {
		col := columns[l]
		bary := func(i int) float64 {
			if len(parents[i]) == 0 {
				return float64(i)
			}
			sum := 0.0
			for _, p := range parents[i] {
				sum += row[p]
			}
			return sum / float64(len(parents[i]))
		}
		if l > 0 {
			slices.SortStableFunc(col, func(a, b int) int {
				ba, bb := bary(a), bary(b)
				switch {
				case ba < bb:
					return -1
				case ba > bb:
					return 1
				}
				return 0
			})
		}
		for r, i := range col {
			row[i] = float64(r)
		}
		tallest = max(tallest, len(col))
	}
	pos := make([]point, n)
	for l := 0; l <= last; l++ {
		col := columns[l]
		offset := float64(tallest-len(col)) * (graphNodeH + graphGapY) / 2
		for r, i := range col {
			pos[i] = point{float64(l) * (graphNodeW + graphGapX), offset + float64(r)*(graphNodeH+graphGapY)}
		}
	}
	return pos
}

// graphEdge draws an arrow between two boxes as a cubic curve, leaving and entering by the sides facing each other:
// left to right for a mostly horizontal pair (the layered layout's only kind), top to bottom otherwise.
func graphEdge(from, to views.GraphNode) views.GraphEdge {
	fcx, fcy := float64(from.X)+float64(from.W)/2, float64(from.Y)+float64(from.H)/2
	tcx, tcy := float64(to.X)+float64(to.W)/2, float64(to.Y)+float64(to.H)/2
	dx, dy := tcx-fcx, tcy-fcy
	var p0, p1, p2, p3 point
	if math.Abs(dx)*float64(from.H) >= math.Abs(dy)*float64(from.W) {
		side := math.Copysign(1, dx)
		p0 = point{fcx + side*float64(from.W)/2, fcy}
		p3 = point{tcx - side*float64(to.W)/2, tcy}
		c := max(24, math.Abs(p3.x-p0.x)/2)
		p1, p2 = point{p0.x + side*c, p0.y}, point{p3.x - side*c, p3.y}
	} else {
		side := math.Copysign(1, dy)
		p0 = point{fcx, fcy + side*float64(from.H)/2}
		p3 = point{tcx, tcy - side*float64(to.H)/2}
		c := max(24, math.Abs(p3.y-p0.y)/2)
		p1, p2 = point{p0.x, p0.y + side*c}, point{p3.x, p3.y - side*c}
	}
	// The curve's midpoint (t = ½) carries the port label, just above the line.
	mx := (p0.x + 3*p1.x + 3*p2.x + p3.x) / 8
	my := (p0.y + 3*p1.y + 3*p2.y + p3.y) / 8
	return views.GraphEdge{
		Path: fmt.Sprintf("M%s %s C%s %s %s %s %s %s", num(p0.x), num(p0.y), num(p1.x), num(p1.y), num(p2.x),
			num(p2.y), num(p3.x), num(p3.y)),
		LabelX: int(math.Round(mx)), LabelY: int(math.Round(my - 5)),
	}
}

// num writes a coordinate with at most one decimal.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// graphNode is one node's box: its status aggregated over its runs (a loop body runs once per item) as colour
// class, glyph, caption and tooltip.
func graphNode(n engine.Node, runs []engine.NodeRun, exec store.Execution, failedAt bool) views.GraphNode {
	name := n.Name
	if strings.TrimSpace(name) == "" {
		name = n.ID
	}
	gn := views.GraphNode{ID: n.ID, Name: name, Label: shorten(name, graphLabelRunes), Type: n.Type,
		FailedAt: failedAt, Href: "#execution-timeline"}
	if a := timelineAnchor(n.ID); a != "" && len(runs) > 0 {
		gn.Href = "#" + a
	}
	t := tallyRuns(runs)
	final := httpx.FinalStatus(exec.Status)
	var count int
	switch {
	case len(runs) == 0:
		gn.Status = graphIdle
	case t.counts[engine.NodeFailed] > 0:
		gn.Status, count = graphFailed, t.counts[engine.NodeFailed]
	case t.counts[engine.NodeRunning] > 0 && final:
		// A run left "running" by an execution that has finished was cut short (canceled, or a crashed worker).
		gn.Status, count = graphIdle, t.counts[engine.NodeRunning]
	case t.counts[engine.NodeRunning] > 0 && (!t.resumeAt.IsZero() || exec.Status == store.StatusWaiting):
		gn.Status, count = graphWaiting, t.counts[engine.NodeRunning]
	case t.counts[engine.NodeRunning] > 0:
		gn.Status, count = graphRunning, t.counts[engine.NodeRunning]
	case t.counts[engine.NodeSucceeded] > 0:
		gn.Status, count = graphSucceeded, t.counts[engine.NodeSucceeded]
	default:
		gn.Status, count = graphSkipped, t.counts[engine.NodeSkipped]
	}
	gn.Glyph = graphGlyphs[gn.Status]
	gn.Caption = gn.Status
	switch {
	case len(runs) == 0:
		gn.Caption = "not run"
	case gn.Status == graphIdle:
		gn.Caption = "interrupted"
	case failedAt && gn.Status == graphFailed:
		gn.Caption = "failed here"
	}
	if len(runs) > 1 {
		gn.Caption += fmt.Sprintf(" %d/%d", count, len(runs))
	}

	gn.Title = graphTitle(n, name, gn, t, len(runs), failedAt)
	return gn
}

// runTally sums up a node's runs for its box in the graph.
type runTally struct {
	counts      map[engine.NodeStatus]int
	attempts    int
	first, last time.Time
	allFinished bool
	resumeAt    time.Time
	errText     string
}

func tallyRuns(runs []engine.NodeRun) runTally {
	t := runTally{counts: map[engine.NodeStatus]int{}, allFinished: true}
	for _, r := range runs {
		t.counts[r.Status]++
		t.attempts = max(t.attempts, r.Attempt)
		if !r.StartedAt.IsZero() && (t.first.IsZero() || r.StartedAt.Before(t.first)) {
			t.first = r.StartedAt
		}
		if r.FinishedAt.IsZero() || r.Status == engine.NodeRunning {
			t.allFinished = false
		} else if r.FinishedAt.After(t.last) {
			t.last = r.FinishedAt
		}
		if r.Status == engine.NodeRunning {
			var parked struct {
				ResumeAt time.Time `json:"resume_at"`
			}
			if json.Unmarshal(r.Output, &parked) == nil && !parked.ResumeAt.IsZero() {
				t.resumeAt = parked.ResumeAt
			}
		}
		if r.Status == engine.NodeFailed && t.errText == "" {
			t.errText = r.Error
		}
	}
	return t
}

// graphTitle is a node's tooltip: "Name (id) · type", then the status line, then the error.
func graphTitle(n engine.Node, name string, gn views.GraphNode, t runTally, runs int, failedAt bool) string {
	title := []string{name}
	if name != n.ID {
		title[0] += " (" + n.ID + ")"
	}
	title[0] += " · " + n.Type
	line := []string{gn.Caption}
	if runs > 1 {
		var parts []string
		for _, st := range []engine.NodeStatus{engine.NodeSucceeded, engine.NodeFailed, engine.NodeRunning, engine.NodeSkipped} {
			if t.counts[st] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", t.counts[st], st))
			}
		}
		line = append(line, fmt.Sprintf("%d runs: %s", runs, strings.Join(parts, ", ")))
	}
	if t.attempts > 0 {
		word := "attempts"
		if t.attempts == 1 {
			word = "attempt"
		}
		if runs > 1 && t.attempts > 1 {
			line = append(line, fmt.Sprintf("up to %d %s", t.attempts, word))
		} else {
			line = append(line, fmt.Sprintf("%d %s", t.attempts, word))
		}
	}
	if t.allFinished && !t.first.IsZero() && !t.last.IsZero() {
		d := durationText(t.last.Sub(t.first))
		if runs > 1 {
			d += " in all"
		}
		line = append(line, d)
	}
	if gn.Status == graphWaiting && !t.resumeAt.IsZero() {
		line = append(line, "until "+views.Stamp(t.resumeAt))
	}
	title = append(title, strings.Join(line, " · "))
	if failedAt {
		title = append(title, "The execution failed here.")
	}
	if t.errText != "" {
		title = append(title, "Error: "+shorten(t.errText, graphTitleErrRune))
	}
	return strings.Join(title, "\n")
}

// shorten cuts s to at most n runes, ending with an ellipsis when it cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// failedNodeOf is the node a failed execution stopped at: the one the engine reported, else (an execution recorded
// before it was stored) the last failed run of a node that stops the execution on error. "" when it did not fail
// at a node (a timeout, say).
func failedNodeOf(def *engine.Definition, exec store.Execution, runs []engine.NodeRun) string {
	if exec.Status != store.StatusFailed || def == nil {
		return ""
	}
	known := func(id string) (engine.Node, bool) {
		for _, n := range def.Nodes {
			if n.ID == id {
				return n, true
			}
		}
		return engine.Node{}, false
	}
	if _, ok := known(exec.FailedNodeID); ok {
		return exec.FailedNodeID
	}
	var at string
	var when time.Time
	for _, r := range runs {
		n, ok := known(r.NodeID)
		if !ok || r.Status != engine.NodeFailed || (n.OnError != "" && n.OnError != engine.OnErrorStop) {
			continue
		}
		if at == "" || !r.FinishedAt.Before(when) {
			at, when = r.NodeID, r.FinishedAt
		}
	}
	return at
}
