package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// ValidateDefinition checks a definition as a save would, saving nothing, so an editor can list every problem
// before its user saves. It takes seeing the organization's workflows.
func (w *Workflows) ValidateDefinition(ctx context.Context, c Caller, definition json.RawMessage) error {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return err
	}
	_, err := w.validDefinition(ctx, c, definition)
	return err
}

// validDefinition parses and validates a definition against the node registry, naming every problem's node and
// field, and checks that the caller may use every integration it names.
func (w *Workflows) validDefinition(ctx context.Context, c Caller, raw json.RawMessage) (json.RawMessage, error) {
	def, err := w.CheckDefinition(ctx, c, raw)
	if err != nil {
		return nil, err
	}
	if err := w.integrations.CheckUse(ctx, c, def); err != nil {
		return nil, err
	}
	if err := w.checkErrorTriggers(ctx, c, def); err != nil {
		return nil, err
	}
	// Stored as given, so the editor gets back exactly what it saved (positions, names, key order).
	return raw, nil
}

// CheckDefinition is the part of a save's validation that needs nothing stored: the definition parses, the node
// registry accepts it, and it uses no node type a feature flag switches off for the caller's organization. An
// organization import (app/bundle) calls it alone, because the integrations and workflows its definitions name are
// written in the import's own transaction, and the import checks those references against its bundle instead.
func (w *Workflows) CheckDefinition(ctx context.Context, c Caller, raw json.RawMessage) (*engine.Definition, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fault.Fields("a definition is required", fault.FieldError{Field: "definition", Message: "is required"})
	}
	def, err := engine.ParseDefinition(raw)
	if err != nil {
		return nil, fault.Fields("the definition is not valid", fault.FieldError{Field: "definition", Message: err.Error()})
	}
	if problems := w.registry.Validate(def); len(problems) > 0 {
		fields := make([]fault.FieldError, len(problems))
		for i, p := range problems {
			fields[i] = fault.FieldError{NodeID: p.NodeID, Field: p.Field, Message: p.Message}
		}
		return nil, fault.Fields("the definition is not valid", fields...)
	}
	if err := w.checkFlaggedTypes(ctx, c, def); err != nil {
		return nil, err
	}
	return def, nil
}

// NodeTypes is the node catalogue as the caller's organization sees it: the registry's types less those a feature
// flag switches off for it. It is the palette of the canvas and GET /api/v1/node-types.
func (w *Workflows) NodeTypes(ctx context.Context, c Caller) ([]engine.NodeType, error) {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	all := w.registry.Types()
	out := all[:0:0]
	for _, t := range all {
		if _, on := w.nodeTypeEnabled(ctx, c, t.Name); on {
			out = append(out, t)
		}
	}
	return out, nil
}

// CanvasFlags are the canvas island's feature flags (flags.CanvasPrefix…) evaluated for the caller: what the
// workflow page passes to the island. Without an evaluator every such flag takes its production default.
func (w *Workflows) CanvasFlags(ctx context.Context, c Caller) map[string]bool {
	if w.flags == nil {
		return map[string]bool{}
	}
	return w.flags.Canvas(ctx, flags.Subject{OrgID: c.Principal.OrgID, UserID: c.Principal.UserID})
}

func (w *Workflows) nodeTypeEnabled(ctx context.Context, c Caller, nodeType string) (flag string, enabled bool) {
	if w.flags == nil {
		return "", true
	}
	return w.flags.NodeTypeEnabled(ctx, nodeType, flags.Subject{OrgID: c.Principal.OrgID, UserID: c.Principal.UserID})
}

// checkFlaggedTypes refuses a definition using a node type that a feature flag switches off for the caller's
// organization, naming the node and the flag. Versions already saved keep running: the engine's registry is not
// gated, only what is saved from now on.
func (w *Workflows) checkFlaggedTypes(ctx context.Context, c Caller, def *engine.Definition) error {
	var fields []fault.FieldError
	for _, n := range def.Nodes {
		if flag, on := w.nodeTypeEnabled(ctx, c, n.Type); !on {
			fields = append(fields, fault.FieldError{NodeID: n.ID, Field: "type", Message: fmt.Sprintf(
				"node type %s is not available to this organization (feature flag %s is off)", n.Type, flag)})
		}
	}
	if len(fields) > 0 {
		return fault.Fields("the definition uses a node type switched off for this organization", fields...)
	}
	return nil
}

// checkErrorTriggers refuses a trigger.error watching a workflow that is not one of the caller's organization's
// (running, it would simply never fire: storage only pairs failures with error workflows of their organization).
// Anyone who may save a workflow may view every workflow of the organization, so watching one discloses nothing new.
func (w *Workflows) checkErrorTriggers(ctx context.Context, c Caller, def *engine.Definition) error {
	for _, n := range def.Nodes {
		if n.Type != nodes.ErrorTriggerType {
			continue
		}
		cfg, err := nodes.ParseErrorConfig(n.Config)
		if err != nil || cfg.Watch != nodes.ErrorWatchWorkflow {
			continue // the registry's validation has judged the config
		}
		id, err := uuid.Parse(cfg.WorkflowID)
		if err == nil {
			_, err = w.store.WorkflowGet(ctx, c.Principal.OrgID, id)
		}
		if fault.CodeOf(err) == fault.NotFound || (err != nil && id == uuid.Nil) {
			return fault.Fields("the definition is not valid", fault.FieldError{NodeID: n.ID, Field: "config.workflow_id",
				Message: "is not a workflow of this organization"})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// nextScheduledRun is when a definition's schedule trigger fires next after now; nil when its trigger is not a
// schedule.
func nextScheduledRun(definition json.RawMessage, now time.Time) *time.Time {
	next, err := nodes.NextScheduledRun(definition, now)
	if err != nil {
		return nil
	}
	return &next
}

// triggerType is the type of a definition's trigger node, "" when it has none or does not parse.
func triggerType(definition json.RawMessage) string {
	def, err := engine.ParseDefinition(definition)
	if err != nil {
		return ""
	}
	for _, n := range def.Nodes {
		if strings.HasPrefix(n.Type, "trigger.") {
			return n.Type
		}
	}
	return ""
}
