// Package views holds the templ components of every page and the view models they take. Views never query
// anything: handlers fill the view models.
package views

import (
	"strings"
	"time"
)

// Frame is what the layout around every full page needs.
type Frame struct {
	Title string
	// User is nil on the pages of anonymous visitors (sign-in, sign-up).
	User *FrameUser
	// Section is the navigation entry to highlight: "dashboard", "workflows", "settings" …
	Section string
	// Development shows the development-mode banner (APP_ENV=development).
	Development bool
	// Path is the page's path, to mark the current settings tab.
	Path string
}

// FrameUser is the signed-in user as the navigation shows them.
type FrameUser struct {
	Name          string
	Email         string
	OrgID         string
	OrgName       string
	Role          string
	InstanceAdmin bool
	// CanViewAudit shows the audit log in the settings navigation.
	CanViewAudit bool
	// Orgs lists every organization of the user, for the switcher; it is shown when there are two or more.
	Orgs []OrgChoice
	// UnreadNotifications is the bell's count.
	UnreadNotifications int
}

// OrgChoice is one entry of the organization switcher.
type OrgChoice struct {
	ID     string
	Name   string
	Role   string
	Active bool
}

// Form carries what a form needs to render again after a failed submission: the values typed (never passwords),
// one message per bad field, and a message about the whole form.
type Form struct {
	Values map[string]string
	Errors map[string]string
	// Error is shown above the form (wrong credentials, too many attempts).
	Error string
	// Notice is a success message shown above the form.
	Notice string
}

// Value returns a field's value.
func (f Form) Value(name string) string { return f.Values[name] }

// FieldError returns a field's message, "" when it is fine.
func (f Form) FieldError(name string) string { return f.Errors[name] }

// Roles lists the roles, most powerful first, for role pickers.
var Roles = []string{"owner", "admin", "member", "viewer"}

// LoginPage is the sign-in page.
type LoginPage struct {
	Form          Form
	Next          string
	SignupEnabled bool
	ResetEnabled  bool
}

// SignupPage is the sign-up page.
type SignupPage struct {
	Form Form
}

// ForgotPasswordPage asks for an address to send a reset link to.
type ForgotPasswordPage struct {
	Form Form
	// Sent replaces the form with the same answer whatever the address (no account enumeration).
	Sent bool
	// Enabled is false when no SMTP server is configured.
	Enabled bool
}

// ResetPasswordPage sets a new password through a reset link.
type ResetPasswordPage struct {
	Form  Form
	Token string
	// Invalid says the link is unknown, used or expired.
	Invalid bool
}

// ProfilePage shows and edits the signed-in user's name and password.
type ProfilePage struct {
	Name         string
	Email        string
	NameForm     Form
	PasswordForm Form
}

// DashboardPage is the signed-in landing page.
type DashboardPage struct {
	UserName string
	OrgName  string
	Role     string
	Version  string
}

// MembersPage lists an organization's members and pending invitations.
type MembersPage struct {
	OrgName     string
	Members     []MemberRow
	Invitations []InvitationRow
	CanInvite   bool
	// InviteRoles are the roles the viewer may invite with.
	InviteRoles []string
	InviteForm  Form
	// InviteLink is the link of the invitation just created: shown this once.
	InviteLink  string
	InviteEmail string
	MailSent    bool
	// Error is a refusal to show above the list (the last owner cannot leave …).
	Error  string
	Notice string
	// NeedsPassword links the Error to the re-enter-password step (making someone owner needs it).
	NeedsPassword bool
}

// MemberRow is one member and what the viewer may do to them.
type MemberRow struct {
	UserID    string
	Name      string
	Email     string
	Role      string
	JoinedAt  time.Time
	LastLogin *time.Time
	IsSelf    bool
	CanChange bool
	Roles     []string
	CanRemove bool
	CanLeave  bool
}

// InvitationRow is one pending invitation.
type InvitationRow struct {
	ID        string
	Email     string
	Role      string
	InvitedBy string
	ExpiresAt time.Time
	CanRevoke bool
	// Mail is the status of its e-mail (queued, sent, retrying, failed), "" when none was sent; MailError the last
	// error of a failed or retried one.
	Mail      string
	MailError string
}

// InvitationPage is where an invited person accepts.
type InvitationPage struct {
	Token   string
	OrgName string
	Role    string
	Email   string
	// Invalid says the link is unknown, used, revoked or expired.
	Invalid bool
	// SignedInAs is the e-mail of the signed-in visitor, "" for an anonymous one.
	SignedInAs string
	// AccountExists tells an anonymous visitor to sign in rather than create an account.
	AccountExists bool
	Form          Form
}

// TokensPage lists the user's personal API tokens in the organization.
type TokensPage struct {
	OrgName string
	Tokens  []TokenRow
	Form    Form
	// NewToken is the secret of the token just created: shown this once.
	NewToken string
	// Scopes are the scope choices, least powerful first.
	Scopes []string
}

// TokenRow is one personal API token.
type TokenRow struct {
	ID         string
	Name       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	Revoked    bool
	Scopes     string
}

// ReauthPage asks a signed-in user for their password again before a sensitive action.
type ReauthPage struct {
	Form Form
	// Next is where to go once the password is confirmed (a local path).
	Next  string
	Email string
}

// AuditPage lists the audit log with its filters.
type AuditPage struct {
	Entries []AuditRow
	Actors  []OrgChoice
	Filter  AuditFilter
	// NextURL continues the listing, "" on the last page.
	NextURL string
	Error   string
}

// AuditFilter is the audit page's filter form.
type AuditFilter struct {
	Action  string
	ActorID string
	From    string
	To      string
}

// AuditRow is one audit entry.
type AuditRow struct {
	At       time.Time
	Actor    string
	ViaToken bool
	Action   string
	// Target names what the action was done to, by name where it still has one ("workflow Orders"); TargetID is
	// its id, the tooltip.
	Target    string
	TargetID  string
	RemoteIP  string
	RequestID string
	Before    string
	After     string
}

// ActionParts splits an audit action after its dots, each part but the last ending with its dot: the page joins
// them with a line-break opportunity, so that a narrow column wraps "workflow.grant_changed" between its words,
// never inside one.
func ActionParts(action string) []string {
	return strings.SplitAfter(action, ".")
}

// ErrorPage explains a refused or failed request.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}

// Stamp formats a time for tables.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// StampPtr formats an optional time, with never for nil.
func StampPtr(t *time.Time, never string) string {
	if t == nil {
		return never
	}
	return Stamp(*t)
}

// ExecutionGraph is the drawing of the workflow version an execution ran, each node coloured by how its runs went.
// Handlers lay it out; coordinates are in the SVG's own user units and ViewBox scales them to the page.
type ExecutionGraph struct {
	// ViewBox is the SVG viewBox, "minX minY width height".
	ViewBox string
	Nodes   []GraphNode
	Edges   []GraphEdge
	// FailedAt is the id of the node the execution failed at, "" when none.
	FailedAt string
}

// GraphNode is one box of an ExecutionGraph.
type GraphNode struct {
	ID string
	// Label is the node's name (or id), shortened to fit the box; Name is the whole of it.
	Label, Name, Type string
	// Status is idle, running, waiting, succeeded, failed or skipped: the aggregate over the node's runs.
	Status string
	// Glyph shows Status without colour; Caption says it in words ("succeeded ×3").
	Glyph, Caption string
	// Title is the tooltip: status, runs, attempts and duration.
	Title string
	// Href links to the node's entry in the timeline.
	Href     string
	FailedAt bool
	// X, Y are the box's top left corner; W, H its size.
	X, Y, W, H int
}

// GraphEdge is one arrow of an ExecutionGraph: Path is its SVG path data, Port (if any) is written at LabelX,
// LabelY.
type GraphEdge struct {
	From, To, Port string
	Path           string
	LabelX, LabelY int
	// Taken is true when the run went along the edge: both ends ran and the target was not skipped.
	Taken bool
}
