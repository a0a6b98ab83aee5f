package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

func (s *Server) profileView(id *identity, name views.Form, password views.Form) views.ProfilePage {
	if name.Values == nil {
		name.Values = map[string]string{"name": id.user.Name}
	}
	return views.ProfilePage{Name: id.user.Name, Email: id.user.Email, NameForm: name, PasswordForm: password}
}

// The profile belongs to the signed-in user in every organization: it needs no role, only a session.
func (s *Server) profilePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "Profile", views.Profile(s.profileView(identityFrom(r.Context()), views.Form{}, views.Form{})))
}

func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	err := validate.Struct(struct {
		Name string `form:"name" validate:"required,max=200"`
	}{name})
	if err == nil {
		var u store.User
		if u, err = s.deps.Store.UserUpdateName(r.Context(), id.user.ID, name, s.actor(r)); err == nil {
			id.user.Name = u.Name // the page and its navigation show the new name at once
		}
	}
	f := formState(map[string]string{"name": name}, err)
	status := http.StatusOK
	if err != nil {
		status = s.formStatus(w, r, err)
	} else {
		f.Notice = "Saved."
	}
	s.render(w, r, status, "Profile", views.Profile(s.profileView(id, f, views.Form{})))
}

// passwordChangesPerUser bounds guesses of the current password through a stolen session.
const passwordChangesPerUser = 10

// changePassword replaces the password after checking the current one. Every other session and access token ends
// (the credentials version moves on); this session gets a new token and goes on.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	current, password := r.PostFormValue("current_password"), r.PostFormValue("password")
	fail := func(err error) {
		s.render(w, r, s.formStatus(w, r, err), "Profile", views.Profile(s.profileView(id, views.Form{}, formState(nil, err))))
	}
	if err := s.allow(r, "password:user:"+id.user.ID.String(), passwordChangesPerUser, 15*time.Minute); err != nil {
		fail(err)
		return
	}
	var mismatch *fault.FieldError
	if password != r.PostFormValue("confirm") {
		mismatch = &fault.FieldError{Field: "confirm", Message: "does not match"}
	}
	if err := validate.Join(nil, requiredIf(current == "", "current_password"), app.CheckPassword("password", password), mismatch); err != nil {
		fail(err)
		return
	}
	user, err := s.deps.Store.UserGet(r.Context(), id.user.ID)
	if err != nil {
		fail(err)
		return
	}
	if !auth.PasswordMatches(user.PasswordHash, current) {
		fail(fault.Fields("wrong password", fault.FieldError{Field: "current_password", Message: "is not right"}))
		return
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		fail(err)
		return
	}
	user, err = s.deps.Store.UserChangePassword(r.Context(), user.ID, hash, s.actor(r))
	if err != nil {
		fail(err)
		return
	}
	if err := s.signIn(r.Context(), user, id.org.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	f := views.Form{Notice: "Password changed. Your other sessions were signed out."}
	s.render(w, r, http.StatusOK, "Profile", views.Profile(s.profileView(id, views.Form{}, f)))
}

// switchOrganization moves the session to another organization of the user. The session token is renewed: a
// change of organization is a change of privileges.
func (s *Server) switchOrganization(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	orgID, err := uuid.Parse(r.PostFormValue("organization_id"))
	if err != nil {
		s.pageError(w, r, fault.New(fault.NotFound, "no such organization"))
		return
	}
	p, err := s.deps.Store.PrincipalGet(r.Context(), id.user.ID, orgID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := authz.Authorize(identityOf(p).principal, authz.MembersView, authz.Org(orgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionOrgID, orgID.String())
	s.redirect(w, r, "/")
}

// Re-entering the password: wrong guesses through a stolen session are limited per user, failures only.
const (
	reauthPerUser    = 10
	reauthPerUserWin = 15 * time.Minute
)

func (s *Server) reauthPage(f views.Form, next string, id *identity) views.ReauthPage {
	return views.ReauthPage{Form: f, Next: next, Email: id.user.Email}
}

// reauthForm asks the signed-in user for their password again (see RequireFreshPassword).
func (s *Server) reauthForm(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	s.render(w, r, http.StatusOK, "Confirm your password",
		views.Reauth(s.reauthPage(views.Form{}, safeNext(r.URL.Query().Get("next")), id)))
}

// reauth checks the signed-in user's password and records the time in the session: for the next
// freshPasswordWindow this session may make someone owner. The session token is renewed, as on every change of
// privileges.
func (s *Server) reauth(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	password := r.PostFormValue("password")
	fail := func(err error) {
		s.render(w, r, s.formStatus(w, r, err), "Confirm your password",
			views.Reauth(s.reauthPage(formState(nil, err), next, id)))
	}
	if err := validate.Join(nil, requiredIf(password == "", "password")); err != nil {
		fail(err)
		return
	}
	refund, err := s.reserveAttempt(r, []attemptLimit{{"reauth:user:" + id.user.ID.String(), reauthPerUser, reauthPerUserWin}})
	if err != nil {
		fail(err)
		return
	}
	user, err := s.deps.Store.UserGet(r.Context(), id.user.ID)
	if err != nil {
		fail(err)
		return
	}
	if !auth.PasswordMatches(user.PasswordHash, password) {
		s.auditLoginFailure(r, &user, "reauth")
		fail(fault.Fields("wrong password", fault.FieldError{Field: "password", Message: "is not right"}))
		return
	}
	refund()
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), sessionPasswordAt, s.deps.Now().Unix())
	if err := s.deps.Store.AuditEvent(r.Context(), s.actor(r), &id.principal.OrgID, "session.password_confirmed", "user",
		id.user.ID.String()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.redirect(w, r, next)
}

// requireFreshPassword is authz.RequireFreshPassword for the request's principal.
func requireFreshPassword(r *http.Request, what string) error {
	return authz.RequireFreshPassword(principalFrom(r.Context()), what)
}
