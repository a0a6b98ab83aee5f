package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/auth"
)

// TokenResponse is the answer of POST /api/v1/auth/token and /refresh.
type TokenResponse struct {
	AccessToken    string    `json:"access_token"`
	TokenType      string    `json:"token_type"`
	ExpiresIn      int       `json:"expires_in"`
	RefreshToken   string    `json:"refresh_token"`
	OrganizationID uuid.UUID `json:"organization_id"`
}

// tokenRequest is the body of POST /api/v1/auth/token; OrganizationID picks one of the user's organizations (the
// first one when absent).
type tokenRequest struct {
	Email          string     `json:"email"`
	Password       string     `json:"password"`
	OrganizationID *uuid.UUID `json:"organization_id"`
}

// refreshRequest is the body of POST /api/v1/auth/refresh and /logout.
type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// apiIssueToken is POST /api/v1/auth/token {email, password, organization_id?}: the API's sign-in (rate-limited as
// the sign-in page, see app.Accounts.SignIn). It answers a short-lived JWT access token and a refresh token that
// starts a new rotation family.
func (s *Handlers) apiIssueToken(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	signedIn, err := s.deps.App.Accounts.SignInAPI(r.Context(), s.Actor(r),
		app.Credentials{Email: in.Email, Password: in.Password, OrganizationID: in.OrganizationID})
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	s.respondTokens(w, r, signedIn)
}

// respondTokens answers a sign-in or a refresh: a new access token for the user in the organization, and the
// refresh token that goes with it.
func (s *Handlers) respondTokens(w http.ResponseWriter, r *http.Request, in app.SignedIn) {
	access, _, err := s.AccessTokens().Issue(auth.AccessClaims{UserID: in.User.ID, OrgID: in.OrganizationID,
		CredentialsVersion: in.User.CredentialsVersion})
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, TokenResponse{AccessToken: access, TokenType: "Bearer",
		ExpiresIn: int(s.AccessTokens().Lifetime().Seconds()), RefreshToken: in.RefreshToken, OrganizationID: in.OrganizationID})
}

// apiRefreshToken is POST /api/v1/auth/refresh {refresh_token}: it rotates the refresh token and answers a new
// pair. Presenting a refresh token that was already rotated revokes its whole family.
func (s *Handlers) apiRefreshToken(w http.ResponseWriter, r *http.Request) {
	var in refreshRequest
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	refreshed, err := s.deps.App.Accounts.RefreshTokens(r.Context(), s.Actor(r), in.RefreshToken)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	s.respondTokens(w, r, refreshed)
}

// apiLogout is POST /api/v1/auth/logout {refresh_token}: it revokes the refresh token's family. Access tokens
// already issued run out within their short lifetime.
func (s *Handlers) apiLogout(w http.ResponseWriter, r *http.Request) {
	var in refreshRequest
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	if err := s.deps.App.Accounts.SignOutAPI(r.Context(), s.Actor(r), in.RefreshToken); err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMe is GET /api/v1/me: who the token speaks for.
func (s *Handlers) apiMe(w http.ResponseWriter, r *http.Request) {
	id := httpx.IdentityFrom(r.Context())
	if err := httpx.Authorize(r, authz.MembersView, authz.Org(id.Org.ID)); err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, meJSON{id.User.ID, id.User.Email, id.User.Name, string(id.Principal.Role), id.Principal.InstanceAdmin,
		meOrgJSON{id.Org.ID, id.Org.Name, id.Org.Slug}, id.Principal.TokenID != nil})
}

// meJSON is the answer of GET /api/v1/me.
type meJSON struct {
	ID            uuid.UUID `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	InstanceAdmin bool      `json:"instance_admin"`
	Organization  meOrgJSON `json:"organization"`
	ViaToken      bool      `json:"via_personal_token"`
}

// meOrgJSON is the organization a token acts in.
type meOrgJSON struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Slug string    `json:"slug"`
}
