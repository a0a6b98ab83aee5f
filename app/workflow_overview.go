package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// How much of its recent past a workflow's overview shows.
const (
	overviewDeliveries = 20
	overviewVersions   = 50
	overviewExecutions = 10
)

// WorkflowAccess is what the caller may do to one workflow, so that a surface offers only that. CreateIntegrations
// is whether its editor may offer to create credentials from a node (an organization-wide right, not the
// workflow's).
type WorkflowAccess struct {
	Edit, Run, Archive, Duplicate, CreateIntegrations bool
}

// WorkflowOverview is a workflow with its recent past, as its page shows it.
type WorkflowOverview struct {
	Workflow store.Workflow
	Access   WorkflowAccess
	// NextRunAt is when its schedule fires next.
	NextRunAt *time.Time
	// Webhook is its webhook for those who may edit a workflow that is not archived, once it has one; nil for
	// everyone else. Looking never makes one (that would write webhook.create to the audit log on every first
	// visit): an editor's explicit request (Webhook, the canvas's webhook dialog) or activating a workflow whose
	// trigger is a webhook does.
	Webhook *store.Webhook
	// Deliveries are its webhook's latest calls, Versions its latest versions and Executions its latest
	// executions, newest first.
	Deliveries []store.WebhookDelivery
	Versions   []store.WorkflowVersion
	Executions []store.Execution
}

// Overview reads a workflow the caller may see with what the caller may do to it and its recent past: webhook
// calls, versions and executions.
func (w *Workflows) Overview(ctx context.Context, c Caller, id uuid.UUID) (WorkflowOverview, error) {
	wf, res, err := w.authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return WorkflowOverview{}, err
	}
	p := c.Principal
	out := WorkflowOverview{Workflow: wf, Access: WorkflowAccess{
		Edit:               authz.Authorize(p, authz.WorkflowEdit, res) == nil,
		Run:                authz.Authorize(p, authz.WorkflowRun, res) == nil,
		Archive:            authz.Authorize(p, authz.WorkflowDelete, res) == nil,
		Duplicate:          authz.Authorize(p, authz.WorkflowCreate, authz.Org(p.OrgID)) == nil,
		CreateIntegrations: authz.Authorize(p, authz.IntegrationsManage, authz.Org(p.OrgID)) == nil,
	}}
	if out.NextRunAt, err = w.store.WorkflowNextRun(ctx, wf.OrganizationID, wf.ID); err != nil {
		return WorkflowOverview{}, err
	}
	if out.Access.Edit && wf.ArchivedAt == nil {
		if out.Webhook, err = w.store.WebhookFind(ctx, w.webhookKeys, wf.OrganizationID, wf.ID); err != nil {
			return WorkflowOverview{}, err
		}
	}
	if out.Deliveries, err = w.deliveries(ctx, wf, overviewDeliveries); err != nil {
		return WorkflowOverview{}, err
	}
	if out.Versions, err = w.store.WorkflowVersions(ctx, wf.OrganizationID, wf.ID, overviewVersions); err != nil {
		return WorkflowOverview{}, err
	}
	out.Executions, err = w.store.ExecutionList(ctx, wf.OrganizationID,
		store.ExecutionFilter{WorkflowID: &wf.ID, Limit: overviewExecutions})
	if err != nil {
		return WorkflowOverview{}, err
	}
	return out, nil
}
