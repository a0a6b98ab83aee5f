// Package authz is the one place that decides whether a principal may do something. Every handler calls Authorize
// before it reads or changes anything of an organization; nothing else in the code base compares roles.
//
// The rules, which README.md's "Roles and permissions" section restates as a table:
//   - Roles rank owner > admin > member > viewer within one organization.
//   - A viewer reads everything in the organization and changes nothing, except workflows it is granted run or
//     edit on.
//   - A member also creates workflows and forms, and edits, runs and deletes those it created or is granted.
//   - An admin manages everything in the organization except owners and the owner-only organization settings.
//   - An owner may do everything in the organization.
//   - A per-workflow grant (view < run < edit) widens a member's or viewer's access to that one workflow.
//   - Using an integration in a workflow is open to everyone in the organization unless an admin restricted it
//     to named roles and members; admins and owners may always use it.
//   - Instance administration (the job monitor, the feature flags, letting a database integration connect with a
//     privileged role)
//     belongs to instance administrators, whatever their roles.
//   - A resource of another organization is NotFound, never Forbidden: its existence is not revealed.
//
// It imports nothing of HTTP, the store or the engine: it decides on values its callers load.
package authz

import (
	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Role is a principal's role in its organization.
type Role string

// The roles, most powerful first.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// rank orders the roles; an unknown role ranks below every known one and may do nothing.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleMember:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AtLeast reports whether r is min or more powerful.
func (r Role) AtLeast(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// Grant is a per-workflow permission, each including the ones before it: view < run < edit.
type Grant string

// The grants.
const (
	GrantNone Grant = ""
	GrantView Grant = "view"
	GrantRun  Grant = "run"
	GrantEdit Grant = "edit"
)

func (g Grant) includes(want Grant) bool {
	order := map[Grant]int{GrantNone: 0, GrantView: 1, GrantRun: 2, GrantEdit: 3}
	return order[g] >= order[want] && want != GrantNone
}

// Principal is who a request acts as: a user in one organization with the role they hold there now (re-read from
// the database on every request, so a removed member or a changed role takes effect at once).
type Principal struct {
	UserID uuid.UUID
	OrgID  uuid.UUID
	Role   Role
	// InstanceAdmin may administer the whole instance (the job monitor), across organizations.
	InstanceAdmin bool
	// TokenID is set when the request authenticated with a personal API token rather than a session or a JWT.
	TokenID *uuid.UUID
	// Scopes bound a personal token (TokenID set); see scopes.go.
	Scopes []Scope
	// Session is set for a cookie session; FreshPassword when its password was re-entered within the last few
	// minutes (RequireFreshPassword).
	Session, FreshPassword bool
}

// Authenticated reports whether p is a signed-in user rather than the zero (anonymous) principal.
func (p Principal) Authenticated() bool { return p.UserID != uuid.Nil }

// Action is something a principal may be allowed to do.
type Action string

// The actions. Names are resource.verb; the README's matrix lists who may do each.
const (
	WorkflowCreate Action = "workflow.create"
	WorkflowView   Action = "workflow.view"
	WorkflowEdit   Action = "workflow.edit"
	WorkflowRun    Action = "workflow.run"
	WorkflowDelete Action = "workflow.delete"
	// WorkflowShare changes who is granted what on a workflow.
	WorkflowShare Action = "workflow.share"

	ExecutionView   Action = "execution.view"
	ExecutionCancel Action = "execution.cancel"
	ExecutionRetry  Action = "execution.retry"
	// ExecutionDelete removes an execution from history for good: the workflow's own deleters only, since what is
	// gone is gone for every viewer.
	ExecutionDelete Action = "execution.delete"

	FormsView   Action = "forms.view"
	FormsCreate Action = "forms.create"
	// FormsManage edits, publishes or deletes one form.
	FormsManage Action = "forms.manage"

	IntegrationsView   Action = "integrations.view"
	IntegrationsManage Action = "integrations.manage"
	// IntegrationsUse names an integration in a workflow version (checked on save, and again on each run against
	// the version's author). Its resource is Integration(…).
	IntegrationsUse Action = "integrations.use"
	// IntegrationsPrivilegedRole lets a database integration connect as a superuser or a member of the roles
	// reaching the database server's files and programs: instance administrators only.
	IntegrationsPrivilegedRole Action = "integrations.privileged_role"

	MembersView   Action = "members.view"
	MembersInvite Action = "members.invite"
	// MembersManage changes a non-owner's role or removes a non-owner.
	MembersManage Action = "members.manage"
	// OwnersManage makes someone owner, or changes or removes an owner.
	OwnersManage Action = "owners.manage"

	AuditView Action = "audit.view"
	// TokensManage creates and revokes the principal's own personal API tokens.
	TokensManage Action = "tokens.manage"
	// OrgSettings changes the owner-only organization settings (name, deletion).
	OrgSettings Action = "org.settings"
	// RetentionManage sets how long the organization's executions are kept.
	RetentionManage Action = "retention.manage"
	// OrgTransfer exports the organization's workflows, forms, integrations and notification rules as a bundle, or
	// imports one: it reads and writes everything, so it is the administrators'.
	OrgTransfer Action = "org.transfer"

	// JobsAdmin opens the instance's job monitor, which spans organizations.
	JobsAdmin Action = "jobs.admin"
	// FlagsAdmin sees and changes the instance's feature flags, their rollouts and every organization's overrides.
	FlagsAdmin Action = "flags.admin"
)

// Actions lists every action, for the README's matrix test.
var Actions = []Action{WorkflowCreate, WorkflowView, WorkflowEdit, WorkflowRun, WorkflowDelete, WorkflowShare,
	ExecutionView, ExecutionCancel, ExecutionRetry, ExecutionDelete, FormsView, FormsCreate, FormsManage, IntegrationsView, IntegrationsManage,
	IntegrationsUse, IntegrationsPrivilegedRole, MembersView, MembersInvite, MembersManage, OwnersManage, AuditView, TokensManage, OrgSettings, RetentionManage,
	OrgTransfer, JobsAdmin, FlagsAdmin}

// InstanceWide reports whether a is instance administration, which only instance administrators may do
// whatever their roles (users.instance_admin, granted by `concertmaster user create --instance-admin`).
func (a Action) InstanceWide() bool {
	return a == JobsAdmin || a == IntegrationsPrivilegedRole || a == FlagsAdmin
}

// Resource is what an action is done to: the organization it belongs to, who created it, and the principal's
// per-workflow grant on it. An organization-wide action (listing, inviting) uses Org(orgID).
type Resource struct {
	OrgID uuid.UUID
	// CreatedBy is the resource's creator, when it has one (workflows, forms); nil otherwise.
	CreatedBy *uuid.UUID
	// Grant is the principal's per-workflow grant on the resource (a workflow, or the workflow of an execution).
	Grant Grant
	// Use is an integration's use policy; nil lets everyone in the organization use it.
	Use *UsePolicy
}

// UsePolicy restricts who may use an integration to admins, owners, the holders of Roles and the users in
// Users.
type UsePolicy struct {
	Roles []Role
	Users []uuid.UUID
}

// Integration is the resource of using an integration whose use is restricted by use (nil: unrestricted).
func Integration(orgID uuid.UUID, use *UsePolicy) Resource {
	return Resource{OrgID: orgID, Use: use}
}

// Org is the resource of an organization-wide action.
func Org(orgID uuid.UUID) Resource { return Resource{OrgID: orgID} }

// Workflow is the resource of an action on one workflow or one of its executions.
func Workflow(orgID uuid.UUID, createdBy *uuid.UUID, grant Grant) Resource {
	return Resource{OrgID: orgID, CreatedBy: createdBy, Grant: grant}
}

// Instance is the resource of an instance-wide action.
var Instance = Resource{}

// Authorize decides whether p may do a to r. It returns nil when allowed, an Unauthorized fault for an anonymous
// principal, a NotFound fault when r belongs to another organization (so its existence is not revealed), and a
// Forbidden fault otherwise.
func Authorize(p Principal, a Action, r Resource) error {
	if !p.Authenticated() {
		return fault.New(fault.Unauthorized, "sign in first")
	}
	// A token's scopes depend on the action alone, so refusing before the organization check reveals nothing.
	if err := checkScopes(p, a); err != nil {
		return err
	}
	if a.InstanceWide() {
		if p.InstanceAdmin {
			return nil
		}
		return forbidden()
	}
	if r.OrgID == uuid.Nil || r.OrgID != p.OrgID {
		return fault.New(fault.NotFound, "not found")
	}
	if allowed(p, a, r) {
		return nil
	}
	return forbidden()
}

func forbidden() error {
	return fault.New(fault.Forbidden, "your role in this organization does not allow this")
}

// allowed is the role matrix for an action on a resource of the principal's own organization.
func allowed(p Principal, a Action, r Resource) bool {
	role := p.Role
	own := r.CreatedBy != nil && *r.CreatedBy == p.UserID
	switch a {
	case WorkflowView, ExecutionView, FormsView, IntegrationsView, MembersView:
		return role.AtLeast(RoleViewer)
	case WorkflowCreate, FormsCreate:
		return role.AtLeast(RoleMember)
	case WorkflowEdit:
		return role.AtLeast(RoleAdmin) || (role == RoleMember && own) || (role.AtLeast(RoleViewer) && r.Grant.includes(GrantEdit))
	case WorkflowRun, ExecutionCancel, ExecutionRetry:
		return role.AtLeast(RoleAdmin) || (role == RoleMember && own) || (role.AtLeast(RoleViewer) && r.Grant.includes(GrantRun))
	case WorkflowDelete, WorkflowShare, FormsManage, ExecutionDelete:
		return role.AtLeast(RoleAdmin) || (role == RoleMember && own)
	case IntegrationsManage, MembersInvite, MembersManage, AuditView, RetentionManage, OrgTransfer:
		return role.AtLeast(RoleAdmin)
	case IntegrationsUse:
		return role.AtLeast(RoleAdmin) || (role.AtLeast(RoleViewer) && r.Use.admits(p.UserID, role))
	case OwnersManage, OrgSettings:
		return role == RoleOwner
	case TokensManage:
		// A personal token cannot mint or revoke tokens: a leaked token must not be able to entrench itself.
		return role.AtLeast(RoleViewer) && p.TokenID == nil
	}
	return false
}

// admits reports whether a use policy lets user, holding role, use the integration.
func (u *UsePolicy) admits(user uuid.UUID, role Role) bool {
	if u == nil {
		return true
	}
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	for _, id := range u.Users {
		if id == user {
			return true
		}
	}
	return false
}
