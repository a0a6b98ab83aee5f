package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/engine/value"
)

// ExecutionStatus is how a call to Run left the execution. "queued" and "running" exist only in storage: the
// engine reports where a run ended.
type ExecutionStatus string

// The statuses Run can end an execution in.
const (
	ExecutionSucceeded ExecutionStatus = "succeeded"
	ExecutionFailed    ExecutionStatus = "failed"
	// ExecutionWaiting means a node parked the execution; run it again at RunResult.ResumeAt.
	ExecutionWaiting  ExecutionStatus = "waiting"
	ExecutionCanceled ExecutionStatus = "canceled"
)

// ErrExecutionTimedOut is the error of an execution that ran past its deadline (RunResult.Error): a failure, which
// error workflows tell apart from a node's by this text.
const ErrExecutionTimedOut = "execution timed out"

// NodeStatus is the state of one node run.
type NodeStatus string

// The statuses of a node run.
const (
	// NodeRunning is reported to Observers when an attempt starts, and recorded for a node that parked the
	// execution (a delay), with Output {"resume_at": time}.
	NodeRunning   NodeStatus = "running"
	NodeSucceeded NodeStatus = "succeeded"
	NodeFailed    NodeStatus = "failed"
	// NodeSkipped marks a node on a branch that was not taken.
	NodeSkipped NodeStatus = "skipped"
)

// NodeRun is the record of one node's run in one execution (or one loop item of it). Its identity is
// (NodeID, ItemIndex): a later record with the same identity supersedes an earlier one, as when a parked delay
// completes, so storage should upsert on it.
type NodeRun struct {
	NodeID string     `json:"node_id"`
	Type   string     `json:"type"`
	Status NodeStatus `json:"status"`
	// Attempt is the number of attempts made (the one running, for a started event).
	Attempt int `json:"attempt"`
	// ItemIndex is the loop item, for nodes inside a loop body.
	ItemIndex *int `json:"item_index,omitempty"`
	// Port is the output port the node took. It must be stored: resuming after the node depends on it.
	Port       string          `json:"port,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	// RanAgain is RunInput.Resumed on a run of a resumed pass that may repeat a run the previous pass had under
	// way when it stopped (see RunInput.Resumed); empty otherwise.
	RanAgain string `json:"ran_again,omitempty"`
}

// Recorder stores a side-effecting node's run the moment it finishes, before the run loop moves on, so that a crash
// afterwards resumes past it instead of repeating it (sending the e-mail twice). An error stops the execution and
// makes Run return it: the side effect happened but could not be recorded, and the job should be retried.
type Recorder interface {
	RecordNode(ctx context.Context, run NodeRun) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, run NodeRun) error

// RecordNode calls f.
func (f RecorderFunc) RecordNode(ctx context.Context, run NodeRun) error { return f(ctx, run) }

// NodeEventKind says what happened to a node.
type NodeEventKind string

// The kinds of node events.
const (
	NodeEventStarted  NodeEventKind = "started"
	NodeEventRetrying NodeEventKind = "retrying"
	NodeEventFinished NodeEventKind = "finished"
)

// NodeEvent is a live status change, for the execution page (through Postgres NOTIFY). Every attempt is visible:
// each starts with a started event, and each failed attempt that will be tried again ends with a retrying one.
type NodeEvent struct {
	Kind NodeEventKind
	Run  NodeRun
	// RetryIn is the wait before the next attempt, for retrying events.
	RetryIn time.Duration
}

// Observer receives node events as they happen, from the goroutines running the nodes. It must be safe for
// concurrent use and quick: it runs on the hot path, so publishing should be handed off, not done inline.
type Observer interface {
	ObserveNode(ctx context.Context, ev NodeEvent)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, ev NodeEvent)

// ObserveNode calls f.
func (f ObserverFunc) ObserveNode(ctx context.Context, ev NodeEvent) { f(ctx, ev) }

// NodeTracer is told of each node's run (all its attempts, a loop's body inside it), for tracing: StartNode returns
// the context the node runs in, which carries its span (an HTTP call the node makes continues the trace), and the
// function that ends the span with the run as it ended. Like Observer it runs on the hot path; leave it nil when
// tracing is off.
type NodeTracer interface {
	StartNode(ctx context.Context, run NodeRun) (context.Context, func(NodeRun))
}

// RunInput is everything one call to Run needs besides the plan.
type RunInput struct {
	Execution ExecutionInfo
	// Trigger is the trigger data as stored with the execution.
	Trigger json.RawMessage
	// Recorded holds the runs stored by earlier calls for this execution (after a crash, a park, or kept by
	// Plan.RetryRuns). Finished ones are reused, never run again.
	Recorded []NodeRun
	// Resumed, when set, says this call resumes a pass that stopped before it could finish (its worker process
	// died, say), and why, in words a user reads. The runs it makes of nodes that were ready when it began (every
	// parent reused from Recorded, or the trigger) carry it as NodeRun.RanAgain: the stopped pass may have had
	// them under way, so they may run a second time. Nodes that become ready only through a run of this call are
	// not marked, nor are skipped or reused ones, nor the nodes of a loop's body (the loop node carries the mark:
	// which of its items had started is not recorded).
	Resumed string
	// Recorder receives side-effecting runs as they finish; nil puts them in RunResult.NodeRuns with the rest.
	Recorder Recorder
	// Batches receives each finished batch of a loop over batches (Loop.Batches) with its runs; nil puts them in
	// RunResult.NodeRuns with the rest, and no batch is durable before the run ends.
	Batches BatchRecorder
	// Observer, if set, receives live node events.
	Observer Observer
	// Tracer, if set, wraps each node's run in a span.
	Tracer NodeTracer
	// Services are handed to every node; nil means none.
	Services *Services
}

// RunResult is where a call to Run left the execution.
type RunResult struct {
	Status ExecutionStatus
	// Error says why the execution failed, naming the node; FailedNodeID is that node.
	Error        string
	FailedNodeID string
	// Output is what the workflow produced, for a webhook answering with its result: the output of the last
	// nodes (those without children) that ran, keyed by node id when there are several.
	Output json.RawMessage
	// ResumeAt is when to run a waiting execution again.
	ResumeAt time.Time
	// NodeRuns are the runs of this call not yet handed to the Recorder, in the order they finished: write them
	// together with the execution's new status, in one batch.
	NodeRuns []NodeRun
}

// ExecutorOptions tune an Executor. Zero values mean the defaults given on each field.
type ExecutorOptions struct {
	// MaxConcurrency bounds how many nodes of one execution run at once, across branches and loop items
	// (default 8). Waiting between retries does not hold a place.
	MaxConcurrency int
	// DefaultNodeTimeout bounds each attempt of a side-effecting node without a timeout of its own (default 5
	// minutes). Pure nodes do no I/O: they are bounded by the expression limits and the execution's deadline.
	DefaultNodeTimeout time.Duration
	// MaxOutputBytes bounds one node's encoded output (NODE_OUTPUT_MAX; default: the sandbox's MaxBytes, 8 MiB,
	// which bounds a jq result and must not exceed it); a larger output fails the node.
	MaxOutputBytes int
	// Sandbox runs the jq programs and holds the limits every evaluation of author-written code runs under
	// (default: a pool of the Executor's own with the default limits, ended by Close). Its MaxDepth bounds the nesting of trigger data and of every output.
	Sandbox *sandbox.Pool
	// Now is the clock (default time.Now); tests move it to resume delays.
	Now func() time.Time
	// Sleep waits between retries (default a timer that gives up when ctx is done); tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter picks the wait before a retry, uniformly in [0, ceiling] by default ("full jitter").
	Jitter func(ceiling time.Duration) time.Duration
}

// Executor runs plans. It holds only options, so one Executor serves every execution of a process.
type Executor struct {
	opts     ExecutorOptions
	maxDepth int
	ownPool  bool // the sandbox pool was made here, so Close ends it
}

// NewExecutor returns an Executor with the given options.
func NewExecutor(opts ExecutorOptions) *Executor {
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 8
	}
	if opts.DefaultNodeTimeout <= 0 {
		opts.DefaultNodeTimeout = 5 * time.Minute
	}
	ownPool := opts.Sandbox == nil
	if ownPool {
		opts.Sandbox = sandbox.NewPool(sandbox.Options{})
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = opts.Sandbox.Limits().MaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Jitter == nil {
		opts.Jitter = func(ceiling time.Duration) time.Duration {
			if ceiling <= 0 {
				return 0
			}
			return rand.N(ceiling + 1)
		}
	}
	return &Executor{opts: opts, maxDepth: opts.Sandbox.Limits().MaxDepth, ownPool: ownPool}
}

// Close ends the sandbox pool the Executor made for itself; a pool handed in through ExecutorOptions belongs to
// the caller, who closes it.
func (x *Executor) Close() error {
	if x.ownPool {
		return x.opts.Sandbox.Close()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run runs an execution of plan from where its recorded runs left it, until it finishes, fails, parks or ctx ends.
//
// Scheduling rules:
//   - A node runs once all its parents have finished, if at least one of them delivered to it: succeeded with the
//     edge's port taken, or failed with on_error continue (every port) or error (the error port). Its input is
//     that parent's output, or, when the node has several parents, an object keyed by the ids of the parents that
//     delivered. This is n8n's merge: a join after an if/else runs with whichever branch was taken.
//   - A node none of whose parents delivered is skipped, and so, in turn, are nodes that only it feeds.
//   - Independent nodes run at the same time, up to ExecutorOptions.MaxConcurrency.
//   - A failure with on_error stop (the default) fails the execution: nodes already running finish, no others
//     start. Cancelling ctx stops at the next node boundary and cancels running nodes' contexts (status canceled);
//     a ctx deadline is the execution timeout (status failed).
//   - A node that parks (condition.delay) holds back its descendants; the rest of the graph goes on, and then the
//     execution is waiting.
//
// The returned error is only for infrastructure failures (a Recorder error); workflow failures are in RunResult.
func (x *Executor) Run(ctx context.Context, plan *Plan, in RunInput) (RunResult, error) {
	ex := &execution{
		x:    x,
		plan: plan,
		in:   &in,
		sem:  make(chan struct{}, x.opts.MaxConcurrency),
		runs: make([]NodeRun, 0, len(plan.nodes)),
	}
	if ex.in.Services == nil {
		ex.in.Services = &Services{}
	}
	if len(in.Recorded) > 0 {
		ex.recorded = make(map[runKey]*NodeRun, len(in.Recorded))
		for i := range in.Recorded {
			r := &in.Recorded[i]
			idx, ok := plan.index[r.NodeID]
			if !ok {
				continue // a node of another version; nothing to reuse
			}
			ex.recorded[keyOf(idx, r.ItemIndex)] = r
		}
	}
	var err error
	env := &Env{TriggerJSON: in.Trigger, Execution: in.Execution, now: x.opts.Now, sandbox: x.opts.Sandbox}
	if len(in.Trigger) == 0 {
		env.TriggerJSON = jsonNull
	} else if env.Trigger, err = value.Decode(in.Trigger, x.maxDepth); err != nil {
		return RunResult{Status: ExecutionFailed, Error: "trigger data is not valid JSON: " + err.Error()}, nil
	}
	top := newScope(ex, plan.top, nil, env, nil, &ex.halt)
	env.scope = top
	top.run(ctx)
	return ex.result(ctx, top)
}

var jsonNull = json.RawMessage("null")

// execution is the state of one Run call shared by its scopes.
type execution struct {
	x        *Executor
	plan     *Plan
	in       *RunInput
	sem      chan struct{}
	recorded map[runKey]*NodeRun
	// halt stops new nodes from starting anywhere: set on a stopping failure or a Recorder error.
	halt atomic.Bool
	// interrupted is set when cancellation kept a node from running or finishing.
	interrupted atomic.Bool

	mu          sync.Mutex
	runs        []NodeRun
	recordErr   error
	parkedUntil time.Time
}

type runKey struct {
	node int32
	item int32 // -1 outside loops
}

func keyOf(node int, item *int) runKey {
	if item == nil {
		return runKey{node: int32(node), item: -1}
	}
	return runKey{node: int32(node), item: int32(*item)}
}

func (ex *execution) now() time.Time { return ex.x.opts.Now() }

// settled is a node's final state within a scope, read by its children and by expressions.
type settled struct {
	status NodeStatus
	// deliver says whether the node hands data to children at all (not when skipped, parked or stopped).
	deliver bool
	// anyPort is set for on_error continue: the failure is delivered on every port but body and error.
	anyPort bool
	port    string
	data    any
	raw     json.RawMessage
	// view is {"output": data}, what `nodes.<id>` shows expressions; built when the plan's expressions use nodes.
	view map[string]any
	// thisPass says the state is known only through a run of this Run call: the node ran, or something it waits on
	// did. Its children were not ready when the call began (see RunInput.Resumed).
	thisPass bool
}

func (s *settled) delivers() bool { return s.deliver }

func (s *settled) deliversOn(port string) bool {
	if !s.deliver {
		return false
	}
	if s.anyPort {
		return port != PortBody && port != PortError
	}
	return s.port == port
}

// nodeFailure is a failure that stops its scope.
type nodeFailure struct {
	nodeID string
	msg    string
}

// scope runs one graph: the top level once, or a loop body once per item.
type scope struct {
	ex     *execution
	g      *graph
	parent *scope
	env    *Env
	item   *int
	// entry is what the loop node delivers into its body: the item, on the body port.
	entry *settled
	// stop is shared by the scopes that halt together (the execution's halt for the top level, the loop's for its
	// items).
	stop    *atomic.Bool
	outs    []atomic.Pointer[settled]
	failure atomic.Pointer[nodeFailure]
	// batch, inside the body of a loop over batches, collects the runs of the batch, which are recorded with its
	// checkpoint rather than with the execution's end.
	batch *batchRuns
}

// batchRuns are the runs of one batch of a loop over batches.
type batchRuns struct {
	mu   sync.Mutex
	runs []NodeRun
}

func newScope(ex *execution, g *graph, parent *scope, env *Env, item *int, stop *atomic.Bool) *scope {
	return &scope{ex: ex, g: g, parent: parent, env: env, item: item, stop: stop, outs: make([]atomic.Pointer[settled], len(g.members))}
}

func (s *scope) halted() bool { return s.stop.Load() || s.ex.halt.Load() }

// lookup finds a node's state, in this scope or an enclosing one.
func (s *scope) lookup(nodeID string) *settled {
	idx, ok := s.ex.plan.index[nodeID]
	if !ok {
		return nil
	}
	for sc := s; sc != nil; sc = sc.parent {
		if li := sc.g.local[idx]; li >= 0 {
			return sc.outs[li].Load()
		}
	}
	return nil
}

// nodesView builds what expressions see as `nodes`: every node that has delivered output so far.
func (s *scope) nodesView() map[string]any {
	m := make(map[string]any)
	var add func(sc *scope)
	add = func(sc *scope) {
		if sc.parent != nil {
			add(sc.parent)
		}
		for li, i := range sc.g.members {
			st := sc.outs[li].Load()
			if st == nil || !st.deliver {
				continue
			}
			v := st.view
			if v == nil {
				v = map[string]any{"output": st.data}
			}
			m[sc.ex.plan.nodes[i].ID] = v
		}
	}
	add(s)
	return m
}

// fail records a stopping failure: the first one wins and halts the scope.
func (s *scope) fail(nodeID, msg string) {
	s.failure.CompareAndSwap(nil, &nodeFailure{nodeID: nodeID, msg: msg})
	s.stop.Store(true)
}

type nodeDone struct {
	node int
	st   *settled
}

// run schedules the graph to completion: see Executor.Run for the rules.
func (s *scope) run(ctx context.Context) {
	g, nodes := s.g, s.ex.plan.nodes
	pending := slices.Clone(g.pending)
	// Every node becomes ready at most once, so the ready queue is a fixed array with a head and a tail.
	ready := make([]int, len(g.members))
	head, tail := 0, 0
	for li, i := range g.members {
		if pending[li] == 0 {
			ready[tail] = i
			tail++
		}
	}
	var done chan nodeDone
	inflight := 0
	settle := func(i int, st *settled) {
		if st == nil {
			return // never started: the scope halted while it waited for a place
		}
		s.outs[g.local[i]].Store(st)
		if st.status == NodeRunning {
			return // parked: its descendants wait for the resume
		}
		for _, c := range nodes[i].children {
			if lc := g.local[c]; lc >= 0 {
				pending[lc]--
				if pending[lc] == 0 {
					ready[tail] = c
					tail++
				}
			}
		}
	}
	for {
		for head < tail {
			if s.halted() {
				head = tail
				break
			}
			if ctx.Err() != nil {
				s.ex.interrupted.Store(true)
				head = tail
				break
			}
			i := ready[head]
			head++
			st, in := s.prepare(i)
			if st != nil {
				settle(i, st)
				continue
			}
			// The common case is a chain: with nothing else to do, run the node on this goroutine. The last of
			// several ready nodes runs here too when it is quick (pure, not a loop), instead of this goroutine idling
			// while a new one starts: only the scheduling of the others' children waits for it.
			if head == tail && (inflight == 0 || (!nodes[i].typ.SideEffects && !nodes[i].typ.Loop)) {
				settle(i, s.execute(ctx, i, in))
				continue
			}
			if done == nil {
				done = make(chan nodeDone, len(g.members))
			}
			inflight++
			go func() { done <- nodeDone{node: i, st: s.execute(ctx, i, in)} }()
		}
		if inflight == 0 {
			return
		}
		d := <-done
		inflight--
		settle(d.node, d.st)
	}
}

// nodeInput is a node's input before it runs.
type nodeInput struct {
	data any
	raw  json.RawMessage
	// readyAtStart says the node was ready when this Run call began: no parent's state came from a run of this call.
	readyAtStart bool
}

// prepare decides what happens to a node whose parents have all finished: skipped, reused from its record, or
// run (st == nil, with its input).
func (s *scope) prepare(i int) (*settled, nodeInput) {
	ex := s.ex
	n := ex.plan.nodes[i]

	in := nodeInput{readyAtStart: s.readyAtStart(n)}
	if len(n.in) == 0 {
		if i != ex.plan.trigger {
			return s.skip(n, in), in // a node nothing leads to never runs
		}
	} else {
		var buf [4]int
		from := buf[:0]
		for _, e := range n.in {
			if slices.Contains(from, e.from) {
				continue
			}
			if st := s.parentState(e.from); st != nil && st.deliversOn(e.port) {
				from = append(from, e.from)
			}
		}
		if len(from) == 0 {
			return s.skip(n, in), in
		}
		in.data, in.raw = s.inputFrom(n, from)
	}

	if rec := ex.recorded[keyOf(i, s.item)]; rec != nil {
		if st := s.reuse(n, rec, in); st != nil {
			return st, in
		}
	}
	return nil, in
}

// readyAtStart reports whether none of a node's parents' states came from a run of this Run call (see
// RunInput.Resumed). A body's entry counts as the loop node's run, so body nodes are never ready at the start.
func (s *scope) readyAtStart(n *planNode) bool {
	for _, p := range n.parents {
		if st := s.parentState(p); st != nil && st.thisPass {
			return false
		}
	}
	return true
}

func (s *scope) parentState(from int) *settled {
	if from == s.g.owner {
		return s.entry
	}
	if li := s.g.local[from]; li >= 0 {
		return s.outs[li].Load()
	}
	return nil
}

// inputFrom builds a node's input from the parents that delivered, reusing their encoded outputs.
func (s *scope) inputFrom(n *planNode, from []int) (any, json.RawMessage) {
	if len(n.parents) == 1 {
		st := s.parentState(from[0])
		return st.data, st.raw
	}
	nodes := s.ex.plan.nodes
	data := make(map[string]any, len(from))
	size := 2
	for _, p := range from {
		size += len(nodes[p].ID) + 4 + len(s.parentState(p).raw)
	}
	raw := make([]byte, 0, size)
	raw = append(raw, '{')
	for k, p := range from {
		st := s.parentState(p)
		data[nodes[p].ID] = st.data
		if k > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, '"')
		raw = append(raw, nodes[p].ID...) // ids are [A-Za-z0-9_-]: no escaping needed
		raw = append(raw, '"', ':')
		raw = append(raw, orNull(st.raw)...)
	}
	raw = append(raw, '}')
	return data, raw
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return jsonNull
	}
	return raw
}

// skip settles a node as skipped and records it, unless it already was.
func (s *scope) skip(n *planNode, in nodeInput) *settled {
	st := &settled{status: NodeSkipped, thisPass: !in.readyAtStart}
	if rec := s.ex.recorded[keyOf(n.idx, s.item)]; rec != nil && rec.Status == NodeSkipped {
		return st
	}
	now := s.ex.now()
	s.finish(context.Background(), n, NodeRun{
		NodeID: n.ID, Type: n.Type, Status: NodeSkipped, ItemIndex: s.item, StartedAt: now, FinishedAt: now,
	})
	return st
}

// reuse turns a recorded run into the node's state, or returns nil when the node must run again (a run recorded
// as running by a crashed worker).
func (s *scope) reuse(n *planNode, rec *NodeRun, in nodeInput) *settled {
	switch rec.Status {
	case NodeSucceeded:
		st := &settled{status: NodeSucceeded, deliver: true, port: rec.Port, raw: rec.Output}
		if len(rec.Output) > 0 {
			var err error
			if st.data, err = value.Decode(rec.Output, s.ex.x.maxDepth+1); err != nil {
				return nil // unreadable record: run again rather than feed children garbage
			}
		}
		s.addView(st)
		return st
	case NodeSkipped:
		return &settled{status: NodeSkipped}
	case NodeFailed:
		return s.failed(n, rec.Error, false)
	case NodeRunning:
		if !n.typ.Waits {
			return nil
		}
		var parked struct {
			ResumeAt time.Time `json:"resume_at"`
		}
		if err := json.Unmarshal(rec.Output, &parked); err != nil || parked.ResumeAt.IsZero() {
			return nil
		}
		now := s.ex.now()
		if now.Before(parked.ResumeAt) {
			s.ex.park(parked.ResumeAt)
			return &settled{status: NodeRunning}
		}
		st := &settled{status: NodeSucceeded, deliver: true, data: in.data, raw: orNull(in.raw)}
		s.addView(st)
		run := *rec
		run.Status, run.Port, run.Input, run.Output, run.FinishedAt = NodeSucceeded, PortDefault, in.raw, st.raw, now
		s.finish(context.Background(), n, run)
		return st
	}
	return nil
}

func (s *scope) addView(st *settled) {
	if s.ex.plan.usesNodes {
		st.view = map[string]any{"output": st.data}
	}
}

// failed settles a node whose final attempt failed, applying its on_error.
func (s *scope) failed(n *planNode, msg string, canceled bool) *settled {
	st := &settled{status: NodeFailed}
	if canceled {
		return st
	}
	switch n.OnError {
	case OnErrorContinue:
		st.deliver, st.anyPort = true, true
	case OnErrorRoute:
		st.deliver, st.port = true, PortError
	default:
		s.fail(n.ID, msg)
		return st
	}
	st.data = map[string]any{"error": msg}
	st.raw, _ = json.Marshal(st.data)
	s.addView(st)
	return st
}

// finish hands a run over: to the Recorder at once for side-effecting types, else to the batch in RunResult.
func (s *scope) finish(ctx context.Context, n *planNode, run NodeRun) {
	ex := s.ex
	if n.typ.SideEffects && ex.in.Recorder != nil && run.Status != NodeSkipped {
		// Record even when the execution is being cancelled: the side effect has happened.
		if err := ex.in.Recorder.RecordNode(context.WithoutCancel(ctx), run); err != nil {
			ex.recordFailed(fmt.Errorf("record run of node %q: %w", n.ID, err))
		}
	} else if s.batch != nil {
		s.batch.mu.Lock()
		s.batch.runs = append(s.batch.runs, run)
		s.batch.mu.Unlock()
	} else {
		ex.addRuns(run)
	}
	if ex.in.Observer != nil {
		ex.in.Observer.ObserveNode(ctx, NodeEvent{Kind: NodeEventFinished, Run: run})
	}
}

// addRuns adds runs to those recorded when the execution's pass ends.
func (ex *execution) addRuns(runs ...NodeRun) {
	ex.mu.Lock()
	ex.runs = append(ex.runs, runs...)
	ex.mu.Unlock()
}

// recordFailed notes that a run could not be recorded: the execution stops, and Run returns err.
func (ex *execution) recordFailed(err error) {
	ex.mu.Lock()
	if ex.recordErr == nil {
		ex.recordErr = err
	}
	ex.mu.Unlock()
	ex.halt.Store(true)
}

func (ex *execution) park(until time.Time) {
	ex.mu.Lock()
	if ex.parkedUntil.IsZero() || until.Before(ex.parkedUntil) {
		ex.parkedUntil = until
	}
	ex.mu.Unlock()
}

// execute runs a node, with its retries, and returns its final state, or nil when the scope halted before the
// node got a place to run in: like a node that was never ready, it has no run.
func (s *scope) execute(ctx context.Context, i int, in nodeInput) *settled {
	ex := s.ex
	n := ex.plan.nodes[i]
	run := NodeRun{NodeID: n.ID, Type: n.Type, ItemIndex: s.item, Input: in.raw, StartedAt: ex.now()}
	if in.readyAtStart {
		run.RanAgain = ex.in.Resumed
	}
	if ex.in.Tracer != nil {
		var end func(NodeRun)
		ctx, end = ex.in.Tracer.StartNode(ctx, run)
		defer func() { end(run) }()
	}
	input := Input{NodeID: n.ID, Data: in.data, JSON: in.raw, Env: s.env, Services: ex.in.Services}

	var res attemptResult
	for {
		run.Attempt++
		input.Attempt = run.Attempt
		started := func() {
			if ex.in.Observer != nil {
				ev := run
				ev.Status = NodeRunning
				ex.in.Observer.ObserveNode(ctx, NodeEvent{Kind: NodeEventStarted, Run: ev})
			}
		}
		previous := res
		res = s.attempt(ctx, n, input, started)
		if res.err == errHalted {
			if run.Attempt == 1 {
				return nil
			}
			run.Attempt--
			res = previous // a retry that never started: the last attempt's failure stands
			break
		}
		if res.err == nil || ctx.Err() != nil || IsPermanent(res.err) || run.Attempt >= n.retry.maxAttempts {
			break
		}
		res.releasePlace() // waiting between retries holds no place
		wait := ex.x.retryWait(n.retry, run.Attempt, res.err)
		if ex.in.Observer != nil {
			ev := run
			ev.Status, ev.Error, ev.FinishedAt = NodeFailed, res.err.Error(), ex.now()
			ex.in.Observer.ObserveNode(ctx, NodeEvent{Kind: NodeEventRetrying, Run: ev, RetryIn: wait})
		}
		if err := ex.x.opts.Sleep(ctx, wait); err != nil {
			break
		}
	}

	if res.err == nil {
		res.releasePlace() // a loop's body needs the places
	}
	if res.err == nil && res.out.Loop != nil {
		res.data, res.raw, res.err = s.runLoop(ctx, n, res.out.Loop)
		res.out.Port = PortDone
	}
	if res.err == nil && !res.out.ParkUntil.IsZero() && res.out.ParkUntil.After(ex.now()) {
		return s.parkNode(ctx, n, run, res.out.ParkUntil)
	}

	run.FinishedAt = ex.now()
	if res.err != nil {
		canceled := ctx.Err() != nil
		if canceled {
			ex.interrupted.Store(true)
		}
		run.Status, run.Error = NodeFailed, res.err.Error()
		st := s.failed(n, run.Error, canceled)
		// Only now that a stopping failure has halted the scope: a branch waiting for this place must find it
		// halted, not start.
		res.releasePlace()
		st.thisPass = true
		s.finish(ctx, n, run)
		return st
	}
	run.Status, run.Port, run.Output = NodeSucceeded, res.out.Port, res.raw
	st := &settled{status: NodeSucceeded, deliver: true, port: res.out.Port, data: res.data, raw: res.raw, thisPass: true}
	s.addView(st)
	s.finish(ctx, n, run)
	return st
}

// parkNode records a node that asked to wait: it stays running, with its resume time as output, until a later Run
// past that time completes it.
func (s *scope) parkNode(ctx context.Context, n *planNode, run NodeRun, until time.Time) *settled {
	if s.item != nil {
		// Validation keeps waiting types out of loop bodies; a type that parks without saying so lands here.
		run.Status, run.Error, run.FinishedAt = NodeFailed, "a node inside a loop body cannot wait", s.ex.now()
		st := s.failed(n, run.Error, false)
		st.thisPass = true
		s.finish(ctx, n, run)
		return st
	}
	s.ex.park(until)
	run.Status = NodeRunning
	run.Output, _ = json.Marshal(map[string]time.Time{"resume_at": until.UTC()})
	s.finish(ctx, n, run)
	return &settled{status: NodeRunning, thisPass: true}
}

type attemptResult struct {
	out  Output
	data any
	raw  json.RawMessage
	err  error
	// place is the semaphore the attempt still holds a place of: the caller frees it with releasePlace once the
	// attempt's outcome is settled, so that a failure halts the scope before a waiting branch can take the place.
	place chan struct{}
}

// releasePlace frees the place the attempt held, once.
func (r *attemptResult) releasePlace() {
	if r.place != nil {
		<-r.place
		r.place = nil
	}
}

// errHalted is attempt's answer when the scope halted while the attempt waited for a place: it never started.
var errHalted = errors.New("halted before the node started")

// attempt runs one attempt of a node, holding a concurrency place only while its code runs; started is called
// once it holds one. Thousands of parallel branches wait here: once a failure halts the scope, none of those
// still waiting start.
func (s *scope) attempt(ctx context.Context, n *planNode, in Input, started func()) (res attemptResult) {
	ex := s.ex
	select {
	case ex.sem <- struct{}{}:
	case <-ctx.Done():
		return attemptResult{err: ctx.Err()}
	}
	if s.halted() {
		<-ex.sem
		return attemptResult{err: errHalted}
	}
	started()
	// A timer per attempt is most of a pure node's cost, and pure nodes do no I/O by contract: their expressions
	// and jq programs are bounded by the sandbox's limits, and the execution's deadline bounds the rest. So only
	// side-effecting nodes, and nodes with a timeout of their own, get one.
	actx, cancel := ctx, context.CancelFunc(nil)
	timeout := n.Timeout.Std()
	if timeout <= 0 && n.typ.SideEffects {
		timeout = ex.x.opts.DefaultNodeTimeout
	}
	if timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer func() {
		if cancel != nil {
			cancel()
		}
		if r := recover(); r != nil {
			res = attemptResult{err: Permanent(&panicError{value: r})}
		}
		res.place = ex.sem
	}()
	res.out, res.err = n.run.Run(actx, in)
	if res.err != nil {
		if errors.Is(res.err, context.DeadlineExceeded) && actx.Err() != nil && ctx.Err() == nil {
			res.err = fmt.Errorf("timed out after %s: %w", timeout, res.err)
		}
		return res
	}
	if res.out.Loop != nil {
		if !n.typ.Loop {
			res.err = Permanent(fmt.Errorf("type %s returned loop items but is not a looping type", n.Type))
		}
		return res
	}
	if !res.out.ParkUntil.IsZero() && !n.typ.Waits {
		res.err = Permanent(fmt.Errorf("type %s asked to wait but is not a waiting type", n.Type))
		return res
	}
	if !slices.Contains(n.ports, res.out.Port) {
		res.err = Permanent(fmt.Errorf("type %s chose port %q, which node %q does not have", n.Type, res.out.Port, n.ID))
		return res
	}
	res.data, res.raw, res.err = encodeOutput(res.out, ex.x.maxDepth, ex.x.opts.MaxOutputBytes)
	return res
}

// ErrOutputTooLarge is the cause of a node failed for an output larger than ExecutorOptions.MaxOutputBytes. Its
// text is the setting's name: the node's error reads "output is larger than NODE_OUTPUT_MAX (<n> bytes)", and the
// execution's names the node.
var ErrOutputTooLarge = errors.New("NODE_OUTPUT_MAX")

// encodeOutput gives an output's data both as JSON-shaped values (for children and expressions) and encoded (for
// the record), encoding at most once. Every output passes here, so this is where the depth and size limits hold
// for values of any origin: an output nested deeper than maxDepth or larger than limit fails its node, and is
// refused without being encoded whole.
func encodeOutput(out Output, maxDepth, limit int) (any, json.RawMessage, error) {
	data, raw := out.Data, out.JSON
	if raw == nil {
		var err error
		if raw, err = value.AppendJSON(nil, data, maxDepth, limit); err != nil {
			var le *value.LimitError
			if errors.As(err, &le) && le.Limit == value.LimitDepth {
				return nil, nil, Permanent(fmt.Errorf("output is nested deeper than %d levels, the limit", maxDepth))
			}
			if errors.As(err, &le) {
				return nil, nil, outputTooLarge(limit)
			}
			return nil, nil, Permanent(fmt.Errorf("output cannot be encoded as JSON: %w", err))
		}
		if !isPlain(data, 0) {
			if data, err = value.Decode(raw, maxDepth); err != nil {
				return nil, nil, Permanent(fmt.Errorf("output cannot be decoded: %w", err))
			}
		}
	} else if data == nil && string(raw) != "null" {
		var err error
		if data, err = value.Decode(raw, maxDepth); err != nil {
			return nil, nil, Permanent(fmt.Errorf("output JSON is invalid: %w", err))
		}
	}
	if len(raw) > limit {
		return nil, nil, outputTooLarge(limit)
	}
	return data, raw, nil
}

// outputTooLarge is the error of a node whose output is larger than limit.
func outputTooLarge(limit int) error {
	return Permanent(fmt.Errorf("output is larger than %w (%d bytes)", ErrOutputTooLarge, limit))
}

// isPlain reports whether v holds only the types expressions and jq read, so it can be handed on without a JSON
// round trip.
func isPlain(v any, depth int) bool {
	if depth > 100 {
		return false
	}
	switch x := v.(type) {
	case nil, bool, string, float64, int, json.Number:
		return true
	case map[string]any:
		for _, e := range x {
			if !isPlain(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !isPlain(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// retryWait is the wait before the attempt after the given one: a RetryAfter hint if the error carries one, else
// exponential (or fixed) backoff with full jitter.
func (x *Executor) retryWait(p retryPolicy, attempt int, err error) time.Duration {
	if d, ok := retryAfterOf(err); ok {
		return min(max(d, 0), MaxRetryInterval)
	}
	ceiling := p.initial
	if p.exponential {
		for k := 1; k < attempt && ceiling < p.max; k++ {
			ceiling *= 2
		}
	}
	return x.opts.Jitter(min(ceiling, p.max))
}

// panicError turns a panicking node into a failed one instead of a crashed worker.
type panicError struct{ value any }

// Error says the node panicked and with what, so the bug is visible in the run's record.
func (e *panicError) Error() string { return fmt.Sprintf("node panicked: %v", e.value) }

// runLoop runs a loop node's body once per item and collects, in item order, what the body's last nodes produced.
// Items whose body delivered nothing (a filtering if inside) are left out. A failing item stops the loop: items
// already running finish, no new ones start, and the loop node fails with the item's error.
func (s *scope) runLoop(ctx context.Context, n *planNode, loop *Loop) (any, json.RawMessage, error) {
	items, count := loop.Items, len(loop.Items)
	var batches *batchLoop
	if loop.Batches != nil {
		if s.item != nil {
			return nil, nil, Permanent(errors.New("a loop over batches cannot run inside another loop's body"))
		}
		batches, count = &batchLoop{Batches: loop.Batches, node: n}, loop.Batches.Count
	}
	results := make([]*settled, count)
	var stop atomic.Bool
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	work := func() {
		for !stop.Load() && !s.halted() {
			k := int(next.Add(1) - 1)
			if k >= count {
				return
			}
			if ctx.Err() != nil {
				s.ex.interrupted.Store(true)
				return
			}
			var res *settled
			var err error
			if batches != nil {
				res, err = s.runBatch(ctx, batches, k, &stop)
			} else {
				res, err = s.runItem(ctx, n, k, items[k], &stop, s.batch)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				stop.Store(true)
				return
			}
			results[k] = res
		}
	}
	workers := min(max(loop.Concurrency, 1), count)
	if workers <= 1 {
		work()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if e := firstErr.Load(); e != nil {
		return nil, nil, Permanent(*e)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.halted() {
		return nil, nil, errors.New("execution stopped during the loop")
	}
	data := make([]any, 0, count)
	raw := []byte{'['}
	for _, r := range results {
		if r == nil {
			continue
		}
		if len(data) > 0 {
			raw = append(raw, ',')
		}
		data = append(data, r.data)
		raw = append(raw, orNull(r.raw)...)
	}
	raw = append(raw, ']')
	if len(raw) > s.ex.x.opts.MaxOutputBytes {
		return nil, nil, Permanent(fmt.Errorf("loop results are %d bytes, more than the %d allowed", len(raw), s.ex.x.opts.MaxOutputBytes))
	}
	return data, raw, nil
}

// runItem runs the body of loop n for one item and returns what the body's sinks delivered (nil if nothing). The
// body's runs go to batch when it is set (see scope.batch).
func (s *scope) runItem(ctx context.Context, n *planNode, k int, item any, stop *atomic.Bool, batch *batchRuns) (*settled, error) {
	raw, err := value.AppendJSON(nil, item, s.ex.x.maxDepth, s.ex.x.opts.MaxOutputBytes)
	if err != nil {
		return nil, Permanent(fmt.Errorf("item %d cannot be encoded: %w", k, err))
	}
	if !isPlain(item, 0) {
		item, _ = value.Decode(raw, s.ex.x.maxDepth)
	}
	idx := k
	env := *s.env
	env.Item, env.ItemIndex = item, &idx
	body := newScope(s.ex, n.body, s, &env, &idx, stop)
	body.batch = batch
	env.scope = body
	body.entry = &settled{status: NodeSucceeded, deliver: true, port: PortBody, data: item, raw: raw, thisPass: true}
	body.run(ctx)
	if f := body.failure.Load(); f != nil {
		return nil, fmt.Errorf("item %d: node %q failed: %s", k, f.nodeID, f.msg)
	}
	return body.collect(), nil
}

// collect returns what the scope's sinks delivered: the one sink's output, an object keyed by sink id when several
// delivered, or nil when none did.
func (s *scope) collect() *settled {
	nodes := s.ex.plan.nodes
	var buf [4]*settled
	var ids [4]string
	got, names := buf[:0], ids[:0]
	for _, i := range s.g.sinks {
		if st := s.outs[s.g.local[i]].Load(); st != nil && st.deliver {
			got = append(got, st)
			names = append(names, nodes[i].ID)
		}
	}
	switch {
	case len(got) == 0:
		return nil
	case len(s.g.sinks) == 1:
		return got[0]
	}
	data := make(map[string]any, len(got))
	raw := []byte{'{'}
	for k, st := range got {
		data[names[k]] = st.data
		if k > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, '"')
		raw = append(raw, names[k]...)
		raw = append(raw, '"', ':')
		raw = append(raw, orNull(st.raw)...)
	}
	raw = append(raw, '}')
	return &settled{status: NodeSucceeded, deliver: true, data: data, raw: raw}
}

// result turns the execution's final state into a RunResult.
func (ex *execution) result(ctx context.Context, top *scope) (RunResult, error) {
	ex.mu.Lock()
	res := RunResult{NodeRuns: ex.runs}
	recordErr, parked := ex.recordErr, ex.parkedUntil
	ex.mu.Unlock()
	if recordErr != nil {
		res.Status, res.Error = ExecutionFailed, recordErr.Error()
		return res, recordErr
	}
	f := top.failure.Load()
	switch err := ctx.Err(); {
	case err != nil && ex.interrupted.Load() && errors.Is(err, context.DeadlineExceeded):
		res.Status, res.Error = ExecutionFailed, ErrExecutionTimedOut
	case err != nil && ex.interrupted.Load():
		res.Status, res.Error = ExecutionCanceled, "execution canceled"
	case f != nil:
		res.Status, res.Error, res.FailedNodeID = ExecutionFailed, fmt.Sprintf("node %q failed: %s", f.nodeID, f.msg), f.nodeID
	case !parked.IsZero():
		res.Status, res.ResumeAt = ExecutionWaiting, parked
	default:
		res.Status = ExecutionSucceeded
		if out := top.collect(); out != nil {
			res.Output = orNull(out.raw)
		}
	}
	return res, nil
}
