package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/mail"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// Sign-in limits count failures only (a successful sign-in is refunded), under three keys so that guessing from
// one address cannot lock the owner out everywhere:
//   - per account and address: ten failures a quarter hour stop that address guessing that account;
//   - per account: a hundred failures an hour stop a guesser spread over many addresses (reaching it locks the
//     account for the rest of the hour: the price of stopping a distributed guesser);
//   - per address: thirty failures a quarter hour stop one address trying many accounts.
//
// Resets are rarer still, since each one sends an e-mail.
const (
	loginPerAccountIP    = 10
	loginPerAccountIPWin = 15 * time.Minute
	loginPerAccount      = 100
	loginPerAccountWin   = time.Hour
	loginPerIP           = 30
	loginPerIPWindow     = 15 * time.Minute
	signupPerIP          = 10
	signupPerIPWindow    = time.Hour
	resetPerIP           = 10
	resetPerIPWindow     = time.Hour
	resetPerAccount      = 3
	resetPerAccountWin   = time.Hour
	passwordResetExpiry  = time.Hour
)

// attemptLimit is one limit an attempt counts against.
type attemptLimit struct {
	key    string
	limit  int
	window time.Duration
}

// loginLimits are the limits a sign-in attempt for email from the request's address counts against.
func (s *Server) loginLimits(r *http.Request, email string) []attemptLimit {
	ip := s.clientIP(r).String()
	acct := strings.ToLower(email)
	return []attemptLimit{
		{"login:acct-ip:" + acct + "|" + ip, loginPerAccountIP, loginPerAccountIPWin},
		{"login:acct:" + acct, loginPerAccount, loginPerAccountWin},
		{"login:ip:" + ip, loginPerIP, loginPerIPWindow},
	}
}

// reserveAttempt counts an attempt against every limit before it is checked, so concurrent attempts cannot slip
// past a limit, and returns refund, which takes the attempt back out of every count: call it when the attempt
// succeeded, since only failures count. An attempt refused by one limit is refunded from all: it checked nothing.
func (s *Server) reserveAttempt(r *http.Request, limits []attemptLimit) (refund func(), err error) {
	counted := make([]string, 0, len(limits))
	refund = func() {
		for _, key := range counted {
			if err := s.limiter.Refund(r.Context(), key); err != nil {
				logging.From(r.Context(), s.deps.Logger).Error("rate limiter refund", "error", err)
			}
		}
	}
	for _, l := range limits {
		counted = append(counted, l.key)
		if err := s.allow(r, l.key, l.limit, l.window); err != nil {
			refund()
			return nil, err
		}
	}
	return refund, nil
}

// dummyHash is compared against when an e-mail has no account, so a wrong e-mail costs the same bcrypt time as a
// wrong password and timing does not reveal which accounts exist.
// It is made on first use, so commands that never sign anyone in do not pay for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("not-a-real-password-only-for-timing")
	return h
})

func (s *Server) loginPage(f views.Form, next string) views.LoginPage {
	return views.LoginPage{Form: f, Next: next, SignupEnabled: s.deps.SignupEnabled, ResetEnabled: s.deps.App.Outbox.Enabled()}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if principalFrom(r.Context()).Authenticated() {
		s.redirect(w, r, safeNext(r.URL.Query().Get("next")))
		return
	}
	f := views.Form{}
	if r.URL.Query().Get("reset") == "1" {
		f.Notice = "Your password was changed. Sign in with the new one."
	}
	s.render(w, r, http.StatusOK, "Sign in", views.Login(s.loginPage(f, safeNext(r.URL.Query().Get("next")))))
}

// login checks an e-mail and password (rate-limited per address and per account) and starts a session in the
// user's first organization.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	next := safeNext(r.PostFormValue("next"))
	fail := func(err error) {
		s.render(w, r, s.formStatus(w, r, err), "Sign in",
			views.Login(s.loginPage(formState(map[string]string{"email": email}, err), next)))
	}
	user, orgs, err := s.checkCredentials(r, email, r.PostFormValue("password"), "password")
	if err != nil {
		fail(err)
		return
	}
	if err := s.signIn(r.Context(), user, orgs[0].ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := s.deps.Store.UserRecordLogin(r.Context(), user.ID, orgs[0].ID, "password", s.actor(r)); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, next)
}

// errBadCredentials is the one answer to a wrong e-mail or a wrong password.
var errBadCredentials = fault.New(fault.Unauthorized, "The e-mail or password is not right.")

// checkCredentials applies the sign-in rate limits (failures only: see loginLimits) and verifies an e-mail and password, returning the user and
// their organizations (oldest membership first). It is shared by the sign-in page and the API's token endpoint.
func (s *Server) checkCredentials(r *http.Request, email, password, method string) (store.User, []store.UserOrganization, error) {
	if email == "" || password == "" {
		return store.User{}, nil, validate.Join(nil,
			requiredIf(email == "", "email"), requiredIf(password == "", "password"))
	}
	refund, err := s.reserveAttempt(r, s.loginLimits(r, email))
	if err != nil {
		return store.User{}, nil, err
	}
	user, err := s.deps.Store.UserGetByEmail(r.Context(), email)
	switch {
	case fault.CodeOf(err) == fault.NotFound:
		auth.PasswordMatches(dummyHash(), password)
		s.auditLoginFailure(r, nil, method)
		return store.User{}, nil, errBadCredentials
	case err != nil:
		return store.User{}, nil, err
	}
	if !auth.PasswordMatches(user.PasswordHash, password) {
		s.auditLoginFailure(r, &user, method)
		return store.User{}, nil, errBadCredentials
	}
	refund()
	orgs, err := s.deps.Store.UserOrganizations(r.Context(), user.ID)
	if err != nil {
		return store.User{}, nil, err
	}
	if len(orgs) == 0 {
		return store.User{}, nil, fault.New(fault.Forbidden, "Your account belongs to no organization any more. Ask for an invitation.")
	}
	return user, orgs, nil
}

func (s *Server) auditLoginFailure(r *http.Request, user *store.User, method string) {
	var userID *uuid.UUID
	if user != nil {
		userID = &user.ID
	}
	if err := s.deps.Store.AuditLoginFailure(r.Context(), userID, method, s.actor(r)); err != nil {
		logging.From(r.Context(), s.deps.Logger).Error("audit failed sign-in", "error", err)
	}
}

func requiredIf(missing bool, field string) *fault.FieldError {
	if !missing {
		return nil
	}
	return &fault.FieldError{Field: field, Message: "is required"}
}

// safeNext keeps a post-sign-in destination on this site: a local path, never "//host" or "/\host".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if id := identityFrom(r.Context()); id != nil {
		if err := s.deps.Store.AuditEvent(r.Context(), s.actor(r), &id.principal.OrgID, "session.logout", "user",
			id.principal.UserID.String()); err != nil {
			logging.From(r.Context(), s.deps.Logger).Error("audit sign-out", "error", err)
		}
	}
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, "/login")
}

// signupInput is the sign-up form.
type signupInput struct {
	Name         string `form:"name" validate:"required,max=200"`
	Email        string `form:"email" validate:"required,email,max=254"`
	Password     string `form:"password"`
	Organization string `form:"organization" validate:"required,max=200"`
}

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	if !s.deps.SignupEnabled {
		s.pageError(w, r, fault.New(fault.NotFound, "sign-up is disabled"))
		return
	}
	if principalFrom(r.Context()).Authenticated() {
		s.redirect(w, r, "/")
		return
	}
	s.render(w, r, http.StatusOK, "Sign up", views.Signup(views.SignupPage{Form: views.Form{}}))
}

// signup creates a user and a new organization they own, and signs them in.
func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	if !s.deps.SignupEnabled {
		s.pageError(w, r, fault.New(fault.NotFound, "sign-up is disabled"))
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	in := signupInput{
		Name: strings.TrimSpace(r.PostFormValue("name")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Password: r.PostFormValue("password"), Organization: strings.TrimSpace(r.PostFormValue("organization")),
	}
	values := map[string]string{"name": in.Name, "email": in.Email, "organization": in.Organization}
	fail := func(err error) {
		s.render(w, r, s.formStatus(w, r, err), "Sign up", views.Signup(views.SignupPage{Form: formState(values, err)}))
	}
	if err := validate.Join(validate.Struct(in), app.CheckPassword("password", in.Password), slugCheck(in.Organization)); err != nil {
		fail(err)
		return
	}
	if err := s.allow(r, "signup:ip:"+s.clientIP(r).String(), signupPerIP, signupPerIPWindow); err != nil {
		fail(err)
		return
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		fail(err)
		return
	}
	user, org, err := s.deps.Store.UserSignUp(r.Context(), store.SignUp{
		Email: in.Email, Name: in.Name, PasswordHash: hash, OrganizationName: in.Organization,
	}, s.actor(r))
	if fault.CodeOf(err) == fault.Conflict {
		err = fault.Fields("taken", fault.FieldError{Field: "email", Message: "an account with this e-mail exists: sign in instead"})
	}
	if err != nil {
		fail(err)
		return
	}
	if err := s.signIn(r.Context(), user, org.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, "/")
}

func slugCheck(name string) *fault.FieldError {
	if name != "" && store.Slugify(name) == "" {
		return &fault.FieldError{Field: "organization", Message: "needs at least one letter or digit"}
	}
	return nil
}

func (s *Server) forgotPasswordForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "Reset your password",
		views.ForgotPassword(views.ForgotPasswordPage{Enabled: s.deps.App.Outbox.Enabled()}))
}

// forgotPassword e-mails a single-use reset link when the address has an account, and answers the same either way
// so the page cannot be used to find out who has an account.
func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	page := views.ForgotPasswordPage{Enabled: s.deps.App.Outbox.Enabled()}
	fail := func(err error) {
		page.Form = formState(map[string]string{"email": email}, err)
		s.render(w, r, s.formStatus(w, r, err), "Reset your password", views.ForgotPassword(page))
	}
	if err := validate.Struct(struct {
		Email string `form:"email" validate:"required,email,max=254"`
	}{email}); err != nil {
		fail(err)
		return
	}
	if err := s.allow(r, "reset:ip:"+s.clientIP(r).String(), resetPerIP, resetPerIPWindow); err != nil {
		fail(err)
		return
	}
	if err := s.allow(r, "reset:acct:"+strings.ToLower(email), resetPerAccount, resetPerAccountWin); err != nil {
		fail(err)
		return
	}
	if !s.deps.App.Outbox.Enabled() {
		logging.From(r.Context(), s.deps.Logger).Warn("password reset asked for, but SMTP_URL is not set")
		s.render(w, r, http.StatusOK, "Reset your password", views.ForgotPassword(page))
		return
	}
	user, err := s.deps.Store.UserGetByEmail(r.Context(), email)
	switch {
	case err == nil:
		token, hash := auth.NewToken(auth.LinkTokenPrefix)
		if err := s.deps.Store.PasswordResetCreate(r.Context(), user.ID, hash, time.Now().Add(passwordResetExpiry), s.actor(r)); err != nil {
			s.pageError(w, r, err)
			return
		}
		link := s.absoluteURL("/reset-password?token=" + url.QueryEscape(token))
		s.deps.App.Outbox.SendLater(r.Context(), "password reset", mail.Message{
			To:      []string{user.Email},
			Subject: "Reset your ConcertMaster password",
			Text: "Hello " + user.Name + ",\n\nSomeone (hopefully you) asked to reset the password of your ConcertMaster " +
				"account. To choose a new password, open this link within an hour:\n\n" + link +
				"\n\nThe link works once. If you did not ask for it, ignore this e-mail: your password stays as it is.\n",
		})
	case fault.CodeOf(err) != fault.NotFound:
		s.pageError(w, r, err)
		return
	}
	page.Sent = true
	s.render(w, r, http.StatusOK, "Reset your password", views.ForgotPassword(page))
}

func (s *Server) resetPasswordForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	page := views.ResetPasswordPage{Token: token}
	status := http.StatusOK
	if err := s.deps.Store.PasswordResetCheck(r.Context(), auth.HashToken(token)); err != nil {
		if fault.CodeOf(err) != fault.NotFound {
			s.pageError(w, r, err)
			return
		}
		page, status = views.ResetPasswordPage{Invalid: true}, http.StatusNotFound
	}
	// The token is in this page's address: it must not travel on in a Referer header.
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, status, "Choose a new password", views.ResetPassword(page))
}

// resetPassword sets a new password through a reset link, which it uses up; it signs out every session.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	token := r.PostFormValue("token")
	password := r.PostFormValue("password")
	fail := func(err error) {
		page := views.ResetPasswordPage{Token: token, Form: formState(nil, err)}
		if fault.CodeOf(err) == fault.NotFound {
			page = views.ResetPasswordPage{Invalid: true}
		}
		s.render(w, r, s.formStatus(w, r, err), "Choose a new password", views.ResetPassword(page))
	}
	if err := s.allow(r, "reset:ip:"+s.clientIP(r).String(), resetPerIP, resetPerIPWindow); err != nil {
		fail(err)
		return
	}
	var mismatch *fault.FieldError
	if password != r.PostFormValue("confirm") {
		mismatch = &fault.FieldError{Field: "confirm", Message: "does not match"}
	}
	if err := validate.Join(nil, app.CheckPassword("password", password), mismatch); err != nil {
		fail(err)
		return
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		fail(err)
		return
	}
	if _, err := s.deps.Store.PasswordResetComplete(r.Context(), auth.HashToken(token), hash, s.actor(r)); err != nil {
		fail(err)
		return
	}
	if identityFrom(r.Context()) != nil {
		_ = s.sessions.Destroy(r.Context())
	}
	s.redirect(w, r, "/login?reset=1")
}

// absoluteURL is path on the public BASE_URL, for links in e-mails and links shown to copy.
func (s *Server) absoluteURL(path string) string {
	return strings.TrimRight(s.deps.BaseURL.String(), "/") + path
}
