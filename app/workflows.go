package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Workflows are the use cases of workflows.
type Workflows struct {
	store *store.Store
}

// Authorized loads a workflow of the caller's organization and checks that the caller may do a to it, with their
// per-workflow grant. A workflow of another organization is NotFound.
func (w *Workflows) Authorized(ctx context.Context, c Caller, id uuid.UUID, a authz.Action) (store.Workflow, error) {
	p := c.Principal
	wf, err := w.store.WorkflowGet(ctx, p.OrgID, id)
	if err != nil {
		return store.Workflow{}, err
	}
	grant, err := w.store.WorkflowGrant(ctx, p.OrgID, id, p.UserID)
	if err != nil {
		return store.Workflow{}, err
	}
	return wf, authz.Authorize(p, a, authz.Workflow(wf.OrganizationID, wf.CreatedBy, authz.Grant(grant)))
}
