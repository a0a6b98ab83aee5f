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
	// Beta marks a type still being proven: the catalogue and the palette say so, and a feature flag
	// (node.<type>) lets an operator switch it off per organization.
	Beta bool `json:"beta,omitempty"`
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
	// DefaultRetry is the retry policy of a node of this type that sets none of its own: action.email retries an
	// SMTP server that is down or answers 4xx. Nil means one attempt. A node's own retry policy, even max_attempts
	// 1, replaces it.
	DefaultRetry *RetryPolicy `json:"-"`
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
	// Batches, when set, replaces Items: the body runs once per batch, each loaded only when its turn comes, so
	// that a loop over a file far larger than memory holds a few batches at a time.
	Batches *Batches
}

// Batches is a loop over batches loaded on demand (the pages of a large file). Each finished batch is a durable
// checkpoint: the runs of its body and a checkpoint run of the loop node (ItemIndex the batch, Port PortBatch, its
// output a BatchCheckpoint) go to RunInput.Batches together, so a resumed execution skips the batches it finished,
// without loading them, and reuses their results. A loop over batches cannot run inside another loop's body,
// whose items would share the checkpoints' indexes.
type Batches struct {
	// Count is the number of batches.
	Count int
	// Total is the size of every batch together, in Unit ("rows", or "bytes" when rows are not counted); Size
	// gives one batch's. They feed the execution's progress.
	Total int64
	Unit  string
	Size  func(k int) int64
	// Load reads batch k: the item the body runs with. It is called once per batch not finished before.
	Load func(ctx context.Context, k int) (any, error)
}

// PortBatch is the port recorded on a batch's checkpoint run. No node has it, so no edge can follow it.
const PortBatch = "batch"

// BatchCheckpoint is the output of a batch's checkpoint run.
type BatchCheckpoint struct {
	Batch   int    `json:"batch"`
	Batches int    `json:"batches"`
	Size    int64  `json:"size"`
	Total   int64  `json:"total"`
	Unit    string `json:"unit"`
	// Result is what the batch's body delivered, absent when it delivered nothing (a filtering body).
	Result json.RawMessage `json:"result,omitempty"`
}

// BatchRecorder stores a finished batch of a loop over batches: its runs (the body's, the checkpoint run last, and
// any runs of the execution not recorded yet) in one transaction, so the checkpoint exists exactly when the runs
// do. An error stops the execution and makes Run return it, as a Recorder's does.
type BatchRecorder interface {
	RecordBatch(ctx context.Context, runs []NodeRun) error
}

// BatchRecorderFunc adapts a function to BatchRecorder.
type BatchRecorderFunc func(ctx context.Context, runs []NodeRun) error

// RecordBatch calls f.
func (f BatchRecorderFunc) RecordBatch(ctx context.Context, runs []NodeRun) error {
	return f(ctx, runs)
}

// Progress is how far an execution's loop over batches has come.
type Progress struct {
	// NodeID is the loop node.
	NodeID string `json:"node_id"`
	// Done and Total are in Unit: rows, or bytes.
	Done  int64  `json:"done"`
	Total int64  `json:"total"`
	Unit  string `json:"unit"`
	// BatchesDone of Batches have finished.
	BatchesDone int `json:"batches_done"`
	Batches     int `json:"batches"`
}

// ProgressOf reads the progress of an execution from its recorded runs: the checkpoints of its loop over batches
// (of the one checkpointed last, when there are several). Nil when there are none.
func ProgressOf(runs []NodeRun) *Progress {
	var last time.Time
	by := map[string]*Progress{}
	var latest *Progress
	for _, r := range runs {
		if r.Port != PortBatch || r.ItemIndex == nil || r.Status != NodeSucceeded {
			continue
		}
		var c BatchCheckpoint
		if json.Unmarshal(r.Output, &c) != nil {
			continue
		}
		p := by[r.NodeID]
		if p == nil {
			p = &Progress{NodeID: r.NodeID, Total: c.Total, Unit: c.Unit, Batches: c.Batches}
			by[r.NodeID] = p
		}
		p.Done += c.Size
		p.BatchesDone++
		if latest == nil || r.FinishedAt.After(last) {
			latest, last = p, r.FinishedAt
		}
	}
	return latest
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

// Services is the outside world handed to nodes for one execution: every capability a node may use is a field
// here, and a node uses nothing else (no type assertions on these fields for richer interfaces). It is supplied by
// the caller per execution, so organization-scoped things (integrations, files, cached responses, database
// connections) are already narrowed to the right tenant. Any field may be nil when the caller has no such service:
// a node that needs a missing one fails with a Permanent error naming it, except where a field says what a nil
// means instead. A node type needing a process-wide dependency of its own, rather than a service of the
// execution, captures it in its Compile closure when registered.
type Services struct {
	HTTP         HTTPClient
	Mailer       Mailer
	Storage      Storage
	Integrations Integrations
	// RateLimiter applies integrations' rate limits. A node using an integration with a rate limit fails when it
	// is nil rather than call the integration unmetered.
	RateLimiter RateLimiter
	// ResponseCache keeps responses that nodes may reuse (action.http's cache_ttl); nil caches nothing, and every
	// run sends its request.
	ResponseCache ResponseCache
	// Databases runs statements on database integrations (action.database).
	Databases Databases
	// Logger is the execution's logger; Input.Logger adds the node id.
	Logger *slog.Logger
}

// HTTPClient is the part of *http.Client the HTTP node needs; the caller supplies one that refuses private
// addresses unless an admin allowed them.
type HTTPClient interface {
	Do(req *http.Request) (*http.Response, error)
}

// Mailer sends e-mail through the execution's SMTP integrations.
type Mailer interface {
	// Send sends m through the integration m.IntegrationID and records its delivery against m.NodeID. The receipt
	// is returned with the error too when the message was recorded before it failed.
	Send(ctx context.Context, m Mail) (MailReceipt, error)
}

// Mail is one message for a Mailer.
type Mail struct {
	// NodeID is the node sending it, for the delivery record.
	NodeID        string
	IntegrationID string
	From          string
	To, Cc, Bcc   []string
	Subject       string
	Text, HTML    string
	Attachments   []Attachment
	// IdempotencyKey is the sending node run's key (Input.IdempotencyKey): every sending of the run carries the same
	// Message-ID, and a Mailer that records deliveries finds the run's earlier ones by it.
	IdempotencyKey string
	// ResendIfUnknown sends the message again (same Message-ID) when an earlier pass of the run may or may not
	// have sent it; otherwise such a run fails rather than risk a second delivery.
	ResendIfUnknown bool
}

// MailReceipt is what became of a message a Mailer sent.
type MailReceipt struct {
	// DeliveryID is the id of the delivery record, empty when the Mailer keeps none.
	DeliveryID string
	// MessageID is the message's Message-ID header; SMTPReply the server's answer to it.
	MessageID string
	SMTPReply string
}

// Attachment is a file attached to a Mail.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Storage keeps files (uploads, exports) outside the execution's JSON, which stays small. References are scoped
// to the execution's organization: another tenant's reference (or a made-up one) is not found.
type Storage interface {
	// Put stores the file read from r and returns what was stored; its Ref is what Open (or a download link)
	// accepts.
	Put(ctx context.Context, f NewFile, r io.Reader) (File, error)
	// Open returns a stored file and its content; the caller closes the content.
	Open(ctx context.Context, ref string) (File, io.ReadCloser, error)
	// OpenRange returns length bytes of a stored file from offset on (the rest when length is negative): a batch
	// of a large file, read without the bytes before it.
	OpenRange(ctx context.Context, ref string, offset, length int64) (io.ReadCloser, error)
}

// NewFile describes a file for Storage.Put.
type NewFile struct {
	Name        string
	ContentType string
	// Retention is how long the file is kept: 0 is the storage's default, a negative duration forever.
	Retention time.Duration
}

// File is a stored file.
type File struct {
	Ref string
	// ID is the file's record (an upload id), empty when the storage keeps none.
	ID          string
	Filename    string
	ContentType string
	Size        int64
	// ExpiresAt is when the file is deleted; zero means never.
	ExpiresAt time.Time
}

// Integrations resolves an integration id from a node config to its decrypted settings. It is scoped to the
// execution's organization by the caller, so a node cannot reach another tenant's credentials.
type Integrations interface {
	Integration(ctx context.Context, id string) (Integration, error)
}

// Integration is a stored connection (SMTP server, API key, database) with its secrets decrypted.
type Integration struct {
	ID   string
	Kind string
	// Name is the integration's name, for error messages; it may be empty.
	Name string
	// Settings is one JSON object, secrets included.
	Settings json.RawMessage
	// RateLimit is the number of requests allowed per RateInterval, shared by every worker; 0 is unlimited. Nodes
	// take each request from it through Services.RateLimiter.
	RateLimit    int
	RateInterval time.Duration
	// AllowPrivilegedRole lets a database integration connect as a superuser or a member of the roles that reach
	// the server's files and programs; only an instance administrator sets it.
	AllowPrivilegedRole bool
}

// Label names the integration in an error message: its name, or its id when the name is not known.
func (in Integration) Label() string {
	if in.Name != "" {
		return in.Name
	}
	return in.ID
}

// RateLimiter takes requests from integrations' rate limits, counted in windows every worker shares.
type RateLimiter interface {
	// Wait takes one request from in's limit (in.RateLimit per in.RateInterval; none when RateLimit is 0). When
	// the window is full it waits in place for the next one if that is near and fits ctx's deadline, and otherwise
	// returns a RetryAfter error so that the node's retry policy tries again then, holding no concurrency place
	// meanwhile.
	Wait(ctx context.Context, in Integration) error
}

// ResponseCache keeps responses for a while. Keys are chosen by the node; the caller scopes them to the execution's
// organization, so tenants never share entries. A cache that fails reads as a miss: it costs requests, not runs.
type ResponseCache interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	// Set keeps value under key for ttl; a cache may decline values too large for it.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration)
}

// Databases runs statements on database integrations, on connections it keeps per integration.
type Databases interface {
	// Query runs q in a transaction of its own on the database of in (an integration of the execution's
	// organization) and commits it. Errors a retry cannot fix (the statement's own, a refused role) are Permanent.
	Query(ctx context.Context, in Integration, q DatabaseQuery) (DatabaseResult, error)
}

// DatabaseQuery is one statement for Databases.Query.
type DatabaseQuery struct {
	SQL  string
	Args []any
	// Write runs it in a read-write transaction; otherwise the transaction is read-only.
	Write bool
	// Timeout bounds the statement on the server.
	Timeout time.Duration
	// MaxRows stops reading rows after this many; DatabaseResult.Truncated then says so.
	MaxRows int
}

// DatabaseResult is what a statement returned.
type DatabaseResult struct {
	// Rows are JSON-shaped objects keyed by column name.
	Rows      []map[string]any
	Truncated bool
	// Command and RowsAffected are the server's command tag ("INSERT 0 3", 3), known only when every row was read.
	Command      string
	RowsAffected int64
}
