package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// tokenResponse is the answer of POST /api/v1/auth/token and /refresh.
type tokenResponse struct {
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

// refreshPerIP bounds refresh and logout calls per address: refresh tokens cannot be guessed, but a flood of
// lookups is still a cost.
const refreshPerIP = 120

// apiIssueToken is POST /api/v1/auth/token {email, password, organization_id?}: the API's sign-in. It answers a
// short-lived JWT access token and a refresh token that starts a new rotation family.
func (s *Server) apiIssueToken(w http.ResponseWriter, r *http.Request) {
	var in tokenRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	user, orgs, err := s.checkCredentials(r, strings.TrimSpace(in.Email), in.Password, "api")
	if err != nil {
		s.problem(w, r, err)
		return
	}
	orgID := orgs[0].ID
	if in.OrganizationID != nil {
		orgID = uuid.Nil
		for _, o := range orgs {
			if o.ID == *in.OrganizationID {
				orgID = o.ID
			}
		}
		if orgID == uuid.Nil {
			s.problem(w, r, fault.Fields("not a member", fault.FieldError{Field: "organization_id",
				Message: "you are not a member of this organization"}))
			return
		}
	}
	refresh, hash := auth.NewToken(auth.RefreshTokenPrefix)
	if err := s.deps.Store.APILogin(r.Context(), user.ID, orgID, hash, time.Now().Add(RefreshTokenLifetime), s.actor(r)); err != nil {
		s.problem(w, r, err)
		return
	}
	s.respondTokens(w, r, user, orgID, refresh)
}

func (s *Server) respondTokens(w http.ResponseWriter, r *http.Request, user store.User, orgID uuid.UUID, refresh string) {
	access, _, err := s.access.Issue(auth.AccessClaims{UserID: user.ID, OrgID: orgID, CredentialsVersion: user.CredentialsVersion})
	if err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, tokenResponse{AccessToken: access, TokenType: "Bearer",
		ExpiresIn: int(s.access.Lifetime().Seconds()), RefreshToken: refresh, OrganizationID: orgID})
}

// apiRefreshToken is POST /api/v1/auth/refresh {refresh_token}: it rotates the refresh token and answers a new
// pair. Presenting a refresh token that was already rotated revokes its whole family.
func (s *Server) apiRefreshToken(w http.ResponseWriter, r *http.Request) {
	var in refreshRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	if err := s.allow(r, "refresh:ip:"+s.clientIP(r).String(), refreshPerIP, rateWindowMinute); err != nil {
		s.problem(w, r, err)
		return
	}
	if in.RefreshToken == "" {
		s.problem(w, r, fault.Fields("missing", fault.FieldError{Field: "refresh_token", Message: "is required"}))
		return
	}
	next, hash := auth.NewToken(auth.RefreshTokenPrefix)
	grant, err := s.deps.Store.RefreshTokenRotate(r.Context(), auth.HashToken(in.RefreshToken), hash,
		time.Now().Add(RefreshTokenLifetime), s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	user, err := s.deps.Store.UserGet(r.Context(), grant.UserID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	s.respondTokens(w, r, user, grant.OrganizationID, next)
}

// apiLogout is POST /api/v1/auth/logout {refresh_token}: it revokes the refresh token's family. Access tokens
// already issued run out within their short lifetime.
func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request) {
	var in refreshRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	if err := s.allow(r, "refresh:ip:"+s.clientIP(r).String(), refreshPerIP, rateWindowMinute); err != nil {
		s.problem(w, r, err)
		return
	}
	if err := s.deps.Store.RefreshTokenRevoke(r.Context(), auth.HashToken(in.RefreshToken), s.actor(r)); err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiMe is GET /api/v1/me: who the token speaks for.
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	if err := authorize(r, authz.MembersView, authz.Org(id.org.ID)); err != nil {
		s.problem(w, r, err)
		return
	}
	respond(w, http.StatusOK, meJSON{id.user.ID, id.user.Email, id.user.Name, string(id.principal.Role), id.principal.InstanceAdmin,
		meOrgJSON{id.org.ID, id.org.Name, id.org.Slug}, id.principal.TokenID != nil})
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
