package engine

import (
	"container/list"
	"sync"
	"time"
)

// Plan is a validated definition compiled for running: nodes in topological order, each with its compiled
// Runnable, parents and children by port, and loop bodies worked out. It is immutable and safe for concurrent use;
// compile it once per workflow version (see PlanCache) and run it for every execution of that version.
type Plan struct {
	def       *Definition
	nodes     []*planNode // by definition index
	index     map[string]int
	trigger   int
	top       *graph
	order     []int
	usesNodes bool
}

// planNode is one node as the run loop sees it.
type planNode struct {
	Node
	idx        int
	typ        *registeredType
	run        Runnable
	ports      []string // output ports, the error port included when on_error is "error"
	portsKnown bool
	retry      retryPolicy
	in         []inEdge
	out        []outEdge
	parents    []int // distinct
	children   []int // distinct
	// bodyOf is the loop whose body holds this node, or -1.
	bodyOf int
	// For loop nodes: the body's members in order, and the body as a graph.
	bodyMembers []int
	body        *graph
}

type inEdge struct {
	from int
	port string
}

type outEdge struct {
	port string
	to   int
}

// retryPolicy is a RetryPolicy checked and with its defaults filled in.
type retryPolicy struct {
	maxAttempts int
	exponential bool
	initial     time.Duration
	max         time.Duration
}

// graph is the part of a plan the run loop schedules as one unit: the top level, or one loop's body (run once per
// item).
type graph struct {
	owner   int   // the loop node whose body this is, or -1 for the top level
	members []int // in topological order
	local   []int32
	sinks   []int
	// pending holds, per member, how many of its parents are members too: they must finish before it can run.
	// Parents outside the graph (the loop node, for a body) have finished before the graph starts.
	pending []int32
}

func (p *Plan) assemble(nodes []*planNode, order []int) {
	p.nodes = nodes
	p.order = order
	var top []int
	for _, i := range order {
		if nodes[i].bodyOf < 0 {
			top = append(top, i)
		}
	}
	p.top = newGraph(nodes, -1, top)
	for _, i := range order {
		if n := nodes[i]; n.typ.Loop {
			n.body = newGraph(nodes, i, n.bodyMembers)
		}
	}
}

func newGraph(nodes []*planNode, owner int, members []int) *graph {
	g := &graph{owner: owner, members: members, local: make([]int32, len(nodes)), pending: make([]int32, len(members))}
	for i := range g.local {
		g.local[i] = -1
	}
	for li, i := range members {
		g.local[i] = int32(li)
	}
	for li, i := range members {
		n := nodes[i]
		for _, par := range n.parents {
			if g.local[par] >= 0 {
				g.pending[li]++
			}
		}
		sink := true
		for _, c := range n.children {
			if g.local[c] >= 0 {
				sink = false
				break
			}
		}
		if sink {
			g.sinks = append(g.sinks, i)
		}
	}
	return g
}

// Definition returns the definition the plan was compiled from. Treat it as read-only: the plan shares it.
func (p *Plan) Definition() *Definition { return p.def }

// Trigger returns the trigger node, whose type and config the caller needs to accept events (a webhook's auth, a
// schedule's cron).
func (p *Plan) Trigger() Node { return p.nodes[p.trigger].Node }

// Node returns the node with the given id.
func (p *Plan) Node(id string) (Node, bool) {
	i, ok := p.index[id]
	if !ok {
		return Node{}, false
	}
	return p.nodes[i].Node, true
}

// HasSideEffects reports whether the node with the given id has a side-effecting type.
func (p *Plan) HasSideEffects(id string) bool {
	i, ok := p.index[id]
	return ok && p.nodes[i].typ.SideEffects
}

// PlanCache keeps compiled plans by key (a workflow version id), so that parsing, schema checks and expression
// compiling happen once per version rather than once per execution. Versions are immutable, so entries never go
// stale; the cache is bounded and evicts the least recently used plan. It is safe for concurrent use.
type PlanCache struct {
	mu       sync.Mutex
	capacity int
	entries  map[string]*list.Element
	lru      *list.List // front = most recently used
	inflight map[string]*planCall
}

type planEntry struct {
	key  string
	plan *Plan
}

// planCall lets concurrent misses for one key share a single compile.
type planCall struct {
	done chan struct{}
	plan *Plan
	err  error
}

// NewPlanCache returns a cache holding at most capacity plans (at least 1).
func NewPlanCache(capacity int) *PlanCache {
	return &PlanCache{
		capacity: max(capacity, 1),
		entries:  make(map[string]*list.Element),
		lru:      list.New(),
		inflight: make(map[string]*planCall),
	}
}

// Get returns the plan cached under key.
func (c *PlanCache) Get(key string) (*Plan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*planEntry).plan, true
}

// Add caches plan under key, evicting the least recently used plan when full.
func (c *PlanCache) Add(key string, plan *Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(key, plan)
}

func (c *PlanCache) addLocked(key string, plan *Plan) {
	if el, ok := c.entries[key]; ok {
		el.Value.(*planEntry).plan = plan
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(&planEntry{key: key, plan: plan})
	for c.lru.Len() > c.capacity {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*planEntry).key)
	}
}

// Len returns the number of cached plans.
func (c *PlanCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// GetOrCompile returns the plan cached under key, or calls compile once (however many goroutines ask at the same
// time) and caches its result. Errors are not cached: a version that failed to load may load next time.
func (c *PlanCache) GetOrCompile(key string, compile func() (*Plan, error)) (*Plan, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*planEntry).plan, nil
	}
	if call, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		<-call.done
		return call.plan, call.err
	}
	call := &planCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.mu.Unlock()

	func() {
		defer func() {
			if r := recover(); r != nil {
				call.err = &panicError{value: r}
			}
		}()
		call.plan, call.err = compile()
	}()

	c.mu.Lock()
	delete(c.inflight, key)
	if call.err == nil {
		c.addLocked(key, call.plan)
	}
	c.mu.Unlock()
	close(call.done)
	return call.plan, call.err
}
