package app

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The password and profile use cases of Accounts.

// RequestPasswordReset e-mails a single-use reset link to email when it has an account. It answers the same
// whether or not it has one, so it cannot be used to find out who has an account; it is limited per address and
// per account. Without a mailer (SMTP_URL unset) it sends nothing and says so in the log.
func (a *Accounts) RequestPasswordReset(ctx context.Context, actor store.Actor, email string) error {
	email = strings.TrimSpace(email)
	if err := validate.Struct(struct {
		Email string `form:"email" validate:"required,email,max=254"`
	}{email}); err != nil {
		return err
	}
	for _, l := range []attemptLimit{
		{"reset:ip:" + actor.RemoteIP.String(), resetPerAddress, resetWindow},
		{"reset:acct:" + strings.ToLower(email), resetPerAccount, resetWindow},
	} {
		if err := a.attempts.allow(ctx, l); err != nil {
			return err
		}
	}
	if !a.outbox.Enabled() {
		logging.From(ctx, a.logger).Warn("password reset asked for, but SMTP_URL is not set")
		return nil
	}
	user, err := a.store.UserGetByEmail(ctx, email)
	if fault.CodeOf(err) == fault.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	token, hash := auth.NewToken(auth.LinkTokenPrefix)
	if err := a.store.PasswordResetCreate(ctx, user.ID, hash, a.now().Add(PasswordResetLifetime), actor); err != nil {
		return err
	}
	link := a.baseURL + "/reset-password?token=" + url.QueryEscape(token)
	a.outbox.Send(ctx, "password_reset", nil, nil, mail.Message{
		To:      []string{user.Email},
		Subject: "Reset your ConcertMaster password",
		Text: "Hello " + user.Name + ",\n\nSomeone (hopefully you) asked to reset the password of your ConcertMaster " +
			"account. To choose a new password, open this link within an hour:\n\n" + link +
			"\n\nThe link works once. If you did not ask for it, ignore this e-mail: your password stays as it is.\n",
	})
	return nil
}

// CheckPasswordReset reports whether a reset link can still be used: an unknown, used or expired one is one and
// the same NotFound.
func (a *Accounts) CheckPasswordReset(ctx context.Context, token string) error {
	return a.store.PasswordResetCheck(ctx, auth.HashToken(token))
}

// PasswordReset is a new password chosen through a reset link.
type PasswordReset struct {
	Token    string
	Password string
	// Confirm is the password typed again.
	Confirm string
}

// ResetPassword sets a new password through a reset link, which it uses up. Every session and access token of the
// user ends (the credentials version moves on). Attempts are limited per address.
func (a *Accounts) ResetPassword(ctx context.Context, actor store.Actor, in PasswordReset) (store.User, error) {
	limit := attemptLimit{"reset:ip:" + actor.RemoteIP.String(), resetPerAddress, resetWindow}
	if err := a.attempts.allow(ctx, limit); err != nil {
		return store.User{}, err
	}
	if err := validate.Join(nil, CheckPassword("password", in.Password), mismatch(in.Password, in.Confirm)); err != nil {
		return store.User{}, err
	}
	hash, err := a.passwords.hash(in.Password)
	if err != nil {
		return store.User{}, err
	}
	return a.store.PasswordResetComplete(ctx, auth.HashToken(in.Token), hash, actor)
}

// mismatch is the field error of a password typed differently the second time.
func mismatch(password, confirm string) *fault.FieldError {
	if password == confirm {
		return nil
	}
	return &fault.FieldError{Field: "confirm", Message: "does not match"}
}

// signedIn refuses the anonymous caller: a person's own account needs no role, only to be signed in.
func signedIn(c Caller) error {
	if !c.Principal.Authenticated() {
		return fault.New(fault.Unauthorized, "sign in first")
	}
	return nil
}

// PasswordChange is a new password chosen by someone signed in, who proves the current one.
type PasswordChange struct {
	Current  string
	Password string
	// Confirm is the new password typed again.
	Confirm string
}

// ChangePassword replaces the caller's password after checking the current one, and returns the user with their
// new credentials version: every session and access token of theirs ends, and the caller renews its own.
// Guesses of the current password (through a stolen session) are limited per user.
func (a *Accounts) ChangePassword(ctx context.Context, c Caller, in PasswordChange) (store.User, error) {
	if err := signedIn(c); err != nil {
		return store.User{}, err
	}
	userID := c.Principal.UserID
	limit := attemptLimit{"password:user:" + userID.String(), passwordChangesPerUser, passwordGuessWindow}
	if err := a.attempts.allow(ctx, limit); err != nil {
		return store.User{}, err
	}
	if err := validate.Join(nil, required(in.Current == "", "current_password"), CheckPassword("password", in.Password),
		mismatch(in.Password, in.Confirm)); err != nil {
		return store.User{}, err
	}
	user, err := a.store.UserGet(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	if !auth.PasswordMatches(user.PasswordHash, in.Current) {
		return store.User{}, fault.Fields("wrong password", fault.FieldError{Field: "current_password", Message: "is not right"})
	}
	hash, err := a.passwords.hash(in.Password)
	if err != nil {
		return store.User{}, err
	}
	return a.store.UserChangePassword(ctx, userID, hash, c.Actor)
}

// ConfirmPassword checks the caller's password again before a change of privileges (authz.RequireFreshPassword)
// and records that it was confirmed; the caller notes the time in its session. Wrong guesses are limited per user,
// and audited as failed sign-ins.
func (a *Accounts) ConfirmPassword(ctx context.Context, c Caller, password string) error {
	if err := signedIn(c); err != nil {
		return err
	}
	if err := validate.Join(nil, required(password == "", "password")); err != nil {
		return err
	}
	p := c.Principal
	refund, err := a.attempts.reserve(ctx, attemptLimit{"reauth:user:" + p.UserID.String(), confirmsPerUser, passwordGuessWindow})
	if err != nil {
		return err
	}
	user, err := a.store.UserGet(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !auth.PasswordMatches(user.PasswordHash, password) {
		a.auditFailure(ctx, c.Actor, &user.ID, "reauth")
		return fault.Fields("wrong password", fault.FieldError{Field: "password", Message: "is not right"})
	}
	refund()
	return a.store.AuditEvent(ctx, c.Actor, &p.OrgID, "session.password_confirmed", "user", p.UserID.String())
}

// UpdateProfile renames the caller, in every organization they belong to.
func (a *Accounts) UpdateProfile(ctx context.Context, c Caller, name string) (store.User, error) {
	if err := signedIn(c); err != nil {
		return store.User{}, err
	}
	name = strings.TrimSpace(name)
	if err := validate.Struct(struct {
		Name string `form:"name" validate:"required,max=200"`
	}{name}); err != nil {
		return store.User{}, err
	}
	return a.store.UserUpdateName(ctx, c.Principal.UserID, name, c.Actor)
}

// passwords hashes new passwords at the configured bcrypt cost (Config.PasswordCost).
type passwords struct {
	cost int
	// dummy is compared against when an e-mail has no account, so that a wrong e-mail costs the same bcrypt time
	// as a wrong password and timing does not reveal which accounts exist. It is made on first use, so commands
	// that never sign anyone in do not pay for it.
	dummy func() string
}

func newPasswords(cost int) *passwords {
	if cost <= 0 {
		cost = auth.DefaultPasswordCost
	}
	p := &passwords{cost: cost}
	p.dummy = sync.OnceValue(func() string {
		h, _ := auth.HashPasswordCost("not-a-real-password-only-for-timing", cost)
		return h
	})
	return p
}

// hash checks a new password's length and returns its hash.
func (p *passwords) hash(password string) (string, error) {
	return auth.HashPasswordCost(password, p.cost)
}
