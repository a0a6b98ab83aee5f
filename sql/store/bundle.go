package store

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/sql/db"
)

// BundleWorkflow is a workflow of an organization bundle with every one of its versions, oldest first.
type BundleWorkflow struct {
	Workflow Workflow
	Versions []BundleVersion
}

// BundleVersion is one saved definition of a bundle's workflow.
type BundleVersion struct {
	Number     int32
	Definition json.RawMessage
	Message    string
}

// BundleContents is what an organization export reads that no list of the store gives whole: every workflow
// (archived ones too) with all its versions, every form, and every notification rule (the organization's and its
// workflows').
type BundleContents struct {
	Workflows []BundleWorkflow
	Forms     []Form
	Rules     []NotificationRule
}

// BundleRead reads an organization's workflows with their versions, its forms and its notification rules.
func (s *Store) BundleRead(ctx context.Context, orgID uuid.UUID) (BundleContents, error) {
	var out BundleContents
	wfs, err := s.q.BundleWorkflows(ctx, orgID)
	if err != nil {
		return out, interpret(err, "workflows")
	}
	ids := make([]uuid.UUID, len(wfs))
	index := make(map[uuid.UUID]int, len(wfs))
	for i, w := range wfs {
		ids[i], index[w.ID] = w.ID, i
		out.Workflows = append(out.Workflows, BundleWorkflow{Workflow: workflowFromRow(db.WorkflowGetRow(w))})
	}
	versions, err := s.q.BundleWorkflowVersions(ctx, db.BundleWorkflowVersionsParams{OrganizationID: orgID, WorkflowIds: ids})
	if err != nil {
		return out, interpret(err, "workflow versions")
	}
	for _, v := range versions {
		w := &out.Workflows[index[v.WorkflowID]]
		w.Versions = append(w.Versions, BundleVersion{Number: v.Number, Definition: v.Definition, Message: v.Message})
	}
	forms, err := s.q.BundleForms(ctx, orgID)
	if err != nil {
		return out, interpret(err, "forms")
	}
	for _, f := range forms {
		form, err := formFromRow(db.FormGetRow(f))
		if err != nil {
			return out, err
		}
		out.Forms = append(out.Forms, form)
	}
	rules, err := s.q.BundleRules(ctx, orgID)
	if err != nil {
		return out, interpret(err, "notification rules")
	}
	out.Rules, err = s.withChannels(ctx, orgID, rules)
	return out, err
}

// BundleNamesTaken are the names an import into an organization must not reuse, by kind ("workflow", "form",
// "integration", "channel"), and which of the form addresses asked about are taken anywhere on the instance
// (kind "slug").
func (s *Store) BundleNamesTaken(ctx context.Context, orgID uuid.UUID, slugs []string) (map[string]map[string]bool, error) {
	rows, err := s.q.BundleNamesTaken(ctx, db.BundleNamesTakenParams{OrganizationID: orgID, Slugs: slugs})
	if err != nil {
		return nil, interpret(err, "names")
	}
	out := map[string]map[string]bool{}
	for _, r := range rows {
		if out[r.Kind] == nil {
			out[r.Kind] = map[string]bool{}
		}
		out[r.Kind][r.Name] = true
	}
	return out, nil
}

// BundleImport is what an import writes, every id chosen and every reference between the items already remapped
// by the caller, which has validated all of it.
type BundleImport struct {
	OrganizationID uuid.UUID
	// Workflows are written inactive, their versions numbered from 1 in order.
	Workflows    []BundleWorkflow
	Forms        []Form
	Integrations []Integration
	// Channels are written without secrets.
	Channels []NotificationChannel
	Rules    []NotificationRule
	// Summary is the audit record's "after": what was imported and what still needs credentials.
	Summary map[string]any
}

// BundleImport writes an import in one transaction, with one audit row (organization.import) naming what it
// brought: either all of it is there afterwards or none of it.
func (s *Store) BundleImport(ctx context.Context, by Actor, in BundleImport) error {
	org := in.OrganizationID
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		for _, it := range in.Integrations {
			limit, interval := rateParams(it.RateLimit, it.RateInterval)
			if _, err := q.IntegrationCreate(ctx, db.IntegrationCreateParams{ID: it.ID, OrganizationID: org, Name: it.Name,
				Kind: it.Kind, Config: it.Config, RateLimit: limit, RateIntervalMs: interval, CreatedBy: by.UserID}); err != nil {
				return interpret(err, "integration "+it.Name)
			}
		}
		for _, ch := range in.Channels {
			if _, err := q.NotificationChannelCreate(ctx, db.NotificationChannelCreateParams{ID: ch.ID, OrganizationID: org,
				Name: ch.Name, Kind: ch.Kind, Config: ch.Config, CreatedBy: by.UserID}); err != nil {
				return interpret(err, "notification channel "+ch.Name)
			}
		}
		if err := bundleWriteForms(ctx, q, by, org, in.Forms); err != nil {
			return err
		}
		if err := bundleWriteWorkflows(ctx, q, by, org, in.Workflows); err != nil {
			return err
		}
		if err := bundleWriteRules(ctx, q, by, org, in.Rules); err != nil {
			return err
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &org, Action: "organization.import",
			TargetType: "organization", TargetID: org.String(), After: in.Summary})
	})
}

func bundleWriteForms(ctx context.Context, q *db.Queries, by Actor, org uuid.UUID, forms []Form) error {
	for _, f := range forms {
		fields, settings, err := marshalSchema(FormInput{Fields: f.Fields, Settings: f.Settings})
		if err != nil {
			return err
		}
		if _, err := q.BundleFormCreate(ctx, db.BundleFormCreateParams{ID: f.ID, OrganizationID: org, Name: f.Name,
			Slug: f.Slug, Description: f.Description, Fields: fields, Settings: settings, Published: f.Published,
			CreatedBy: by.UserID}); err != nil {
			return interpretForm(err)
		}
	}
	return nil
}

func bundleWriteWorkflows(ctx context.Context, q *db.Queries, by Actor, org uuid.UUID, wfs []BundleWorkflow) error {
	for _, w := range wfs {
		wf := w.Workflow
		if _, err := q.WorkflowCreate(ctx, db.WorkflowCreateParams{ID: wf.ID, OrganizationID: org, Name: wf.Name,
			Description: wf.Description, CreatedBy: by.UserID, Priority: wf.Priority,
			ConcurrencyLimit: wf.ConcurrencyLimit}); err != nil {
			return interpret(err, "workflow "+wf.Name)
		}
		for i, v := range w.Versions {
			if _, err := q.WorkflowVersionCreate(ctx, db.WorkflowVersionCreateParams{OrganizationID: org, WorkflowID: wf.ID,
				Number: int32(i + 1), Definition: v.Definition, AuthorID: by.UserID, Message: v.Message}); err != nil {
				return interpret(err, "workflow version")
			}
		}
		// WorkflowCreate starts the head at version 1; each further imported version moves it on, as a save does.
		for v := int32(1); v < int32(len(w.Versions)); v++ {
			if _, err := q.WorkflowUpdateHead(ctx, db.WorkflowUpdateHeadParams{ID: wf.ID, OrganizationID: org,
				ExpectedVersion: v}); err != nil {
				return interpret(err, "workflow "+wf.Name)
			}
		}
		// A workflow archived where it was exported stays archived (its archived_at is the import's).
		if wf.ArchivedAt != nil {
			if _, err := q.WorkflowArchive(ctx, db.WorkflowArchiveParams{ID: wf.ID, OrganizationID: org}); err != nil {
				return interpret(err, "workflow "+wf.Name)
			}
		}
	}
	return nil
}

func bundleWriteRules(ctx context.Context, q *db.Queries, by Actor, org uuid.UUID, rules []NotificationRule) error {
	for _, r := range rules {
		row, err := q.NotificationRuleCreate(ctx, db.NotificationRuleCreateParams{OrganizationID: org,
			WorkflowID: r.WorkflowID, Event: r.Event, ThresholdSeconds: int32(r.ThresholdSeconds),
			ThresholdCount: int32(r.ThresholdCount), ThresholdPercent: int32(r.ThresholdPercent),
			GroupWindowSeconds: int32(r.GroupWindowSeconds), CooldownSeconds: int32(r.CooldownSeconds),
			NotifyRecovery: r.NotifyRecovery, Digest: r.Digest, Enabled: r.Enabled, CreatedBy: by.UserID})
		if err != nil {
			return interpret(err, "notification rule")
		}
		if len(r.ChannelIDs) == 0 {
			continue
		}
		if _, err := q.NotificationRuleChannelsAdd(ctx, db.NotificationRuleChannelsAddParams{RuleID: row.ID,
			OrganizationID: org, ChannelIds: r.ChannelIDs}); err != nil {
			return interpret(err, "notification rule")
		}
	}
	return nil
}
