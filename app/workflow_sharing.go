package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Sharing a workflow: per-workflow grants (view < run < edit) that widen a member's or viewer's access to one
// workflow (authz.Authorize reads them through Workflows.authorized). Whoever may delete a workflow may share it
// (authz.WorkflowShare): admins, owners, and the member who created it.

// WorkflowSharing is who holds a grant on a workflow, and whom else it could be shared with.
type WorkflowSharing struct {
	Workflow store.Workflow
	Grants   []store.WorkflowGrantee
	// Candidates are the members and viewers without a grant, to whom it may be shared; admins and owners are left
	// out since their role already gives them everything a grant could.
	Candidates []store.Member
	// CanShare says whether the caller may change the grants; the others only see them.
	CanShare bool
}

// Sharing lists the grants on a workflow; it takes seeing the workflow.
func (w *Workflows) Sharing(ctx context.Context, c Caller, id uuid.UUID) (WorkflowSharing, error) {
	wf, res, err := w.authorized(ctx, c, id, authz.WorkflowView)
	if err != nil {
		return WorkflowSharing{}, err
	}
	grants, err := w.store.WorkflowGrantList(ctx, wf.OrganizationID, wf.ID)
	if err != nil {
		return WorkflowSharing{}, err
	}
	out := WorkflowSharing{Workflow: wf, Grants: grants,
		CanShare: authz.Authorize(c.Principal, authz.WorkflowShare, res) == nil}
	if !out.CanShare {
		return out, nil
	}
	members, err := w.store.MemberList(ctx, wf.OrganizationID)
	if err != nil {
		return WorkflowSharing{}, err
	}
	granted := map[uuid.UUID]bool{}
	for _, g := range grants {
		granted[g.UserID] = true
	}
	for _, m := range members {
		if !granted[m.UserID] && !authz.Role(m.Role).AtLeast(authz.RoleAdmin) {
			out.Candidates = append(out.Candidates, m)
		}
	}
	return out, nil
}

// Share grants a member of the caller's organization view, run or edit on a workflow, or changes the grant they
// hold; the store audits it (workflow.grant_changed).
func (w *Workflows) Share(ctx context.Context, c Caller, id, userID uuid.UUID, permission string) error {
	perm := store.Permission(permission)
	if perm != store.PermissionView && perm != store.PermissionRun && perm != store.PermissionEdit {
		return fault.Fields("permission is not valid",
			fault.FieldError{Field: "permission", Message: "choose view, run or edit"})
	}
	wf, _, err := w.authorized(ctx, c, id, authz.WorkflowShare)
	if err != nil {
		return err
	}
	if userID == c.Principal.UserID {
		return fault.Fields("you cannot share a workflow with yourself",
			fault.FieldError{Field: "user_id", Message: "choose someone else"})
	}
	return w.store.WorkflowGrantSet(ctx, wf.OrganizationID, wf.ID, userID, perm, c.Actor)
}

// Unshare withdraws a member's grant on a workflow (NotFound when they hold none); the store audits it.
func (w *Workflows) Unshare(ctx context.Context, c Caller, id, userID uuid.UUID) error {
	wf, _, err := w.authorized(ctx, c, id, authz.WorkflowShare)
	if err != nil {
		return err
	}
	return w.store.WorkflowGrantSet(ctx, wf.OrganizationID, wf.ID, userID, store.PermissionNone, c.Actor)
}

// GrantCounts counts the grants on each of a page of the caller's organization's workflows, for the list.
func (w *Workflows) GrantCounts(ctx context.Context, c Caller, workflows []store.Workflow) (map[uuid.UUID]int, error) {
	if err := authz.Authorize(c.Principal, authz.WorkflowView, authz.Org(c.Principal.OrgID)); err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(workflows))
	for i, wf := range workflows {
		ids[i] = wf.ID
	}
	return w.store.WorkflowGrantCounts(ctx, c.Principal.OrgID, ids)
}
