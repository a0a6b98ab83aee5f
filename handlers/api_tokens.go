package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The personal API tokens API: the twin of the tokens page (tokens.go). Every route takes TokensManage, which a
// caller authenticated with a personal token never has, whatever its scopes: a leaked token can neither mint nor revoke tokens, nor list
// them. A token is its owner's alone; anyone else's is NotFound.

// apiTokenJSON is one of the caller's tokens: never its secret nor its hash.
type apiTokenJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Scopes     []string   `json:"scopes"`
}

func apiTokenFrom(t store.APIToken) apiTokenJSON {
	return apiTokenJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, Scopes: t.Scopes}
}

// apiTokenList is the answer of GET /api/v1/tokens: live tokens first, newest first.
type apiTokenListJSON struct {
	Items []apiTokenJSON `json:"items"`
}

// apiTokenInput is the body of POST /api/v1/tokens. ExpiresInDays takes the page's choices; 0 (or absent) never
// expires. Scopes is required: at least one of read, run, write, admin (README, "Accounts and security").
type apiTokenInput struct {
	Name          string   `json:"name" validate:"required,max=100"`
	ExpiresInDays int      `json:"expires_in_days" validate:"oneof=0 30 90 365"`
	Scopes        []string `json:"scopes"`
}

// apiTokenCreatedJSON is the answer of POST /api/v1/tokens: Token is the secret, in this answer only.
type apiTokenCreatedJSON struct {
	apiTokenJSON
	Token string `json:"token"`
}

// apiTokenList is GET /api/v1/tokens: the caller's own tokens in the current organization.
func (s *Server) apiTokenList(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.TokensManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	tokens, err := s.deps.Store.APITokenList(r.Context(), p.OrgID, p.UserID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	out := apiTokenListJSON{Items: make([]apiTokenJSON, 0, len(tokens))}
	for _, t := range tokens {
		out.Items = append(out.Items, apiTokenFrom(t))
	}
	respond(w, http.StatusOK, out)
}

// apiTokenCreate is POST /api/v1/tokens {name, expires_in_days?}: a personal token for the caller in the current
// organization, answered once.
func (s *Server) apiTokenCreate(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.TokensManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	var in apiTokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		s.problem(w, r, err)
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	scopes, scopesErr := tokenScopes(in.Scopes)
	if err := validate.Join(validate.Struct(in), scopesErr); err != nil {
		s.problem(w, r, err)
		return
	}
	var expires *time.Time
	if in.ExpiresInDays > 0 {
		t := s.deps.Now().Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
		expires = &t
	}
	token, hash := auth.NewToken(auth.PersonalTokenPrefix)
	created, err := s.deps.Store.APITokenCreate(r.Context(), store.NewAPIToken{
		OrganizationID: p.OrgID, UserID: p.UserID, Name: in.Name, TokenHash: hash, Prefix: auth.DisplayPrefix(token),
		ExpiresAt: expires, Scopes: scopes,
	}, s.actor(r))
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	respond(w, http.StatusCreated, apiTokenCreatedJSON{apiTokenJSON: apiTokenFrom(created), Token: token})
}

// apiTokenRevoke is DELETE /api/v1/tokens/{id}: revokes one of the caller's own live tokens.
func (s *Server) apiTokenRevoke(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authz.Authorize(p, authz.TokensManage, authz.Org(p.OrgID)); err != nil {
		s.problem(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err == nil {
		err = s.deps.Store.APITokenRevoke(r.Context(), p.OrgID, p.UserID, id, s.actor(r))
	}
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
