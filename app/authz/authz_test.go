package authz

import (
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
)

var roles = []Role{RoleOwner, RoleAdmin, RoleMember, RoleViewer}

func TestAnonymousOtherOrganizationAndForbidden(t *testing.T) {
	t.Parallel()
	org, other := uuid.New(), uuid.New()
	if err := Authorize(Principal{}, WorkflowView, Org(org)); fault.CodeOf(err) != fault.Unauthorized {
		t.Errorf("anonymous: %v", err)
	}
	owner := Principal{UserID: uuid.New(), OrgID: org, Role: RoleOwner}
	for _, a := range Actions {
		if a.InstanceWide() {
			continue
		}
		if err := Authorize(owner, a, Org(other)); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("%s on another organization: %v, want NotFound", a, err)
		}
		if err := Authorize(owner, a, Resource{}); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("%s on a resource without organization: %v, want NotFound", a, err)
		}
	}
	viewer := Principal{UserID: uuid.New(), OrgID: org, Role: RoleViewer}
	if err := Authorize(viewer, MembersInvite, Org(org)); fault.CodeOf(err) != fault.Forbidden {
		t.Errorf("viewer invites: %v", err)
	}
	if err := Authorize(Principal{UserID: uuid.New(), OrgID: org, Role: "king"}, WorkflowView, Org(org)); err == nil {
		t.Error("an unknown role may do something")
	}
	if err := Authorize(owner, JobsAdmin, Instance); fault.CodeOf(err) != fault.Forbidden {
		t.Errorf("an owner who is no instance admin opens the job monitor: %v", err)
	}
	if err := Authorize(owner, FlagsAdmin, Instance); fault.CodeOf(err) != fault.Forbidden {
		t.Errorf("an owner who is no instance admin changes feature flags: %v", err)
	}
	if err := Authorize(Principal{UserID: uuid.New(), InstanceAdmin: true}, FlagsAdmin, Instance); err != nil {
		t.Errorf("instance admin, flags: %v", err)
	}
	if err := Authorize(Principal{UserID: uuid.New(), InstanceAdmin: true}, JobsAdmin, Instance); err != nil {
		t.Errorf("instance admin: %v", err)
	}
	tokenID := uuid.New()
	if err := Authorize(Principal{UserID: owner.UserID, OrgID: org, Role: RoleOwner, TokenID: &tokenID}, TokensManage, Org(org)); err == nil {
		t.Error("a personal token may mint tokens")
	}
}

func TestIntegrationUsePolicy(t *testing.T) {
	t.Parallel()
	org := uuid.New()
	named := uuid.New()
	restricted := &UsePolicy{Roles: []Role{RoleViewer}, Users: []uuid.UUID{named}}
	for _, tc := range []struct {
		name string
		p    Principal
		use  *UsePolicy
		want bool
	}{
		{"member, unrestricted", Principal{UserID: uuid.New(), OrgID: org, Role: RoleMember}, nil, true},
		{"member, restricted", Principal{UserID: uuid.New(), OrgID: org, Role: RoleMember}, restricted, false},
		{"member named", Principal{UserID: named, OrgID: org, Role: RoleMember}, restricted, true},
		{"viewer by role", Principal{UserID: uuid.New(), OrgID: org, Role: RoleViewer}, restricted, true},
		{"admin always", Principal{UserID: uuid.New(), OrgID: org, Role: RoleAdmin}, &UsePolicy{}, true},
		{"unknown role", Principal{UserID: named, OrgID: org, Role: "king"}, restricted, false},
	} {
		err := Authorize(tc.p, IntegrationsUse, Integration(org, tc.use))
		if (err == nil) != tc.want {
			t.Errorf("%s: %v, want allowed=%v", tc.name, err, tc.want)
		}
	}
	if err := Authorize(Principal{UserID: uuid.New(), OrgID: org, Role: RoleOwner}, IntegrationsPrivilegedRole, Instance); fault.CodeOf(err) != fault.Forbidden {
		t.Errorf("an owner who is no instance admin allows a privileged role: %v", err)
	}
	if err := Authorize(Principal{UserID: uuid.New(), InstanceAdmin: true}, IntegrationsPrivilegedRole, Instance); err != nil {
		t.Errorf("instance admin: %v", err)
	}
}

func TestGrantsWidenOneWorkflow(t *testing.T) {
	t.Parallel()
	org := uuid.New()
	creator := uuid.New()
	for _, role := range []Role{RoleMember, RoleViewer} {
		p := Principal{UserID: uuid.New(), OrgID: org, Role: role}
		wf := func(g Grant) Resource { return Workflow(org, &creator, g) }
		if Authorize(p, WorkflowEdit, wf(GrantNone)) == nil || Authorize(p, WorkflowRun, wf(GrantView)) == nil {
			t.Errorf("%s edits or runs someone else's workflow without a grant", role)
		}
		if Authorize(p, WorkflowRun, wf(GrantRun)) != nil || Authorize(p, ExecutionRetry, wf(GrantRun)) != nil ||
			Authorize(p, WorkflowEdit, wf(GrantRun)) == nil {
			t.Errorf("%s with a run grant", role)
		}
		if Authorize(p, WorkflowEdit, wf(GrantEdit)) != nil || Authorize(p, WorkflowRun, wf(GrantEdit)) != nil ||
			Authorize(p, WorkflowDelete, wf(GrantEdit)) == nil {
			t.Errorf("%s with an edit grant", role)
		}
	}
}

// matrix renders who may do what, from Authorize itself, as the README's table.
func matrix() string {
	var b strings.Builder
	b.WriteString("| action | owner | admin | member | viewer |\n|---|---|---|---|---|\n")
	org := uuid.New()
	for _, a := range Actions {
		if a.InstanceWide() {
			b.WriteString("| `" + string(a) + "` | instance admin | instance admin | instance admin | instance admin |\n")
			continue
		}
		b.WriteString("| `" + string(a) + "` |")
		for _, role := range roles {
			p := Principal{UserID: uuid.New(), OrgID: org, Role: role}
			someone := uuid.New()
			cell := "—"
			switch {
			case Authorize(p, a, Resource{OrgID: org, CreatedBy: &someone, Use: &UsePolicy{}}) == nil:
				cell = "yes"
			default:
				var ways []string
				if Authorize(p, a, Resource{OrgID: org, CreatedBy: &someone}) == nil {
					ways = append(ways, "unless restricted")
				}
				if Authorize(p, a, Resource{OrgID: org, CreatedBy: &p.UserID, Use: &UsePolicy{}}) == nil {
					ways = append(ways, "own")
				}
				for _, g := range []Grant{GrantView, GrantRun, GrantEdit} {
					if Authorize(p, a, Resource{OrgID: org, CreatedBy: &someone, Grant: g, Use: &UsePolicy{}}) == nil {
						ways = append(ways, "`"+string(g)+"` grant")
						break
					}
				}
				if len(ways) > 0 {
					cell = strings.Join(ways, " or ")
				}
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestReadmeMatrixIsAuthorize keeps the README's "Roles and permissions" table true: it is rendered from Authorize.
func TestReadmeMatrixIsAuthorize(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := matrix(); !strings.Contains(string(readme), want) {
		t.Errorf("README.md's role matrix differs from Authorize; it should read:\n\n%s", want)
	}
}

// TestScopeOf: every action has a scope, an action nobody listed needs admin, and the ladder includes downwards.
func TestScopeOf(t *testing.T) {
	for _, a := range Actions {
		if !ScopeOf(a).Valid() {
			t.Errorf("%s has no valid scope", a)
		}
	}
	for _, a := range []Action{MembersInvite, MembersManage, OwnersManage, TokensManage, OrgSettings, AuditView, WorkflowShare, "integrations.brand_new"} {
		if ScopeOf(a) != ScopeAdmin {
			t.Errorf("ScopeOf(%s) = %s, want admin", a, ScopeOf(a))
		}
	}
	if !ScopeAdmin.Includes(ScopeRead) || !ScopeWrite.Includes(ScopeRun) || ScopeRun.Includes(ScopeWrite) || Scope("root").Includes(ScopeRead) {
		t.Error("the scope ladder is wrong")
	}
	tok := uuid.New()
	p := Principal{UserID: uuid.New(), OrgID: uuid.New(), Role: RoleOwner, TokenID: &tok, Scopes: []Scope{ScopeRun}}
	if err := Authorize(p, WorkflowRun, Org(p.OrgID)); err != nil {
		t.Errorf("run token runs: %v", err)
	}
	if err := Authorize(p, WorkflowEdit, Org(p.OrgID)); err == nil {
		t.Error("run token edits")
	}
	p.TokenID, p.Scopes = nil, nil
	if err := Authorize(p, OwnersManage, Org(p.OrgID)); err != nil {
		t.Errorf("a session carries no scopes and is not bound by them: %v", err)
	}
	if RequireFreshPassword(Principal{UserID: p.UserID, Session: true, FreshPassword: true, TokenID: &tok}, "x") == nil ||
		RequireFreshPassword(Principal{UserID: p.UserID, Session: true}, "x") == nil ||
		RequireFreshPassword(Principal{UserID: p.UserID, Session: true, FreshPassword: true}, "x") != nil {
		t.Error("RequireFreshPassword")
	}
	if _, err := ParseScopes([]string{"read", "admin"}); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{nil, {"all"}, {"read", "read"}} {
		if _, err := ParseScopes(bad); err == nil {
			t.Errorf("ParseScopes(%q) accepted", bad)
		}
	}
}
