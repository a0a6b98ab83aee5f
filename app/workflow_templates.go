package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/templates"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TemplateInput is what creating a workflow from a template takes: the template's key, the picks for its
// placeholders (placeholder key → an integration's or a form's id), and optionally a name and description other
// than the template's.
type TemplateInput struct {
	Template     string            `json:"template" validate:"required"` // the tag documents
	Name         *string           `json:"name,omitempty"`
	Description  *string           `json:"description,omitempty"`
	Placeholders map[string]string `json:"placeholders,omitempty"`
}

// Templates lists the workflow templates the caller's organization can use: those whose every node type is
// enabled for it (a feature flag may switch one off). It takes seeing the organization's workflows.
func (w *Workflows) Templates(ctx context.Context, c Caller) ([]templates.Template, error) {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	var out []templates.Template
	for _, t := range templates.All() {
		if w.templateEnabled(ctx, c, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (w *Workflows) templateEnabled(ctx context.Context, c Caller, t templates.Template) bool {
	def, err := engine.ParseDefinition(t.Definition)
	if err != nil {
		return false
	}
	for _, n := range def.Nodes {
		if _, on := w.nodeTypeEnabled(ctx, c, n.Type); !on {
			return false
		}
	}
	return true
}

// CreateFromTemplate creates an inactive workflow from a template, with the caller's picks written into its
// placeholders. Each pick must be an integration of the placeholder's kind, or a form, of the caller's
// organization; then the definition is validated and saved as Create does (which also checks that the caller may
// use the integrations picked).
func (w *Workflows) CreateFromTemplate(ctx context.Context, c Caller, in TemplateInput) (WorkflowDetail, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.WorkflowCreate, authz.Org(p.OrgID)); err != nil {
		return WorkflowDetail{}, err
	}
	t, err := templates.Get(in.Template)
	if err != nil {
		return WorkflowDetail{}, err
	}
	if err := w.checkPicks(ctx, c, t, in.Placeholders); err != nil {
		return WorkflowDetail{}, err
	}
	def, err := t.Fill(in.Placeholders)
	if err != nil {
		return WorkflowDetail{}, err
	}
	name, description := in.Name, in.Description
	if name == nil {
		name = &t.Name
	}
	if description == nil {
		description = &t.Description
	}
	return w.Create(ctx, c, WorkflowInput{Name: name, Description: description, Definition: json.RawMessage(def)})
}

// checkPicks checks each pick given for a placeholder of t: an id of an integration of the right kind, or of a
// form, of the caller's organization. Missing picks are Fill's to name.
func (w *Workflows) checkPicks(ctx context.Context, c Caller, t templates.Template, picks map[string]string) error {
	var fields []fault.FieldError
	for _, ph := range t.Placeholders {
		raw, ok := picks[ph.Key]
		if !ok || raw == "" {
			continue
		}
		field := "placeholders." + ph.Key
		id, err := uuid.Parse(raw)
		if err != nil {
			fields = append(fields, fault.FieldError{Field: field, Message: "is not an id (a UUID)"})
			continue
		}
		msg, err := w.pickProblem(ctx, c, ph, id)
		if err != nil {
			return err
		}
		if msg != "" {
			fields = append(fields, fault.FieldError{Field: field, Message: msg})
		}
	}
	if len(fields) > 0 {
		return fault.Fields("the template's choices are not valid", fields...)
	}
	return nil
}

// pickProblem says what is wrong with id as the pick for ph, "" when nothing is.
func (w *Workflows) pickProblem(ctx context.Context, c Caller, ph templates.Placeholder, id uuid.UUID) (string, error) {
	orgID := c.Principal.OrgID
	if ph.Kind == templates.PlaceholderForm {
		_, err := w.store.FormGet(ctx, orgID, id)
		if fault.CodeOf(err) == fault.NotFound {
			return "is not a form of this organization", nil
		}
		return "", err
	}
	in, err := w.integrations.store.Get(ctx, orgID, id)
	if fault.CodeOf(err) == fault.NotFound {
		return "is not an integration of this organization", nil
	}
	if err != nil {
		return "", err
	}
	if in.Kind != ph.IntegrationKind {
		return fmt.Sprintf("is a %s integration; %s needs one of kind %s", in.Kind, ph.Label, ph.IntegrationKind), nil
	}
	return "", nil
}

// Summaries returns the trigger type and latest execution of each of a page of the caller's organization's
// workflows, for the list.
func (w *Workflows) Summaries(ctx context.Context, c Caller, workflows []store.Workflow) (map[uuid.UUID]store.WorkflowSummary, error) {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(workflows))
	for i, wf := range workflows {
		ids[i] = wf.ID
	}
	return w.store.WorkflowSummaries(ctx, c.Principal.OrgID, ids)
}
