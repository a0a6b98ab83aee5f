package engine

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
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

// Pure reports whether running the plan only computes: no node changes the world, iterates or may park the
// execution. Such a run can be repeated at will, so it may run anywhere (ahead of the queue, say) and be thrown away.
func (p *Plan) Pure() bool {
	for _, n := range p.nodes {
		if n.typ.SideEffects || n.typ.Loop || n.typ.Waits {
			return false
		}
	}
	return true
}

// LoopBodies maps the id of each node inside a loop's body to its loop's id. A resuming pass needs none of the
// runs of a body for a batch its loop checkpointed (the checkpoint holds the batch's result), so storage can leave
// them unread (sql/store's NodeRunsForResume).
func (p *Plan) LoopBodies() map[string]string {
	bodies := map[string]string{}
	for _, n := range p.nodes {
		if n.bodyOf >= 0 {
			bodies[n.ID] = p.nodes[n.bodyOf].ID
		}
	}
	return bodies
}

// HasSideEffects reports whether the node with the given id has a side-effecting type.
func (p *Plan) HasSideEffects(id string) bool {
	i, ok := p.index[id]
	return ok && p.nodes[i].typ.SideEffects
}

// PlanCache keeps compiled plans by key (a workflow version id), so that parsing, schema checks and expression
// compiling happen once per version rather than once per execution. Versions are immutable, so entries never go
// stale; the cache is bounded and evicts the least recently used plan (golang-lru's simplelru under a plain mutex,
// which costs a hit half of what lru.Cache's read-write lock does), and concurrent misses for one key share a
// single compile (singleflight). It is safe for concurrent use.
type PlanCache struct {
	mu       sync.Mutex
	plans    *simplelru.LRU[string, *Plan]
	compiles singleflight.Group
}

// NewPlanCache returns a cache holding at most capacity plans (at least 1).
func NewPlanCache(capacity int) *PlanCache {
	plans, _ := simplelru.NewLRU[string, *Plan](max(capacity, 1), nil) // fails only for a size below 1
	return &PlanCache{plans: plans}
}

// Get returns the plan cached under key.
func (c *PlanCache) Get(key string) (*Plan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans.Get(key)
}

// Add caches plan under key, evicting the least recently used plan when full.
func (c *PlanCache) Add(key string, plan *Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plans.Add(key, plan)
}

// Len returns the number of cached plans.
func (c *PlanCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans.Len()
}

// GetOrCompile returns the plan cached under key, or calls compile once (however many goroutines ask at the same
// time) and caches its result. Errors are not cached: a version that failed to load may load next time. A compile
// that panics is reported to every caller waiting for it as an error.
func (c *PlanCache) GetOrCompile(key string, compile func() (*Plan, error)) (*Plan, error) {
	if plan, ok := c.Get(key); ok {
		return plan, nil
	}
	v, err, _ := c.compiles.Do(key, func() (plan any, err error) {
		// A compile that finished between the miss above and this call has cached its plan already.
		if plan, ok := c.Get(key); ok {
			return plan, nil
		}
		defer func() {
			if r := recover(); r != nil {
				plan, err = nil, &panicError{value: r}
			}
		}()
		p, err := compile()
		if err != nil {
			return nil, err
		}
		c.Add(key, p)
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Plan), nil
}
