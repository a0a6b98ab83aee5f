package app

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Sign-in limits count failures only (a successful sign-in is refunded), under three keys so that guessing from
// one address cannot lock the owner out everywhere:
//   - per account and address: ten failures a quarter hour stop that address guessing that account;
//   - per account: a hundred failures an hour stop a guesser spread over many addresses (reaching it locks the
//     account for the rest of the hour: the price of stopping a distributed guesser);
//   - per address: thirty failures a quarter hour stop one address trying many accounts.
const (
	SignInLimitAccountAddress  = 10
	SignInWindowAccountAddress = 15 * time.Minute
	SignInLimitAccount         = 100
	SignInWindowAccount        = time.Hour
	SignInLimitAddress         = 30
	SignInWindowAddress        = 15 * time.Minute
)

// The other limits of accounts. Sign-ups and resets count every attempt; resets are rarer still, since each one
// sends an e-mail. Wrong guesses of the current password through a stolen session are limited per user.
const (
	signUpPerAddress       = 10
	signUpWindow           = time.Hour
	resetPerAddress        = 10
	resetPerAccount        = 3
	resetWindow            = time.Hour
	passwordChangesPerUser = 10
	confirmsPerUser        = 10
	passwordGuessWindow    = 15 * time.Minute
	// refreshPerAddress bounds refresh and API sign-out calls per address: refresh tokens cannot be guessed, but a
	// flood of lookups is still a cost.
	refreshPerAddress = 120
	refreshWindow     = time.Minute
)

// PasswordResetLifetime is how long a password reset link stays usable.
const PasswordResetLifetime = time.Hour

// RefreshTokenLifetime is how long an API refresh token may go unused.
const RefreshTokenLifetime = 30 * 24 * time.Hour

// Accounts are the use cases of people's accounts: signing up, signing in and out (a browser session or the API's
// tokens), passwords and the profile. Sessions, cookies and access tokens belong to the surfaces; the checks, the
// rate limits, the records and the audit log are here. The flows of someone not signed in take the request's
// store.Actor, whose address the per-address limits count.
type Accounts struct {
	store     *store.Store
	passwords *passwords
	attempts  attempts
	outbox    *Outbox
	now       func() time.Time
	baseURL   string
	logger    *slog.Logger
}

// errBadCredentials is the one answer to a wrong e-mail or a wrong password.
var errBadCredentials = fault.New(fault.Unauthorized, "The e-mail or password is not right.")

// Credentials are what signing in takes.
type Credentials struct {
	Email    string
	Password string
	// OrganizationID picks one of the user's organizations to act in; the first (oldest membership) when nil.
	OrganizationID *uuid.UUID
}

// SignedIn is a successful sign-in: who, in which organization, and for the API the refresh token that starts a
// new rotation family (it exists only in this answer: the database keeps its hash).
type SignedIn struct {
	User           store.User
	OrganizationID uuid.UUID
	RefreshToken   string
}

// SignIn checks credentials for a browser session (rate-limited, see SignInLimitAccountAddress) and records the
// sign-in; the caller then starts the session.
func (a *Accounts) SignIn(ctx context.Context, actor store.Actor, in Credentials) (SignedIn, error) {
	user, orgID, err := a.authenticate(ctx, actor, in, "password")
	if err != nil {
		return SignedIn{}, err
	}
	if err := a.store.UserRecordLogin(ctx, user.ID, orgID, "password", actor); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{User: user, OrganizationID: orgID}, nil
}

// SignInAPI checks credentials as SignIn does and starts a refresh-token family for the API; the caller issues the
// access token.
func (a *Accounts) SignInAPI(ctx context.Context, actor store.Actor, in Credentials) (SignedIn, error) {
	user, orgID, err := a.authenticate(ctx, actor, in, "api")
	if err != nil {
		return SignedIn{}, err
	}
	refresh, hash := auth.NewToken(auth.RefreshTokenPrefix)
	if err := a.store.APILogin(ctx, user.ID, orgID, hash, a.now().Add(RefreshTokenLifetime), actor); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{User: user, OrganizationID: orgID, RefreshToken: refresh}, nil
}

// signInLimits are the limits a sign-in attempt for email from addr counts against.
func signInLimits(email string, addr netip.Addr) []attemptLimit {
	ip, acct := addr.String(), strings.ToLower(email)
	return []attemptLimit{
		{"login:acct-ip:" + acct + "|" + ip, SignInLimitAccountAddress, SignInWindowAccountAddress},
		{"login:acct:" + acct, SignInLimitAccount, SignInWindowAccount},
		{"login:ip:" + ip, SignInLimitAddress, SignInWindowAddress},
	}
}

// authenticate applies the sign-in limits (failures only) and verifies an e-mail and password, auditing a failure
// under method, and returns the user and the organization they sign in to.
func (a *Accounts) authenticate(ctx context.Context, actor store.Actor, in Credentials, method string) (store.User, uuid.UUID, error) {
	email := strings.TrimSpace(in.Email)
	if email == "" || in.Password == "" {
		return store.User{}, uuid.Nil, validate.Join(nil, required(email == "", "email"), required(in.Password == "", "password"))
	}
	refund, err := a.attempts.reserve(ctx, signInLimits(email, actor.RemoteIP)...)
	if err != nil {
		return store.User{}, uuid.Nil, err
	}
	user, err := a.store.UserGetByEmail(ctx, email)
	switch {
	case fault.CodeOf(err) == fault.NotFound:
		auth.PasswordMatches(a.passwords.dummy(), in.Password)
		a.auditFailure(ctx, actor, nil, method)
		return store.User{}, uuid.Nil, errBadCredentials
	case err != nil:
		return store.User{}, uuid.Nil, err
	}
	if !auth.PasswordMatches(user.PasswordHash, in.Password) {
		a.auditFailure(ctx, actor, &user.ID, method)
		return store.User{}, uuid.Nil, errBadCredentials
	}
	refund()
	orgs, err := a.store.UserOrganizations(ctx, user.ID)
	if err != nil {
		return store.User{}, uuid.Nil, err
	}
	if len(orgs) == 0 {
		return store.User{}, uuid.Nil, fault.New(fault.Forbidden, "Your account belongs to no organization any more. Ask for an invitation.")
	}
	if in.OrganizationID == nil {
		return user, orgs[0].ID, nil
	}
	for _, o := range orgs {
		if o.ID == *in.OrganizationID {
			return user, o.ID, nil
		}
	}
	return store.User{}, uuid.Nil, fault.Fields("not a member", fault.FieldError{Field: "organization_id",
		Message: "you are not a member of this organization"})
}

// auditFailure records a refused sign-in; a failure to record it is logged, never shown to the guesser.
func (a *Accounts) auditFailure(ctx context.Context, actor store.Actor, userID *uuid.UUID, method string) {
	if err := a.store.AuditLoginFailure(ctx, userID, method, actor); err != nil {
		logging.From(ctx, a.logger).Error("audit failed sign-in", "error", err)
	}
}

// required is the field error of a missing value, nil when it is there.
func required(missing bool, field string) *fault.FieldError {
	if !missing {
		return nil
	}
	return &fault.FieldError{Field: field, Message: "is required"}
}

// RefreshTokens rotates an API refresh token and returns who it speaks for with the next one. Presenting a refresh
// token that was already rotated revokes its whole family.
func (a *Accounts) RefreshTokens(ctx context.Context, actor store.Actor, refreshToken string) (SignedIn, error) {
	if err := a.attempts.allow(ctx, refreshLimit(actor)); err != nil {
		return SignedIn{}, err
	}
	if refreshToken == "" {
		return SignedIn{}, fault.Fields("missing", fault.FieldError{Field: "refresh_token", Message: "is required"})
	}
	next, hash := auth.NewToken(auth.RefreshTokenPrefix)
	grant, err := a.store.RefreshTokenRotate(ctx, auth.HashToken(refreshToken), hash, a.now().Add(RefreshTokenLifetime), actor)
	if err != nil {
		return SignedIn{}, err
	}
	user, err := a.store.UserGet(ctx, grant.UserID)
	if err != nil {
		return SignedIn{}, err
	}
	return SignedIn{User: user, OrganizationID: grant.OrganizationID, RefreshToken: next}, nil
}

// SignOutAPI revokes a refresh token's family: the API's sign-out. An unknown token is no error, so signing out
// twice is harmless. Access tokens already issued run out within their short lifetime.
func (a *Accounts) SignOutAPI(ctx context.Context, actor store.Actor, refreshToken string) error {
	if err := a.attempts.allow(ctx, refreshLimit(actor)); err != nil {
		return err
	}
	return a.store.RefreshTokenRevoke(ctx, auth.HashToken(refreshToken), actor)
}

func refreshLimit(actor store.Actor) attemptLimit {
	return attemptLimit{"refresh:ip:" + actor.RemoteIP.String(), refreshPerAddress, refreshWindow}
}

// SignOut records that the caller ended their browser session; the caller destroys the session.
func (a *Accounts) SignOut(ctx context.Context, c Caller) error {
	p := c.Principal
	if !p.Authenticated() {
		return nil
	}
	return a.store.AuditEvent(ctx, c.Actor, &p.OrgID, "session.logout", "user", p.UserID.String())
}

// SwitchOrganization checks that the caller belongs to another organization and may act in it; the caller then
// moves the session there. One the caller does not belong to is NotFound.
func (a *Accounts) SwitchOrganization(ctx context.Context, c Caller, orgID uuid.UUID) error {
	if !c.Principal.Authenticated() {
		return fault.New(fault.Unauthorized, "sign in first")
	}
	sp, err := a.store.PrincipalGet(ctx, c.Principal.UserID, orgID)
	if err != nil {
		return err
	}
	there := authz.Principal{UserID: sp.User.ID, OrgID: sp.Organization.ID, Role: authz.Role(sp.Role),
		InstanceAdmin: sp.User.InstanceAdmin, Session: c.Principal.Session}
	return authz.Authorize(there, authz.MembersView, authz.Org(orgID))
}

// Registration is what someone gives to sign up.
type Registration struct {
	Name         string `form:"name" validate:"required,max=200"`
	Email        string `form:"email" validate:"required,email,max=254"`
	Password     string `form:"password"`
	Organization string `form:"organization" validate:"required,max=200"`
}

// SignUp creates a user and a new organization they own; the caller signs them in. Sign-ups are limited per
// address; an e-mail that has an account is refused naming the field.
func (a *Accounts) SignUp(ctx context.Context, actor store.Actor, in Registration) (store.User, store.Organization, error) {
	in.Name, in.Email, in.Organization = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email), strings.TrimSpace(in.Organization)
	var noSlug *fault.FieldError
	if in.Organization != "" && store.Slugify(in.Organization) == "" {
		noSlug = &fault.FieldError{Field: "organization", Message: "needs at least one letter or digit"}
	}
	if err := validate.Join(validate.Struct(in), CheckPassword("password", in.Password), noSlug); err != nil {
		return store.User{}, store.Organization{}, err
	}
	limit := attemptLimit{"signup:ip:" + actor.RemoteIP.String(), signUpPerAddress, signUpWindow}
	if err := a.attempts.allow(ctx, limit); err != nil {
		return store.User{}, store.Organization{}, err
	}
	hash, err := a.passwords.hash(in.Password)
	if err != nil {
		return store.User{}, store.Organization{}, err
	}
	user, org, err := a.store.UserSignUp(ctx, store.SignUp{
		Email: in.Email, Name: in.Name, PasswordHash: hash, OrganizationName: in.Organization,
	}, actor)
	if fault.CodeOf(err) == fault.Conflict {
		err = fault.Fields("taken", fault.FieldError{Field: "email", Message: "an account with this e-mail exists: sign in instead"})
	}
	return user, org, err
}
