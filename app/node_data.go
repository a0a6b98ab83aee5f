package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/sandbox"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// NodeData is the editor's node view: data pinned to nodes of a workflow's draft, the last test run's per-node
// data, and the live preview of an expression against a node's input. Reading takes seeing the workflow; pinning
// takes editing it. Pins are never read by triggered runs: only Workflows.Run with pins asked for uses them.
type NodeData struct {
	store     *store.Store
	workflows *Workflows
	sandbox   *sandbox.Pool
}

// MaxPinBytes bounds one node's pinned data as JSON text (the table's check says the same): a pin is sample data,
// and every test run carries it.
const MaxPinBytes = 256 << 10

// maxPreviewSourceBytes bounds the source a preview evaluates; the compilers have their own, larger, bounds.
const maxPreviewSourceBytes = 16 << 10

// Pins returns the pinned data of a workflow's nodes.
func (d *NodeData) Pins(ctx context.Context, c Caller, workflowID uuid.UUID) ([]store.NodePin, error) {
	wf, err := d.workflows.Authorized(ctx, c, workflowID, authz.WorkflowView)
	if err != nil {
		return nil, err
	}
	return d.store.NodePinList(ctx, wf.OrganizationID, wf.ID)
}

// Pin pins data as a node's output in the workflow's draft, leaving on port ("" the default port; a branch such
// as "true" for a condition). The node need not be saved yet (a node just added on the canvas), so the port is
// checked against the node when a test run uses the pin: a pin of a node that no longer exists is ignored then.
func (d *NodeData) Pin(ctx context.Context, c Caller, workflowID uuid.UUID, nodeID, port string, data json.RawMessage) (store.NodePin, error) {
	if err := checkNodeID(nodeID); err != nil {
		return store.NodePin{}, err
	}
	if len(port) > 200 || strings.ContainsAny(port, "\x00") {
		return store.NodePin{}, fault.Fields("port is not valid", fault.FieldError{Field: "port", Message: "is not a port name"})
	}
	if len(data) == 0 {
		return store.NodePin{}, fault.Fields("data is required", fault.FieldError{Field: "data", Message: "is required"})
	}
	if len(data) > MaxPinBytes {
		return store.NodePin{}, fault.Fields("pinned data is too large", fault.FieldError{Field: "data",
			Message: fmt.Sprintf("is larger than %d KiB", MaxPinBytes>>10)})
	}
	if err := validate.JSONText("data", data, validate.MaxTriggerDepth); err != nil {
		return store.NodePin{}, err
	}
	wf, err := d.workflows.Authorized(ctx, c, workflowID, authz.WorkflowEdit)
	if err != nil {
		return store.NodePin{}, err
	}
	return d.store.NodePinSet(ctx, wf.OrganizationID, wf.ID, nodeID, port, data, &c.Principal.UserID)
}

// Unpin removes a node's pinned data; NotFound when it had none.
func (d *NodeData) Unpin(ctx context.Context, c Caller, workflowID uuid.UUID, nodeID string) error {
	if err := checkNodeID(nodeID); err != nil {
		return err
	}
	wf, err := d.workflows.Authorized(ctx, c, workflowID, authz.WorkflowEdit)
	if err != nil {
		return err
	}
	return d.store.NodePinDelete(ctx, wf.OrganizationID, wf.ID, nodeID)
}

func checkNodeID(id string) error {
	if id == "" || len(id) > 200 || strings.ContainsAny(id, "\x00/") {
		return fault.Fields("node id is not valid", fault.FieldError{Field: "node_id", Message: "is not a node id"})
	}
	return nil
}

// LastTestRun returns the newest manual run of a workflow with its node runs, so the node view shows each node's
// input and output again after a reload; found is false when the workflow was never test-run (not an error: every
// editor asks at load).
func (d *NodeData) LastTestRun(ctx context.Context, c Caller, workflowID uuid.UUID) (exec store.Execution, runs []engine.NodeRun, found bool, err error) {
	wf, err := d.workflows.Authorized(ctx, c, workflowID, authz.WorkflowView)
	if err != nil {
		return store.Execution{}, nil, false, err
	}
	id, err := d.store.WorkflowLastTestRun(ctx, wf.OrganizationID, wf.ID)
	if fault.CodeOf(err) == fault.NotFound {
		return store.Execution{}, nil, false, nil
	}
	if err != nil {
		return store.Execution{}, nil, false, err
	}
	if exec, err = d.store.ExecutionGet(ctx, wf.OrganizationID, id); err != nil {
		return store.Execution{}, nil, false, err
	}
	runs, err = d.store.NodeRuns(ctx, wf.OrganizationID, id)
	return exec, runs, err == nil, err
}

// PreviewInput is one live preview: source of a kind evaluated against sample input and trigger data.
type PreviewInput struct {
	Kind    string
	Source  string
	Input   json.RawMessage
	Trigger json.RawMessage
}

// Preview evaluates an expression, template or jq program of the workflow's author against sample data, under the
// sandbox limits of a real run (engine.Preview). It takes seeing the workflow: a preview changes nothing, but it
// spends the sandbox's time, which is the organization's. An evaluation error is the answer (PreviewFailure), not a
// failure of the request.
func (d *NodeData) Preview(ctx context.Context, c Caller, workflowID uuid.UUID, in PreviewInput) (any, error) {
	kind := engine.PreviewKind(in.Kind)
	switch kind {
	case engine.PreviewExpression, engine.PreviewTemplate, engine.PreviewJQ:
	default:
		return nil, fault.Fields("kind is not valid", fault.FieldError{Field: "kind", Message: "choose expression, template or jq"})
	}
	if in.Source == "" || len(in.Source) > maxPreviewSourceBytes {
		return nil, fault.Fields("source is not valid", fault.FieldError{Field: "source",
			Message: fmt.Sprintf("must hold 1 to %d bytes", maxPreviewSourceBytes)})
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"input", in.Input}, {"trigger", in.Trigger}} {
		if len(f.raw) > MaxPinBytes*4 {
			return nil, fault.Fields(f.name+" is too large", fault.FieldError{Field: f.name, Message: "is too large to preview against"})
		}
		if len(f.raw) > 0 {
			if err := validate.JSONText(f.name, f.raw, validate.MaxTriggerDepth); err != nil {
				return nil, err
			}
		}
	}
	wf, err := d.workflows.Authorized(ctx, c, workflowID, authz.WorkflowView)
	if err != nil {
		return nil, err
	}
	// The request's own deadline bounds the wait for a sandbox turn; the evaluation has the run's limits.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := engine.Preview(ctx, d.sandbox, engine.PreviewRequest{Kind: kind, Source: in.Source, Input: in.Input,
		Trigger: in.Trigger, Tenant: wf.OrganizationID.String()})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, sandbox.ErrClosed) {
			return nil, err
		}
		return nil, &previewError{message: err.Error()}
	}
	return out, nil
}

// previewError is an evaluation that failed: the author's answer (a type error, a limit), not the request's.
type previewError struct{ message string }

func (e *previewError) Error() string { return e.message }

// PreviewFailure reports whether err from Preview is the evaluation failing, and its message, which names the
// source and the limit it hit as a run's error would.
func PreviewFailure(err error) (string, bool) {
	var pe *previewError
	if errors.As(err, &pe) {
		return pe.message, true
	}
	return "", false
}

// testRunPins turns a workflow's pins into the succeeded runs a test run starts with, for the nodes of the
// version that will run; a pin of a node the version lacks is left out. Each run leaves on its pin's port, so the
// children behind the other ports of a condition are skipped as in a real run; a pin whose port the node does not
// have (a switch's case renamed since) fails the run's start, naming the node, rather than silently running no
// branch at all.
func testRunPins(pins []store.NodePin, definition json.RawMessage, registry *engine.Registry, now time.Time) ([]engine.NodeRun, error) {
	if len(pins) == 0 {
		return nil, nil
	}
	var def engine.Definition
	if json.Unmarshal(definition, &def) != nil {
		return nil, nil
	}
	nodes := make(map[string]engine.Node, len(def.Nodes))
	for _, n := range def.Nodes {
		nodes[n.ID] = n
	}
	var runs []engine.NodeRun
	var problems []fault.FieldError
	for _, p := range pins {
		n, ok := nodes[p.NodeID]
		if !ok {
			continue
		}
		if ports := registry.NodePorts(n); !slices.Contains(ports, p.Port) {
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "pin",
				Message: fmt.Sprintf("its pinned data leaves on %s, which it does not have (its outputs: %s): choose an output in its node view, or unpin it",
					portName(p.Port), portNames(ports))})
			continue
		}
		runs = append(runs, engine.NodeRun{NodeID: p.NodeID, Type: n.Type, Status: engine.NodeSucceeded, Attempt: 1,
			Port: p.Port, Output: p.Data, StartedAt: now, FinishedAt: now})
	}
	if len(problems) > 0 {
		return nil, fault.Fields("pinned data does not fit its node", problems...)
	}
	return runs, nil
}

// portName names a port in a message: "the default output" or "the output “true”".
func portName(port string) string {
	if port == engine.PortDefault {
		return "the default output"
	}
	return "the output “" + port + "”"
}

func portNames(ports []string) string {
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = "“" + p + "”"
		if p == engine.PortDefault {
			names[i] = "default"
		}
	}
	return strings.Join(names, ", ")
}
