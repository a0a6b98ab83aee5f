package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
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
	if err := w.checkIntegrationUse(ctx, c.Principal, def); err != nil {
		return nil, err
	}
	// Stored as given, so the editor gets back exactly what it saved (positions, names, key order).
	return raw, nil
}

// checkIntegrationUse refuses a definition naming an integration the saver may not use (authz.IntegrationsUse),
// naming the node and the integration, and an integration_id that is not an id at all. An id that names no
// integration of the organization is left to the run (a workflow may be imported before its integrations exist),
// which fails that node with "not found".
func (w *Workflows) checkIntegrationUse(ctx context.Context, p authz.Principal, def *engine.Definition) error {
	var problems []fault.FieldError
	for _, n := range def.Nodes {
		var cfg struct {
			IntegrationID string `json:"integration_id"`
		}
		if json.Unmarshal(n.Config, &cfg) != nil || cfg.IntegrationID == "" {
			continue
		}
		id, err := uuid.Parse(cfg.IntegrationID)
		if err != nil {
			// Never an integration's id: a placeholder left behind (${SMTP_INTEGRATION_ID}) or a name. Said now,
			// rather than by the node's first run.
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "config.integration_id",
				Message: "is not an integration's id (a UUID, from /api/v1/integrations)"})
			continue
		}
		in, err := w.integrations.Get(ctx, p.OrgID, id)
		if fault.CodeOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		if authz.Authorize(p, authz.IntegrationsUse, authz.Integration(p.OrgID, usePolicy(in))) != nil {
			problems = append(problems, fault.FieldError{NodeID: n.ID, Field: "integration_id",
				Message: fmt.Sprintf("you may not use integration %q: an admin restricted who may use it", in.Name)})
		}
	}
	if len(problems) > 0 {
		return fault.Fields("the definition names integrations you may not use, or ids that are not integrations' ids", problems...)
	}
	return nil
}

// usePolicy is an integration's use policy as authz reads it; nil when unrestricted.
func usePolicy(in store.Integration) *authz.UsePolicy {
	if !in.Use.Restricted {
		return nil
	}
	p := &authz.UsePolicy{Users: in.Use.UserIDs}
	for _, r := range in.Use.Roles {
		p.Roles = append(p.Roles, authz.Role(r))
	}
	return p
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
