package engine

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/concertmaster/concertmaster/engine/sandbox"
)

// Category groups node types in the editor's palette and in validation: a workflow has exactly one trigger.
type Category string

// The categories, in the order the palette shows them.
const (
	CategoryTrigger   Category = "trigger"
	CategoryTransform Category = "transform"
	CategoryCondition Category = "condition"
	CategoryAction    Category = "action"
)

// rank orders categories the way a workflow reads: trigger first, actions last.
func (c Category) rank() int {
	switch c {
	case CategoryTrigger:
		return 0
	case CategoryTransform:
		return 1
	case CategoryCondition:
		return 2
	case CategoryAction:
		return 3
	}
	return 4
}

// Port names with a meaning to the run loop.
const (
	// PortDefault is the single output of nodes that do not branch.
	PortDefault = ""
	// PortError is added to every node whose on_error is "error".
	PortError = "error"
	// PortBody and PortDone belong to looping types (NodeType.Loop): the body runs once per item, done once after.
	PortBody = "body"
	PortDone = "done"
)

// NodeType is one kind of node, registered once per process. It is the single source of truth for the editor's
// palette, the config forms (generated from ConfigSchema), the API's node catalogue and the run loop, which is why
// it carries its documentation alongside its code.
type NodeType struct {
	// Name is the type as written in definitions, "category.name" such as "transform.data".
	Name     string   `json:"name"`
	Category Category `json:"category"`
	Title    string   `json:"title"`
	// Description is one or two sentences for the palette's tooltip.
	Description string `json:"description"`
	// ConfigSchema is a JSON Schema (draft 2020-12) for the node's config; it is compiled once at Register.
	ConfigSchema json.RawMessage `json:"config_schema"`
	// Ports lists the output ports; empty means the single default port "". Types whose ports depend on their
	// config (condition.switch) set PortsFor as well, and Ports then lists the ports every config has.
	Ports []string `json:"ports"`
	// PortsFor, when set, returns the ports of one (schema-valid) config; validation and the run loop use it.
	PortsFor func(cfg json.RawMessage) []string `json:"-"`
	// SideEffects marks types that change the world (send mail, call APIs). Their runs are recorded through the
	// Recorder the moment they finish, so that a crash afterwards never repeats them.
	SideEffects bool `json:"side_effects"`
	// Loop marks types that iterate: their Output.Loop items each run the nodes behind PortBody, and PortDone
	// receives the collected results. Such types must have exactly the ports body and done.
	Loop bool `json:"loop,omitempty"`
	// Waits marks types that may park the execution (Output.ParkUntil). They are refused inside loop bodies,
	// where there is no single point to resume from.
	Waits bool `json:"waits,omitempty"`
	// Example is a valid config, shown in the catalogue and checked against ConfigSchema at Register.
	Example json.RawMessage `json:"example"`
	// Compile turns one node's config into a Runnable, once per workflow version. The config has already passed
	// ConfigSchema. Expressions are compiled through c so that their errors name the node and field; other
	// config errors can be reported with ConfigError. Compile runs at save time too, so it must not do I/O.
	Compile func(cfg json.RawMessage, c *Compiler) (Runnable, error) `json:"-"`
}

// portsOf returns the output ports of a node of this type with the given config, not counting the error port.
func (t *NodeType) portsOf(cfg json.RawMessage) []string {
	if t.PortsFor != nil {
		return t.PortsFor(cfg)
	}
	if len(t.Ports) == 0 {
		return []string{PortDefault}
	}
	return t.Ports
}

// Runnable is a node compiled for one workflow version. It is shared by every execution of that version, possibly
// at the same time, so Run must not keep state between calls.
type Runnable interface {
	Run(ctx context.Context, in Input) (Output, error)
}

// RunnableFunc adapts a function to Runnable, for node types whose compiled form is a closure.
type RunnableFunc func(ctx context.Context, in Input) (Output, error)

// Run calls f.
func (f RunnableFunc) Run(ctx context.Context, in Input) (Output, error) { return f(ctx, in) }

// Input is what a node gets for one attempt.
//
// Data is shared with the producing node and with siblings that run at the same time: a node must treat it as
// read-only and build a new value for its output.
type Input struct {
	// NodeID is the id of the node being run, for logs and error messages.
	NodeID string
	// Data is the parent's output, or an object keyed by parent id when the node has several parents. Values are
	// JSON-shaped: map[string]any, []any, string, float64 (or int), bool, nil.
	Data any
	// JSON is Data encoded, so that a node passing its input through (conditions, delays) does not encode it again.
	JSON json.RawMessage
	// Attempt counts from 1.
	Attempt int
	// Env is the execution around the node: trigger, finished nodes, loop item.
	Env *Env
	// Services are the outside world the caller lets nodes use; any field may be nil.
	Services *Services
}

// Vars returns the variables expressions see for this input. Build it once per Run and reuse it for every
// expression the node evaluates: it caches the lookup maps.
func (in Input) Vars() *Vars {
	v := newVars(in.Env, in.Data)
	v.raw = in.JSON
	return v
}

// Logger returns the services' logger annotated with the execution and node ids, or a discarding logger. It is
// built on demand because most runs never log.
func (in Input) Logger() *slog.Logger {
	var l *slog.Logger
	if in.Services != nil && in.Services.Logger != nil {
		l = in.Services.Logger
	} else {
		return slog.New(slog.DiscardHandler)
	}
	attrs := []any{slog.String("node_id", in.NodeID)}
	if in.Env != nil {
		attrs = append(attrs, slog.String("execution_id", in.Env.Execution.ID))
	}
	return l.With(attrs...)
}

// Output is what a node produced.
type Output struct {
	// Data becomes the input of the children on Port. It must be JSON-encodable; the engine encodes it once to
	// record it and decodes it again only if it holds non-JSON Go types (structs, typed slices), which expressions
	// and jq cannot read.
	Data any
	// JSON, when set, is Data already encoded; the engine trusts it and skips encoding. Pass-through nodes set it
	// to Input.JSON, triggers to Env.TriggerJSON.
	JSON json.RawMessage
	// Port is the output port taken; "" for the default port.
	Port string
	// ParkUntil, when after now, parks the execution until then (condition.delay): the result is waiting, no
	// goroutine or worker slot is held, and when the caller runs the execution again past that time the node
	// completes with its input as output. A time not after now is ignored. Only types marked Waits may park.
	ParkUntil time.Time
	// Loop, for types marked Loop, lists the items to run the body for. Data and Port are then ignored: the node's
	// output becomes the collected results, on PortDone.
	Loop *Loop
}

// Loop is the work a looping node hands to the run loop.
type Loop struct {
	Items []any
	// Concurrency bounds how many items run at once; below 1 means one at a time, in order.
	Concurrency int
}

// ExecutionInfo identifies the execution a node runs in; expressions see it as `execution`.
type ExecutionInfo struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	Version    int64  `json:"version"`
	// OrganizationID is not shown to expressions; the sandbox shares its runners fairly between organizations.
	OrganizationID string `json:"-"`
}

// Env is the execution around a node: what an expression can see besides the node's own input. There is one Env
// per execution and one per loop item, so building an Input costs no copying of outputs.
type Env struct {
	// Trigger is the trigger data (webhook {body, headers, query, method}, form submission, …), decoded once.
	Trigger any
	// TriggerJSON is Trigger as given by the caller, kept so triggers can output it without encoding it again.
	TriggerJSON json.RawMessage
	Execution   ExecutionInfo
	// Item and ItemIndex are set inside a loop body; ItemIndex is nil elsewhere.
	Item      any
	ItemIndex *int

	scope   *scope
	now     func() time.Time
	sandbox *sandbox.Pool
}

// Now returns the executor's clock, so that nodes computing times (delays) can be tested without waiting.
func (e *Env) Now() time.Time {
	if e == nil || e.now == nil {
		return time.Now()
	}
	return e.now()
}

// Output returns the output of a node that has finished in this execution (inside a loop body, in this item's
// iteration first). Nodes still running, skipped or parked are absent: what a node sees never depends on timing
// more than the graph allows.
func (e *Env) Output(nodeID string) (any, bool) {
	if e == nil || e.scope == nil {
		return nil, false
	}
	st := e.scope.lookup(nodeID)
	if st == nil || !st.delivers() {
		return nil, false
	}
	return st.data, true
}

// Services is the outside world handed to nodes for one execution. It is supplied by the caller per execution (so
// organization-scoped things such as integrations are already narrowed to the right tenant) and any field may be
// nil when the caller has no such service; a node needing a missing one should return a Permanent error. Types
// that need process-wide dependencies not listed here can capture them in their Compile closure when registered.
type Services struct {
	HTTP         HTTPClient
	Mailer       Mailer
	Storage      Storage
	Integrations Integrations
	// Logger is the execution's logger; Input.Logger adds the node id.
	Logger *slog.Logger
}

// HTTPClient is the part of *http.Client the HTTP node needs; the caller supplies one that refuses private
// addresses unless an admin allowed them.
type HTTPClient interface {
	Do(req *http.Request) (*http.Response, error)
}

// Mailer sends one e-mail (through SMTP, or a River job that does).
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Mail is one message for a Mailer.
type Mail struct {
	IntegrationID string
	From          string
	To, Cc, Bcc   []string
	Subject       string
	Text, HTML    string
	Attachments   []Attachment
}

// Attachment is a file attached to a Mail.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Storage keeps files (uploads, exports) outside the execution's JSON, which stays small.
type Storage interface {
	// Put stores a file and returns a reference that a later Open (or a download link) accepts.
	Put(ctx context.Context, name, contentType string, r io.Reader) (ref string, err error)
	Open(ctx context.Context, ref string) (io.ReadCloser, error)
}

// Integrations resolves an integration id from a node config to its decrypted settings. It is scoped to the
// execution's organization by the caller, so a node cannot reach another tenant's credentials.
type Integrations interface {
	Integration(ctx context.Context, id string) (Integration, error)
}

// Integration is a stored connection (SMTP server, API key, database) with its secrets decrypted.
type Integration struct {
	ID       string
	Kind     string
	Settings json.RawMessage
}
