package app

import (
	"context"
	"math"
	"strconv"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Versions lists a workflow's history, newest first, at most limit versions, without their definitions.
func (w *Workflows) Versions(ctx context.Context, c Caller, id uuid.UUID, limit int) ([]store.WorkflowVersion, error) {
	wf, err := w.Authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return nil, err
	}
	return w.store.WorkflowVersions(ctx, wf.OrganizationID, wf.ID, limit)
}

// Version reads one version of a workflow with its definition. A number that is no version's is NotFound.
func (w *Workflows) Version(ctx context.Context, c Caller, id uuid.UUID, number int) (store.WorkflowVersion, error) {
	_, v, err := w.version(ctx, c, id, number, authz.WorkflowView)
	return v, err
}

// version loads a workflow the caller may do a to, and one of its versions. A number past int32 is no version's
// either, rather than another number after truncation.
func (w *Workflows) version(ctx context.Context, c Caller, id uuid.UUID, number int, a authz.Action) (store.Workflow, store.WorkflowVersion, error) {
	if number < 1 || number > math.MaxInt32 {
		return store.Workflow{}, store.WorkflowVersion{}, fault.New(fault.NotFound, "no such version")
	}
	wf, err := w.Authorized(ctx, c, id, a)
	if err != nil {
		return store.Workflow{}, store.WorkflowVersion{}, err
	}
	v, err := w.store.WorkflowVersion(ctx, wf.OrganizationID, wf.ID, int32(number))
	return wf, v, err
}

// RestoreVersion makes an old version's definition the workflow's newest version, on top of the head: history is
// never rewritten. A version saved before a node type changed may no longer validate; it cannot become the head.
func (w *Workflows) RestoreVersion(ctx context.Context, c Caller, id uuid.UUID, number int) (WorkflowDetail, error) {
	wf, v, err := w.version(ctx, c, id, number, authz.WorkflowEdit)
	if err != nil {
		return WorkflowDetail{}, err
	}
	def, err := w.validDefinition(ctx, c, v.Definition)
	if err != nil {
		return WorkflowDetail{}, err
	}
	saved, err := w.store.WorkflowSave(ctx, c.Actor, store.WorkflowUpdate{
		OrganizationID: wf.OrganizationID, ID: wf.ID, BaseVersion: wf.Version, Definition: def,
		AuthorID: &c.Principal.UserID, Message: "restored version " + strconv.Itoa(int(v.Number)),
		NextRun: nextScheduledRun(def, w.now())})
	if err != nil {
		return WorkflowDetail{}, err
	}
	return WorkflowDetail{Workflow: saved, Definition: def}, nil
}
