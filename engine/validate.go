package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Limits on a definition, so that one workflow cannot make validation or a run unreasonably expensive.
const (
	MaxNodes = 1_000
	MaxEdges = 5_000
	// MaxRetryAttempts bounds RetryPolicy.MaxAttempts.
	MaxRetryAttempts = 10
	// MaxRetryInterval bounds RetryPolicy.MaxInterval: retries wait inside the worker, so a long wait holds it.
	MaxRetryInterval = 10 * time.Minute
	// MaxNodeTimeout bounds Node.Timeout.
	MaxNodeTimeout = 24 * time.Hour
	// MaxNotes and MaxNoteText bound a definition's sticky notes (text counted in characters); notes are
	// stored with every version, so they must stay small beside the nodes.
	MaxNotes    = 100
	MaxNoteText = 5_000
	// MinNoteSize and MaxNoteSize bound a note's width and height, in canvas pixels.
	MinNoteSize = 40
	MaxNoteSize = 4_000

	defaultRetryInitial = time.Second
	defaultRetryMax     = time.Minute
)

// Problem is one thing wrong with a definition, named precisely enough for the editor to highlight it: NodeID is
// the node at fault (empty for the workflow as a whole) and Field a dotted path inside it ("config.condition",
// "retry.max_attempts", "edges.2.port" for edges).
type Problem struct {
	NodeID  string `json:"node_id,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String reads as one line for logs and error messages.
func (p Problem) String() string {
	var b strings.Builder
	if p.NodeID != "" {
		fmt.Fprintf(&b, "node %q: ", p.NodeID)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// DefinitionError is returned by Compile for a definition with problems. It unwraps to a fault.Error with code
// Invalid whose fields are the problems, so an HTTP handler answers 422 listing them without knowing this type.
type DefinitionError struct {
	Problems []Problem
}

// Error names the first problem and how many others there are; the full list is in Problems.
func (e *DefinitionError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid workflow: " + e.Problems[0].String()
	}
	return fmt.Sprintf("invalid workflow: %s (and %d more problems)", e.Problems[0].String(), len(e.Problems)-1)
}

// Unwrap returns the problems as a fault.Error.
func (e *DefinitionError) Unwrap() error {
	fields := make([]fault.FieldError, len(e.Problems))
	for i, p := range e.Problems {
		fields[i] = fault.FieldError{NodeID: p.NodeID, Field: p.Field, Message: p.Message}
	}
	return fault.Fields("the workflow definition is invalid", fields...)
}

// Validate returns every problem in def at once, so that the editor can show them together: ids, types, configs
// against their schemas, expressions, the single trigger, edges and their ports, cycles, loop bodies, retry
// policies, timeouts and on_error. No problems means Compile will succeed.
func Validate(def *Definition, reg *Registry) []Problem {
	_, probs := build(def, reg)
	return probs
}

// Compile validates def and turns it into a Plan. A definition with problems gives a *DefinitionError.
func Compile(def *Definition, reg *Registry) (*Plan, error) {
	p, probs := build(def, reg)
	if len(probs) > 0 {
		return nil, &DefinitionError{Problems: probs}
	}
	return p, nil
}

// nodeIDPattern keeps ids usable in expressions as `nodes.<id>` (dashes still need nodes["a-b"]) and in URLs.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// compiledNode is what one node's checks produce.
type compiledNode struct {
	run       Runnable
	ports     []string
	usesNodes bool
}

// compileNode checks one node's config against its type's schema and compiles it.
func (t *registeredType) compileNode(n Node) (compiledNode, []Problem) {
	cfg := n.Config
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage(`{}`)
	}
	if probs := t.checkConfig(n.ID, cfg); len(probs) > 0 {
		return compiledNode{}, probs
	}
	c := &Compiler{nodeID: n.ID}
	run, err := t.Compile(cfg, c)
	probs := c.problems
	if err != nil && len(probs) == 0 {
		var fe *FieldError
		if errors.As(err, &fe) {
			probs = append(probs, Problem{NodeID: n.ID, Field: configField(fe.Field), Message: fe.Message})
		} else {
			probs = append(probs, Problem{NodeID: n.ID, Field: "config", Message: err.Error()})
		}
	}
	if err == nil && run == nil && len(probs) == 0 {
		probs = append(probs, Problem{NodeID: n.ID, Message: fmt.Sprintf("type %s compiled to nothing (a bug in the type)", t.Name)})
	}
	if len(probs) > 0 {
		return compiledNode{}, probs
	}
	return compiledNode{run: run, ports: t.portsOf(cfg), usesNodes: c.usesNodes}, nil
}

// build runs every check and, when none failed, assembles the plan. Checks that depend on earlier ones (cycles need
// valid edges, loop bodies need no cycles) are skipped rather than reported twice.
func build(def *Definition, reg *Registry) (*Plan, []Problem) {
	if def == nil || len(def.Nodes) == 0 {
		return nil, []Problem{{Message: "a workflow needs at least a trigger node"}}
	}
	if len(def.Nodes) > MaxNodes {
		return nil, []Problem{{Field: "nodes", Message: fmt.Sprintf("a workflow has at most %d nodes", MaxNodes)}}
	}
	if len(def.Edges) > MaxEdges {
		return nil, []Problem{{Field: "edges", Message: fmt.Sprintf("a workflow has at most %d edges", MaxEdges)}}
	}
	b := &planBuilder{
		def:   def,
		reg:   reg,
		plan:  &Plan{def: def, index: make(map[string]int, len(def.Nodes)), trigger: -1},
		nodes: make([]*planNode, len(def.Nodes)),
	}
	b.probs = append(b.probs, checkNotes(def.Notes)...)
	b.addNodes()
	var order []int
	if b.addEdges() {
		order = b.order()
	}
	if len(b.probs) > 0 {
		return nil, b.probs
	}
	b.plan.assemble(b.nodes, order)
	return b.plan, nil
}

// planBuilder turns a definition into a plan's nodes and edges, collecting every problem it finds on the way so
// that an author sees all of them at once.
type planBuilder struct {
	def   *Definition
	reg   *Registry
	plan  *Plan
	nodes []*planNode
	probs []Problem
}

func (b *planBuilder) report(nodeID, field, format string, args ...any) {
	b.probs = append(b.probs, Problem{NodeID: nodeID, Field: field, Message: fmt.Sprintf(format, args...)})
}

// addNodes checks and compiles every node, then the one trigger.
func (b *planBuilder) addNodes() {
	var triggers []int
	for i, n := range b.def.Nodes {
		pn := &planNode{Node: n, idx: i, bodyOf: -1}
		b.nodes[i] = pn
		if b.addNode(i, pn) {
			triggers = append(triggers, i)
		}
	}
	for _, pn := range b.nodes {
		if pn.OnError == OnErrorRoute && pn.typ != nil {
			pn.ports = append(pn.ports, PortError)
			pn.portsKnown = true
		} else if pn.run != nil {
			pn.portsKnown = true
		}
	}
	switch len(triggers) {
	case 0:
		b.report("", "nodes", "a workflow needs exactly one trigger node; it has none")
	case 1:
		b.plan.trigger = triggers[0]
	default:
		first := b.def.Nodes[triggers[0]].ID
		for _, i := range triggers[1:] {
			b.report(b.def.Nodes[i].ID, "type", "a workflow has exactly one trigger; %q is the first", first)
		}
	}
}

// addNode checks node i's id, error handling, retry and timeout, then compiles it with its type; it reports
// whether the node is a trigger.
func (b *planBuilder) addNode(i int, pn *planNode) (trigger bool) {
	n := pn.Node
	field := func(f string) string {
		if n.ID == "" {
			return fmt.Sprintf("nodes.%d.%s", i, f)
		}
		return f
	}
	switch {
	case n.ID == "":
		b.report("", fmt.Sprintf("nodes.%d.id", i), "every node needs an id")
	case !nodeIDPattern.MatchString(n.ID):
		b.report(n.ID, "id", "an id is 1 to 64 letters, digits, '_' or '-'")
	}
	if n.ID != "" {
		if _, dup := b.plan.index[n.ID]; dup {
			b.report(n.ID, "id", "another node has the same id")
		} else {
			b.plan.index[n.ID] = i
		}
	}
	switch n.OnError {
	case "", OnErrorStop, OnErrorContinue, OnErrorRoute:
	default:
		b.report(n.ID, field("on_error"), "must be one of stop, continue, error")
	}
	pn.retry = resolveRetry(n.Retry, func(f, msg string) { b.report(n.ID, field(f), "%s", msg) })
	switch {
	case n.Timeout < 0:
		b.report(n.ID, field("timeout"), "must be positive")
	case n.Timeout.Std() > MaxNodeTimeout:
		b.report(n.ID, field("timeout"), "must be at most %s", MaxNodeTimeout)
	}

	t := b.reg.lookup(n.Type)
	if t == nil {
		if n.Type == "" {
			b.report(n.ID, field("type"), "every node needs a type")
		} else {
			b.report(n.ID, field("type"), "unknown node type %q", n.Type)
		}
		return false
	}
	pn.typ = t
	if n.Retry == nil && t.DefaultRetry != nil {
		pn.retry = resolveRetry(t.DefaultRetry, func(string, string) {}) // checked at Register
	}
	cn, cprobs := t.compileNode(n)
	if len(cprobs) > 0 {
		if n.ID == "" {
			for j := range cprobs {
				cprobs[j].Field = field(cprobs[j].Field)
			}
		}
		b.probs = append(b.probs, cprobs...)
		pn.ports = nil
	} else {
		pn.run = cn.run
		pn.ports = cn.ports
		b.plan.usesNodes = b.plan.usesNodes || cn.usesNodes
	}
	return t.Category == CategoryTrigger
}

// addEdges checks every edge and links the nodes it joins; it reports whether the graph is whole enough to order.
func (b *planBuilder) addEdges() (ok bool) {
	ok = true
	type edgeKey struct{ from, port, to string }
	seen := make(map[edgeKey]bool, len(b.def.Edges))
	for i, e := range b.def.Edges {
		at := func(f string) string { return fmt.Sprintf("edges.%d.%s", i, f) }
		from, okFrom := b.plan.index[e.From]
		to, okTo := b.plan.index[e.To]
		if !okFrom {
			b.report(e.From, at("from"), "edge starts at unknown node %q", e.From)
		}
		if !okTo {
			b.report(e.To, at("to"), "edge ends at unknown node %q", e.To)
		}
		if !okFrom || !okTo {
			ok = false
			continue
		}
		if seen[edgeKey{e.From, e.Port, e.To}] {
			b.report(e.From, at("to"), "edge from %q to %q is drawn twice", e.From, e.To)
			continue
		}
		seen[edgeKey{e.From, e.Port, e.To}] = true
		if to == b.plan.trigger || (b.nodes[to].typ != nil && b.nodes[to].typ.Category == CategoryTrigger) {
			b.report(e.To, at("to"), "nothing can lead into a trigger")
			ok = false
			continue
		}
		src := b.nodes[from]
		if src.portsKnown && !slices.Contains(src.ports, e.Port) {
			b.report(e.From, at("port"), "%s", portMessage(src, e.Port))
		}
		b.nodes[to].in = append(b.nodes[to].in, inEdge{from: from, port: e.Port})
		src.out = append(src.out, outEdge{port: e.Port, to: to})
		if !containsInt(b.nodes[to].parents, from) {
			b.nodes[to].parents = append(b.nodes[to].parents, from)
			src.children = append(src.children, to)
		}
	}
	return ok
}

// order sorts the nodes parents first, reporting cycles, then checks the loops' bodies.
func (b *planBuilder) order() []int {
	order, cyclic := topoOrder(b.nodes)
	for _, i := range cyclic {
		b.report(b.nodes[i].ID, "", "is part of a cycle; workflows only run forward (use condition.loop to repeat work)")
	}
	if len(cyclic) == 0 {
		b.probs = append(b.probs, checkLoops(b.nodes, order)...)
	}
	return order
}

func portMessage(n *planNode, port string) string {
	var names []string
	for _, p := range n.ports {
		if p == PortDefault {
			names = append(names, `"" (default)`)
		} else {
			names = append(names, fmt.Sprintf("%q", p))
		}
	}
	what := fmt.Sprintf("port %q", port)
	if port == PortDefault {
		what = "the default port"
	}
	hint := ""
	if port == PortError {
		hint = " (set on_error to \"error\" to get an error port)"
	}
	return fmt.Sprintf("node %q has no %s; its ports are %s%s", n.ID, what, strings.Join(names, ", "), hint)
}

// resolveRetry checks a retry policy and fills in its defaults.
func resolveRetry(r *RetryPolicy, report func(field, msg string)) retryPolicy {
	if r == nil {
		return retryPolicy{maxAttempts: 1}
	}
	p := retryPolicy{
		maxAttempts: r.MaxAttempts,
		exponential: true,
		initial:     r.InitialInterval.Std(),
		max:         r.MaxInterval.Std(),
	}
	if r.MaxAttempts < 1 || r.MaxAttempts > MaxRetryAttempts {
		report("retry.max_attempts", fmt.Sprintf("must be between 1 and %d", MaxRetryAttempts))
	}
	switch r.Backoff {
	case "", BackoffExponential:
	case BackoffFixed:
		p.exponential = false
	default:
		report("retry.backoff", "must be exponential or fixed")
	}
	if p.initial < 0 {
		report("retry.initial_interval", "must not be negative")
	}
	if p.max < 0 {
		report("retry.max_interval", "must not be negative")
	}
	if p.initial == 0 {
		p.initial = defaultRetryInitial
	}
	if p.max == 0 {
		p.max = max(defaultRetryMax, p.initial)
	}
	if p.max > MaxRetryInterval {
		report("retry.max_interval", fmt.Sprintf("must be at most %s: a retry waits inside a worker", MaxRetryInterval))
	}
	if p.initial > p.max {
		report("retry.initial_interval", "must not be longer than max_interval")
	}
	return p
}

// topoOrder orders nodes parents first, keeping definition order among independent nodes so that runs and their
// records come out in a stable order. Nodes left over sit on a cycle, or after one; only the former are returned.
func topoOrder(nodes []*planNode) (order, cyclic []int) {
	indeg := make([]int, len(nodes))
	for _, n := range nodes {
		indeg[n.idx] = len(n.parents)
	}
	// A min-heap would be the textbook choice; a sorted scan keeps definition order and is fast enough for the
	// few hundred nodes a workflow has.
	done := make([]bool, len(nodes))
	for progress := true; progress; {
		progress = false
		for i, n := range nodes {
			if done[i] || indeg[i] != 0 {
				continue
			}
			done[i] = true
			order = append(order, i)
			for _, c := range n.children {
				indeg[c]--
			}
			progress = true
			break
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	for i := range nodes {
		if !done[i] && reaches(nodes, i, i, done) {
			cyclic = append(cyclic, i)
		}
	}
	return order, cyclic
}

// reaches reports whether target can be reached from start's children through nodes not yet ordered.
func reaches(nodes []*planNode, start, target int, done []bool) bool {
	seen := make([]bool, len(nodes))
	stack := append([]int(nil), nodes[start].children...)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i == target {
			return true
		}
		if seen[i] || done[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, nodes[i].children...)
	}
	return false
}

// checkLoops works out each loop's body and checks that it is a closed room: entered only through the loop's body
// port and left only through the loop's done port. The body of a loop is every node reachable from its body port;
// its results are the outputs of the body's sinks (nodes without children), collected per item. Loops inside loop
// bodies and waiting nodes inside them are refused: a record of such runs would need an item path, not an index.
func checkLoops(nodes []*planNode, order []int) []Problem {
	var probs []Problem
	for _, i := range order {
		l := nodes[i]
		if l.typ == nil || !l.typ.Loop {
			continue
		}
		inBody := make([]bool, len(nodes))
		var stack []int
		for _, e := range l.out {
			if e.port == PortBody {
				stack = append(stack, e.to)
			}
		}
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if inBody[j] {
				continue
			}
			inBody[j] = true
			stack = append(stack, nodes[j].children...)
		}
		var members []int
		for _, j := range order {
			if !inBody[j] {
				continue
			}
			b := nodes[j]
			members = append(members, j)
			// A node in two bodies is either fed from outside one of them or inside a nested loop; both are
			// reported below, so the last loop simply wins here.
			b.bodyOf = i
			for _, e := range b.in {
				if inBody[e.from] || (e.from == i && e.port == PortBody) {
					continue
				}
				probs = append(probs, Problem{NodeID: b.ID, Message: fmt.Sprintf("is inside the body of loop %q but is also fed by %q; a loop body is entered only through the loop's body port (join after the loop's done port instead)", l.ID, nodes[e.from].ID)})
			}
			if b.typ != nil && b.typ.Loop {
				probs = append(probs, Problem{NodeID: b.ID, Message: fmt.Sprintf("is a loop inside the body of loop %q; nested loops are not supported", l.ID)})
			}
			if b.typ != nil && b.typ.Waits {
				probs = append(probs, Problem{NodeID: b.ID, Message: fmt.Sprintf("waits, inside the body of loop %q; put the wait before or after the loop", l.ID)})
			}
		}
		l.bodyMembers = members
	}
	return probs
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkNotes validates the sticky notes: how many, unique ids, text length, a finite position, a size within
// bounds and a colour from the palette. Each problem names its field ("notes.2.text").
func checkNotes(notes []Note) []Problem {
	if len(notes) > MaxNotes {
		return []Problem{{Field: "notes", Message: fmt.Sprintf("a workflow has at most %d notes", MaxNotes)}}
	}
	var probs []Problem
	report := func(i int, field, format string, args ...any) {
		probs = append(probs, Problem{Field: fmt.Sprintf("notes.%d.%s", i, field), Message: fmt.Sprintf(format, args...)})
	}
	seen := make(map[string]bool, len(notes))
	for i, n := range notes {
		switch {
		case n.ID == "":
			report(i, "id", "every note needs an id")
		case !nodeIDPattern.MatchString(n.ID):
			report(i, "id", "a note id is 1 to 64 letters, digits, '_' or '-'")
		case seen[n.ID]:
			report(i, "id", "another note has the id %q", n.ID)
		}
		seen[n.ID] = true
		if c := utf8.RuneCountInString(n.Text); c > MaxNoteText {
			report(i, "text", "a note holds at most %d characters; this one has %d", MaxNoteText, c)
		}
		if !finite(n.Position.X) || !finite(n.Position.Y) {
			report(i, "position", "must be a finite x and y")
		}
		if !(n.Size.Width >= MinNoteSize && n.Size.Width <= MaxNoteSize) {
			report(i, "size.width", "must be between %d and %d", MinNoteSize, MaxNoteSize)
		}
		if !(n.Size.Height >= MinNoteSize && n.Size.Height <= MaxNoteSize) {
			report(i, "size.height", "must be between %d and %d", MinNoteSize, MaxNoteSize)
		}
		if n.Color != "" && !slices.Contains(NoteColors, n.Color) {
			report(i, "color", "must be one of %s", strings.Join(NoteColors, ", "))
		}
	}
	return probs
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
