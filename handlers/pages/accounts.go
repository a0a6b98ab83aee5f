package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/views"
)

// The account pages: sign-in, sign-out, sign-up and password reset, adapters over app.Accounts (as the API's token
// endpoints in api_auth.go are). The session is the pages' own: app.Accounts checks, limits and records; these
// handlers start and end sessions.

func (s *Handlers) loginPage(f views.Form, next string) views.LoginPage {
	return views.LoginPage{Form: f, Next: next, SignupEnabled: s.deps.SignupEnabled, ResetEnabled: s.deps.App.Outbox.Enabled()}
}

func (s *Handlers) loginForm(w http.ResponseWriter, r *http.Request) {
	if httpx.PrincipalFrom(r.Context()).Authenticated() {
		s.Redirect(w, r, safeNext(r.URL.Query().Get("next")))
		return
	}
	f := views.Form{}
	if r.URL.Query().Get("reset") == "1" {
		f.Notice = "Your password was changed. Sign in with the new one."
	}
	s.Render(w, r, http.StatusOK, "Sign in", views.Login(s.loginPage(f, safeNext(r.URL.Query().Get("next")))))
}

// login checks an e-mail and password (rate-limited per address and per account: see app.Accounts.SignIn) and
// starts a session in the user's first organization.
func (s *Handlers) login(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	next := safeNext(r.PostFormValue("next"))
	signedIn, err := s.deps.App.Accounts.SignIn(r.Context(), s.Actor(r),
		app.Credentials{Email: email, Password: r.PostFormValue("password")})
	if err != nil {
		s.Render(w, r, s.FormStatus(w, r, err), "Sign in",
			views.Login(s.loginPage(httpx.FormState(map[string]string{"email": email}, err), next)))
		return
	}
	if err := s.SignIn(r.Context(), signedIn.User, signedIn.OrganizationID); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, next)
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

func (s *Handlers) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.deps.App.Accounts.SignOut(r.Context(), s.Caller(r)); err != nil {
		logging.From(r.Context(), s.deps.Logger).Error("audit sign-out", "error", err)
	}
	if err := s.Sessions().Destroy(r.Context()); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/login")
}

func (s *Handlers) signupForm(w http.ResponseWriter, r *http.Request) {
	if !s.deps.SignupEnabled {
		s.PageError(w, r, fault.New(fault.NotFound, "sign-up is disabled"))
		return
	}
	if httpx.PrincipalFrom(r.Context()).Authenticated() {
		s.Redirect(w, r, "/")
		return
	}
	s.Render(w, r, http.StatusOK, "Sign up", views.Signup(views.SignupPage{Form: views.Form{}}))
}

// signup creates a user and a new organization they own, and signs them in.
func (s *Handlers) signup(w http.ResponseWriter, r *http.Request) {
	if !s.deps.SignupEnabled {
		s.PageError(w, r, fault.New(fault.NotFound, "sign-up is disabled"))
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	in := app.Registration{
		Name: strings.TrimSpace(r.PostFormValue("name")), Email: strings.TrimSpace(r.PostFormValue("email")),
		Password: r.PostFormValue("password"), Organization: strings.TrimSpace(r.PostFormValue("organization")),
	}
	user, org, err := s.deps.App.Accounts.SignUp(r.Context(), s.Actor(r), in)
	if err != nil {
		values := map[string]string{"name": in.Name, "email": in.Email, "organization": in.Organization}
		s.Render(w, r, s.FormStatus(w, r, err), "Sign up", views.Signup(views.SignupPage{Form: httpx.FormState(values, err)}))
		return
	}
	if err := s.SignIn(r.Context(), user, org.ID); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/")
}

func (s *Handlers) forgotPasswordForm(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "Reset your password",
		views.ForgotPassword(views.ForgotPasswordPage{Enabled: s.deps.App.Outbox.Enabled()}))
}

// forgotPassword e-mails a single-use reset link when the address has an account, and answers the same either way
// so the page cannot be used to find out who has an account.
func (s *Handlers) forgotPassword(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	page := views.ForgotPasswordPage{Enabled: s.deps.App.Outbox.Enabled()}
	if err := s.deps.App.Accounts.RequestPasswordReset(r.Context(), s.Actor(r), email); err != nil {
		if fault.CodeOf(err) == fault.Internal {
			s.PageError(w, r, err)
			return
		}
		page.Form = httpx.FormState(map[string]string{"email": email}, err)
		s.Render(w, r, s.FormStatus(w, r, err), "Reset your password", views.ForgotPassword(page))
		return
	}
	page.Sent = page.Enabled
	s.Render(w, r, http.StatusOK, "Reset your password", views.ForgotPassword(page))
}

func (s *Handlers) resetPasswordForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	page := views.ResetPasswordPage{Token: token}
	status := http.StatusOK
	if err := s.deps.App.Accounts.CheckPasswordReset(r.Context(), token); err != nil {
		if fault.CodeOf(err) != fault.NotFound {
			s.PageError(w, r, err)
			return
		}
		page, status = views.ResetPasswordPage{Invalid: true}, http.StatusNotFound
	}
	// The token is in this page's address: it must not travel on in a Referer header.
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.Render(w, r, status, "Choose a new password", views.ResetPassword(page))
}

// resetPassword sets a new password through a reset link, which it uses up; it signs out every session.
func (s *Handlers) resetPassword(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	token := r.PostFormValue("token")
	_, err := s.deps.App.Accounts.ResetPassword(r.Context(), s.Actor(r), app.PasswordReset{Token: token,
		Password: r.PostFormValue("password"), Confirm: r.PostFormValue("confirm")})
	if err != nil {
		page := views.ResetPasswordPage{Token: token, Form: httpx.FormState(nil, err)}
		if fault.CodeOf(err) == fault.NotFound {
			page = views.ResetPasswordPage{Invalid: true}
		}
		s.Render(w, r, s.FormStatus(w, r, err), "Choose a new password", views.ResetPassword(page))
		return
	}
	if httpx.IdentityFrom(r.Context()) != nil {
		_ = s.Sessions().Destroy(r.Context())
	}
	s.Redirect(w, r, "/login?reset=1")
}
