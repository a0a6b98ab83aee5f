package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The personal API tokens API: an adapter over app.Tokens, as the tokens page (tokens.go) is.

// APITokenJSON is one of the caller's tokens: never its secret nor its hash.
type APITokenJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Scopes     []string   `json:"scopes"`
}

func apiTokenFrom(t store.APIToken) APITokenJSON {
	return APITokenJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, Scopes: t.Scopes}
}

// apiTokenList is the answer of GET /api/v1/tokens: live tokens first, newest first.
type APITokenListJSON struct {
	Items []APITokenJSON `json:"items"`
}

// apiTokenInput is the body of POST /api/v1/tokens. ExpiresInDays takes the page's choices; 0 (or absent) never
// expires. Scopes is required: at least one of read, run, write, admin (README, "Accounts and security"). The tags
// document; app.Tokens.Create validates.
type apiTokenInput struct {
	Name          string   `json:"name" validate:"required,max=100"`
	ExpiresInDays int      `json:"expires_in_days" validate:"oneof=0 30 90 365"`
	Scopes        []string `json:"scopes"`
}

// APITokenCreatedJSON is the answer of POST /api/v1/tokens: Token is the secret, in this answer only.
type APITokenCreatedJSON struct {
	APITokenJSON
	Token string `json:"token"`
}

// apiTokenList is GET /api/v1/tokens: the caller's own tokens in the current organization.
func (s *Handlers) apiTokenList(w http.ResponseWriter, r *http.Request) {
	tokens, err := s.deps.App.Tokens.List(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	out := APITokenListJSON{Items: make([]APITokenJSON, 0, len(tokens))}
	for _, t := range tokens {
		out.Items = append(out.Items, apiTokenFrom(t))
	}
	httpx.Respond(w, http.StatusOK, out)
}

// apiTokenCreate is POST /api/v1/tokens {name, expires_in_days?, scopes}: a personal token for the caller in the
// current organization, answered once.
func (s *Handlers) apiTokenCreate(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.TokensManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err) // before reading the body, as every API route
		return
	}
	var in apiTokenInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	created, err := s.deps.App.Tokens.Create(r.Context(), s.Caller(r),
		app.NewToken{Name: in.Name, ExpiresInDays: in.ExpiresInDays, Scopes: in.Scopes})
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.Respond(w, http.StatusCreated, APITokenCreatedJSON{APITokenJSON: apiTokenFrom(created.Token), Token: created.Secret})
}

// apiTokenRevoke is DELETE /api/v1/tokens/{id}: revokes one of the caller's own live tokens.
func (s *Handlers) apiTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Tokens.Revoke(r.Context(), s.Caller(r), id)
	} else if aerr := httpx.Authorize(r, authz.TokensManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); aerr != nil {
		err = aerr
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
