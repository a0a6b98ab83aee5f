package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/secrets"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Workflows are the use cases of workflows: list, read, create, save, duplicate, archive, switch on and off, run by
// hand, their version history and their webhook. Every definition saved is validated against the node registry
// and checked for integrations its author may not use; the store writes the audit record of every change.
type Workflows struct {
	store        *store.Store
	registry     *engine.Registry
	integrations *Integrations
	webhookKeys  *secrets.Keyring
	triggers     *Triggers
	// flags gates node types per organization (node.<type>); nil gates nothing.
	flags *flags.Flags
	now   func() time.Time
}

// Authorized loads a workflow of the caller's organization and checks that the caller may do a to it, with their
// per-workflow grant. A workflow of another organization is NotFound.
func (w *Workflows) Authorized(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Workflow, error) {
	wf, _, err := w.authorized(ctx, c, id, a)
	return wf, err
}

// authorized is Authorized that also returns the workflow as authz sees it, for deciding more actions on it.
func (w *Workflows) authorized(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Workflow, authz.Resource, error) {
	p := c.Principal
	wf, err := w.store.WorkflowGet(ctx, p.OrgID, id)
	if err != nil {
		return store.Workflow{}, authz.Resource{}, err
	}
	grant, err := w.store.WorkflowGrant(ctx, p.OrgID, id, p.UserID)
	if err != nil {
		return store.Workflow{}, authz.Resource{}, err
	}
	res := authz.Workflow(wf.OrganizationID, wf.CreatedBy, authz.Grant(grant))
	return wf, res, authz.Authorize(p, a, res)
}

// WorkflowDetail is a workflow with what is shown next to it.
type WorkflowDetail struct {
	Workflow store.Workflow
	// Definition is the current version's definition, exactly as it was saved; nil where a use case says so.
	Definition json.RawMessage
	// NextRunAt is when the workflow's schedule fires next; only Get and SetActive read it.
	NextRunAt *time.Time
}

// WorkflowInput is what a new workflow or a save of one is made of (the body of POST /api/v1/workflows and PUT
// /api/v1/workflows/{id}). Absent settings keep their value (a save) or default (a new workflow).
type WorkflowInput struct {
	Name        *string         `json:"name" validate:"omitempty,min=1,max=200"`
	Description *string         `json:"description" validate:"omitempty,max=5000"`
	Definition  json.RawMessage `json:"definition"`
	// Version is the version an update edits (a save only): a newer head makes the save a conflict.
	Version          *int32 `json:"version"`
	Priority         *int16 `json:"priority" validate:"omitempty,min=1,max=4"`
	ConcurrencyLimit *int32 `json:"concurrency_limit" validate:"omitempty,min=1,max=10000"`
	Message          string `json:"message" validate:"max=500"`
}

// List lists the workflows of the caller's organization that f selects, newest first.
func (w *Workflows) List(ctx context.Context, c Caller, f store.WorkflowFilter) ([]store.Workflow, error) {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	return w.store.WorkflowList(ctx, c.Principal.OrgID, f)
}

// Get reads a workflow with its current definition and when its schedule fires next.
func (w *Workflows) Get(ctx context.Context, c Caller, id uuid.UUID) (WorkflowDetail, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return WorkflowDetail{}, err
	}
	v, err := w.store.WorkflowVersion(ctx, wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		return WorkflowDetail{}, err
	}
	next, err := w.store.WorkflowNextRun(ctx, wf.OrganizationID, wf.ID)
	if err != nil {
		return WorkflowDetail{}, err
	}
	return WorkflowDetail{Workflow: wf, Definition: v.Definition, NextRunAt: next}, nil
}

// Create creates a workflow of the caller's organization, inactive, its definition as version 1. A name is
// required; every problem of the input and of the definition is answered at once.
func (w *Workflows) Create(ctx context.Context, c Caller, in WorkflowInput) (WorkflowDetail, error) {
	p := c.Principal
	if err := authz.Authorize(p, authz.WorkflowCreate, authz.Org(p.OrgID)); err != nil {
		return WorkflowDetail{}, err
	}
	var nameErr error
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		nameErr = fault.Fields("a name is required", fault.FieldError{Field: "name", Message: "is required"})
	}
	def, defErr := w.validDefinition(ctx, c, in.Definition)
	// The missing name first: a form shows the first message of each field.
	if err := validate.Merge(nameErr, validate.Struct(in), defErr); err != nil {
		return WorkflowDetail{}, err
	}
	nw := store.NewWorkflow{OrganizationID: p.OrgID, Name: strings.TrimSpace(*in.Name), Definition: def,
		AuthorID: &p.UserID, ConcurrencyLimit: in.ConcurrencyLimit}
	if in.Description != nil {
		nw.Description = *in.Description
	}
	if in.Priority != nil {
		nw.Priority = *in.Priority
	}
	wf, err := w.store.WorkflowCreate(ctx, c.Actor, nw)
	if err != nil {
		return WorkflowDetail{}, err
	}
	return WorkflowDetail{Workflow: wf, Definition: def}, nil
}

// Duplicate creates a workflow from another's current version, with its description and settings, named name or,
// when name is nil, after the original with " (copy)". It takes seeing the original and creating workflows.
func (w *Workflows) Duplicate(ctx context.Context, c Caller, id uuid.UUID, name *string) (WorkflowDetail, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return WorkflowDetail{}, err
	}
	v, err := w.store.WorkflowVersion(ctx, wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		return WorkflowDetail{}, err
	}
	if name == nil {
		name = new(wf.Name + " (copy)")
	}
	return w.Create(ctx, c, WorkflowInput{Name: name, Description: &wf.Description, Definition: v.Definition,
		Priority: &wf.Priority, ConcurrencyLimit: wf.ConcurrencyLimit})
}

// Update saves a workflow as a new immutable version from in.Version, the version the edit started from; a newer
// head makes it a Conflict naming who saved in between. An active scheduled workflow is rescheduled.
func (w *Workflows) Update(ctx context.Context, c Caller, id uuid.UUID, in WorkflowInput) (WorkflowDetail, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowEdit)
	if err != nil {
		return WorkflowDetail{}, err
	}
	err = validate.Struct(in)
	if in.Version == nil {
		err = errors.Join(err, fault.Fields("the version edited is required", fault.FieldError{Field: "version",
			Message: "is required: the version this edit started from"}))
	}
	def, defErr := w.validDefinition(ctx, c, in.Definition)
	if err = validate.Merge(err, defErr); err != nil {
		return WorkflowDetail{}, err
	}
	upd := store.WorkflowUpdate{OrganizationID: wf.OrganizationID, ID: wf.ID, BaseVersion: *in.Version,
		Name: in.Name, Description: in.Description, Priority: in.Priority, Definition: def,
		AuthorID: &c.Principal.UserID, Message: in.Message, NextRun: nextScheduledRun(def, w.now())}
	if in.ConcurrencyLimit != nil {
		upd.ConcurrencyLimit = &in.ConcurrencyLimit
	}
	saved, err := w.store.WorkflowSave(ctx, c.Actor, upd)
	if err != nil {
		return WorkflowDetail{}, err
	}
	return WorkflowDetail{Workflow: saved, Definition: def}, nil
}

// Archive archives a workflow (the API's DELETE): it stops running and leaves the lists, its executions stay
// readable.
func (w *Workflows) Archive(ctx context.Context, c Caller, id uuid.UUID) (store.Workflow, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowDelete)
	if err != nil {
		return store.Workflow{}, err
	}
	return w.store.WorkflowArchive(ctx, c.Actor, wf.OrganizationID, wf.ID)
}

// SetActive turns a workflow's triggers on or off, registering its schedule (when its trigger is one) with the
// scheduler. The answer carries when the schedule fires next, read after the change is committed: a failure to
// read it leaves NextRunAt nil rather than failing a change that was made.
func (w *Workflows) SetActive(ctx context.Context, c Caller, id uuid.UUID, active bool) (WorkflowDetail, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowEdit)
	if err != nil {
		return WorkflowDetail{}, err
	}
	v, err := w.store.WorkflowVersion(ctx, wf.OrganizationID, wf.ID, wf.Version)
	if err != nil {
		return WorkflowDetail{}, err
	}
	wf, err = w.store.WorkflowSetActive(ctx, c.Actor, wf.OrganizationID, wf.ID, active,
		nextScheduledRun(v.Definition, w.now()))
	if err != nil {
		return WorkflowDetail{}, err
	}
	// An active webhook workflow always has its URL: the webhook is made here, at publication, if no editor asked
	// for it before.
	if active && triggerType(v.Definition) == "trigger.webhook" {
		if _, err := w.store.WebhookEnsure(ctx, c.Actor, w.webhookKeys, wf.OrganizationID, wf.ID); err != nil {
			return WorkflowDetail{}, err
		}
	}
	next, _ := w.store.WorkflowNextRun(ctx, wf.OrganizationID, wf.ID)
	return WorkflowDetail{Workflow: wf, NextRunAt: next}, nil
}

// Run starts a manual run of a workflow's current version, whether or not it is active: body becomes the
// trigger's body (an empty object when empty), as a webhook's would. The execution and its job are committed
// when it returns. It counts against the organization's trigger rate.
func (w *Workflows) Run(ctx context.Context, c Caller, id uuid.UUID, body json.RawMessage) (store.Execution, error) {
	return w.RunKind(ctx, c, id, body, store.KindProduction, false)
}

// RunKind is Run with the run's kind: store.KindTest for the editor's Test run, which the dashboard and the
// statistics leave out; store.KindProduction otherwise. With pinned (the editor's test run that asks for pinned
// data), each node of the version with data pinned (NodeData.Pin) starts as succeeded with that data as its output,
// so it is not run and its children get the pinned data. Only such a run reads pins; triggered runs never do.
func (w *Workflows) RunKind(ctx context.Context, c Caller, id uuid.UUID, body json.RawMessage, kind string, pinned bool) (store.Execution, error) {
	if kind != store.KindProduction && kind != store.KindTest {
		return store.Execution{}, fault.Fields("bad run", fault.FieldError{Field: "kind", Message: "must be production or test"})
	}
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowRun)
	if err != nil {
		return store.Execution{}, err
	}
	if len(body) == 0 {
		body = json.RawMessage(`{}`)
	}
	if err := validate.JSONText("body", body, validate.MaxTriggerDepth); err != nil {
		return store.Execution{}, err
	}
	trigger, err := json.Marshal(map[string]any{"body": body, "headers": map[string]string{}, "query": map[string]string{},
		"method": "MANUAL"})
	if err != nil {
		return store.Execution{}, err
	}
	head, err := w.store.WorkflowHeadForRun(ctx, wf.OrganizationID, wf.ID)
	if err != nil {
		return store.Execution{}, err
	}
	var start []engine.NodeRun
	if pinned {
		if start, err = w.pinnedRuns(ctx, head); err != nil {
			return store.Execution{}, err
		}
	}
	if err := w.triggers.Admit(ctx, head.OrganizationID); err != nil {
		return store.Execution{}, err
	}
	return w.store.ExecutionCreate(ctx, c.Actor, store.NewExecution{
		OrganizationID: head.OrganizationID, WorkflowID: head.WorkflowID, WorkflowVersionID: head.VersionID,
		Version: head.Version, TriggerKind: "manual", TriggerData: trigger, Priority: head.Priority,
		CreatedBy: &c.Principal.UserID, Kind: kind, StartRuns: start})
}

// pinnedRuns are the runs a test run of head starts with: one per pinned node of that version.
func (w *Workflows) pinnedRuns(ctx context.Context, head store.WorkflowHead) ([]engine.NodeRun, error) {
	pins, err := w.store.NodePinList(ctx, head.OrganizationID, head.WorkflowID)
	if err != nil || len(pins) == 0 {
		return nil, err
	}
	v, err := w.store.WorkflowVersion(ctx, head.OrganizationID, head.WorkflowID, head.Version)
	if err != nil {
		return nil, err
	}
	return testRunPins(pins, v.Definition, w.registry, w.now())
}
