package pages

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/views"
)

func (s *Handlers) profileView(id *httpx.Identity, name views.Form, password views.Form) views.ProfilePage {
	if name.Values == nil {
		name.Values = map[string]string{"name": id.User.Name}
	}
	return views.ProfilePage{Name: id.User.Name, Email: id.User.Email, NameForm: name, PasswordForm: password}
}

// The profile belongs to the signed-in user in every organization: it needs no role, only a session.
func (s *Handlers) profilePage(w http.ResponseWriter, r *http.Request) {
	s.Render(w, r, http.StatusOK, "Profile", views.Profile(s.profileView(httpx.IdentityFrom(r.Context()), views.Form{}, views.Form{})))
}

func (s *Handlers) updateProfile(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	u, err := s.deps.App.Accounts.UpdateProfile(r.Context(), s.Caller(r), name)
	if err == nil {
		id.User.Name = u.Name // the page and its navigation show the new name at once
	}
	f := httpx.FormState(map[string]string{"name": name}, err)
	status := http.StatusOK
	if err != nil {
		status = s.FormStatus(w, r, err)
	} else {
		f.Notice = "Saved."
	}
	s.Render(w, r, status, "Profile", views.Profile(s.profileView(id, f, views.Form{})))
}

// changePassword replaces the password after checking the current one (see app.Accounts.ChangePassword). Every
// other session and access token ends (the credentials version moves on); this session gets a new token and goes
// on.
func (s *Handlers) changePassword(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	user, err := s.deps.App.Accounts.ChangePassword(r.Context(), s.Caller(r), app.PasswordChange{
		Current: r.PostFormValue("current_password"), Password: r.PostFormValue("password"),
		Confirm: r.PostFormValue("confirm")})
	if err != nil {
		s.Render(w, r, s.FormStatus(w, r, err), "Profile", views.Profile(s.profileView(id, views.Form{}, httpx.FormState(nil, err))))
		return
	}
	if err := s.SignIn(r.Context(), user, id.Org.ID); err != nil {
		s.PageError(w, r, err)
		return
	}
	f := views.Form{Notice: "Password changed. Your other sessions were signed out."}
	s.Render(w, r, http.StatusOK, "Profile", views.Profile(s.profileView(id, views.Form{}, f)))
}

// switchOrganization moves the session to another organization of the user. The session token is renewed: a
// change of organization is a change of privileges.
func (s *Handlers) switchOrganization(w http.ResponseWriter, r *http.Request) {
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	orgID, err := uuid.Parse(r.PostFormValue("organization_id"))
	if err != nil {
		s.PageError(w, r, fault.New(fault.NotFound, "no such organization"))
		return
	}
	if err := s.deps.App.Accounts.SwitchOrganization(r.Context(), s.Caller(r), orgID); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := s.Sessions().RenewToken(r.Context()); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Sessions().Put(r.Context(), httpx.SessionOrgID, orgID.String())
	s.Redirect(w, r, "/")
}

func (s *Handlers) reauthPage(f views.Form, next string, id *httpx.Identity) views.ReauthPage {
	return views.ReauthPage{Form: f, Next: next, Email: id.User.Email}
}

// reauthForm asks the signed-in user for their password again (see RequireFreshPassword).
func (s *Handlers) reauthForm(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	s.Render(w, r, http.StatusOK, "Confirm your password",
		views.Reauth(s.reauthPage(views.Form{}, safeNext(r.URL.Query().Get("next")), id)))
}

// reauth checks the signed-in user's password (see app.Accounts.ConfirmPassword) and records the time in the
// session: for the next httpx.FreshPasswordWindow this session may make someone owner. The session token is renewed, as
// on every change of privileges.
func (s *Handlers) reauth(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if err := s.deps.App.Accounts.ConfirmPassword(r.Context(), s.Caller(r), r.PostFormValue("password")); err != nil {
		s.Render(w, r, s.FormStatus(w, r, err), "Confirm your password",
			views.Reauth(s.reauthPage(httpx.FormState(nil, err), next, id)))
		return
	}
	if err := s.Sessions().RenewToken(r.Context()); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Sessions().Put(r.Context(), httpx.SessionPasswordAt, s.Now().Unix())
	s.Redirect(w, r, next)
}

// requireFreshPassword is authz.RequireFreshPassword for the request's principal.
func requireFreshPassword(r *http.Request, what string) error {
	return authz.RequireFreshPassword(httpx.PrincipalFrom(r.Context()), what)
}
