package authz

import (
	"errors"
	"slices"
	"strings"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Scope bounds what a personal API token may do, on top of its user's role: a token never does more than its user
// may, and often much less. Scopes form a ladder, read < run < write < admin, each including the ones before it:
//   - read views workflows, executions, forms, integrations and the member list;
//   - run also runs workflows and cancels or retries executions;
//   - write also creates, edits and deletes workflows, forms and integrations;
//   - admin also does everything else the role allows: members, invitations, roles, sharing, the audit log, and
//     every action not listed in scopeOf (a new action needs admin until someone decides otherwise).
//
// Sessions (cookies) and JWT access tokens carry no scopes: they act with their role. Some actions are beyond
// every token whatever its scopes: minting tokens (TokensManage) and making someone owner (RequireFreshPassword).
type Scope string

// The scopes, least powerful first.
const (
	ScopeRead  Scope = "read"
	ScopeRun   Scope = "run"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

// Scopes lists every scope, least powerful first: the choices of the token forms and the API's enum.
var Scopes = []Scope{ScopeRead, ScopeRun, ScopeWrite, ScopeAdmin}

func (s Scope) rank() int { return slices.Index(Scopes, s) + 1 }

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Includes reports whether s grants want: admin includes write, write includes run, run includes read.
func (s Scope) Includes(want Scope) bool { return s.Valid() && s.rank() >= want.rank() }

// scopeOf is the scope each action needs. An action missing here needs ScopeAdmin.
var scopeOf = map[Action]Scope{
	// MembersView is also what GET /api/v1/me takes: any token may see whom it acts as and who its colleagues are;
	// changing members is admin's.
	MembersView:      ScopeRead,
	WorkflowView:     ScopeRead,
	ExecutionView:    ScopeRead,
	FormsView:        ScopeRead,
	IntegrationsView: ScopeRead,

	WorkflowRun:     ScopeRun,
	ExecutionCancel: ScopeRun,
	ExecutionRetry:  ScopeRun,

	WorkflowCreate:     ScopeWrite,
	WorkflowEdit:       ScopeWrite,
	WorkflowDelete:     ScopeWrite,
	ExecutionDelete:    ScopeWrite,
	FormsCreate:        ScopeWrite,
	FormsManage:        ScopeWrite,
	IntegrationsManage: ScopeWrite,
	// Using an integration is what saving a workflow that names one takes: write, like the save itself.
	IntegrationsUse: ScopeWrite,
}

// ScopeOf is the scope a token needs for action a: ScopeAdmin for any action not given a lesser one, so an action
// added without a thought for tokens is safe by default.
func ScopeOf(a Action) Scope {
	if s, ok := scopeOf[a]; ok {
		return s
	}
	return ScopeAdmin
}

// ParseScopes reads a token's scopes, refusing an empty list, an unknown scope or a repeated one.
func ParseScopes(in []string) ([]Scope, error) {
	if len(in) == 0 {
		return nil, scopesInvalid("choose at least one of read, run, write, admin")
	}
	out := make([]Scope, 0, len(in))
	for _, v := range in {
		s := Scope(v)
		if !s.Valid() {
			return nil, scopesInvalid("unknown scope " + quote(v) + ": choose from read, run, write, admin")
		}
		if slices.Contains(out, s) {
			return nil, scopesInvalid("scope " + quote(v) + " is listed twice")
		}
		out = append(out, s)
	}
	return out, nil
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

func scopesInvalid(msg string) error {
	return fault.Fields("bad scopes", fault.FieldError{Field: "scopes", Message: msg})
}

// scopesAllow reports whether a token holding have may do a.
func scopesAllow(have []Scope, a Action) bool {
	want := ScopeOf(a)
	for _, s := range have {
		if s.Includes(want) {
			return true
		}
	}
	return false
}

// checkScopes is Authorize's hook for tokens: a personal token must hold the action's scope; other principals
// carry no scopes and pass.
func checkScopes(p Principal, a Action) error {
	if p.TokenID == nil || scopesAllow(p.Scopes, a) {
		return nil
	}
	return fault.New(fault.Forbidden, "this API token lacks the %q scope that %s needs", ScopeOf(a), a)
}

// RequireFreshPassword guards the actions that make someone owner (a role change to owner, an invitation as
// owner): beyond the owner role they need an interactive session whose password was re-entered within the last
// few minutes. No token may do them, whatever its scopes: a leaked token or a walked-away-from browser must not be
// able to create an owner who outlives its discovery. what completes "re-enter your password to …".
func RequireFreshPassword(p Principal, what string) error {
	if p.TokenID == nil && p.FreshPassword {
		return nil
	}
	if p.TokenID != nil || !p.Session {
		return fault.Wrap(ErrStalePassword, fault.Forbidden,
			"re-enter your password to "+what+": this takes a signed-in browser session, never an API token")
	}
	return fault.Wrap(ErrStalePassword, fault.Forbidden, "re-enter your password to "+what)
}

// ErrStalePassword is the cause of RequireFreshPassword's refusals (errors.Is), so that a page can offer to
// re-enter the password rather than show a plain refusal.
var ErrStalePassword = errors.New("the password was not re-entered recently")
