package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

func (s *Server) tokensView(r *http.Request, page views.TokensPage) (views.TokensPage, error) {
	id := identityFrom(r.Context())
	tokens, err := s.deps.Store.APITokenList(r.Context(), id.principal.OrgID, id.principal.UserID)
	if err != nil {
		return page, err
	}
	page.OrgName = id.org.Name
	for _, sc := range authz.Scopes {
		page.Scopes = append(page.Scopes, string(sc))
	}
	for _, t := range tokens {
		page.Tokens = append(page.Tokens, views.TokenRow{ID: t.ID.String(), Name: t.Name, Prefix: t.Prefix,
			CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, Revoked: t.RevokedAt != nil,
			Scopes: strings.Join(t.Scopes, ", ")})
	}
	return page, nil
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, page views.TokensPage) {
	page, err := s.tokensView(r, page)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, status, "API tokens", views.Tokens(page))
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) {
	if err := authorize(r, authz.TokensManage, authz.Org(principalFrom(r.Context()).OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusOK, views.TokensPage{})
}

// tokenScopes validates the scopes a token is created with (the page's and the API's field "scopes").
func tokenScopes(in []string) ([]string, *fault.FieldError) {
	scopes, err := authz.ParseScopes(in)
	if err != nil {
		f := fault.As(err).Fields[0]
		return nil, &f
	}
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = string(sc)
	}
	return out, nil
}

// createToken makes a personal API token for the user in the current organization. The secret is shown in this
// answer only; the database keeps its hash and a short prefix to recognize it by.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.TokensManage, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, err)
		return
	}
	in := struct {
		Name string `form:"name" validate:"required,max=100"`
		Days string `form:"expires_in_days" validate:"oneof=0 30 90 365"`
	}{strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("expires_in_days")}
	scopes, scopesErr := tokenScopes(r.PostForm["scopes"])
	if err := validate.Join(validate.Struct(in), scopesErr); err != nil {
		s.renderTokens(w, r, s.formStatus(w, r, err), views.TokensPage{Form: formState(map[string]string{
			"name": in.Name, "expires_in_days": in.Days, "scopes": r.PostFormValue("scopes")}, err)})
		return
	}
	var expires *time.Time
	if days, _ := strconv.Atoi(in.Days); days > 0 {
		t := s.deps.Now().Add(time.Duration(days) * 24 * time.Hour)
		expires = &t
	}
	token, hash := auth.NewToken(auth.PersonalTokenPrefix)
	if _, err := s.deps.Store.APITokenCreate(r.Context(), store.NewAPIToken{
		OrganizationID: p.OrgID, UserID: p.UserID, Name: in.Name, TokenHash: hash, Prefix: auth.DisplayPrefix(token),
		ExpiresAt: expires, Scopes: scopes,
	}, s.actor(r)); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusCreated, views.TokensPage{NewToken: token})
}

// revokeToken revokes one of the user's own tokens; anyone else's is NotFound.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := authorize(r, authz.TokensManage, authz.Org(p.OrgID)); err != nil {
		s.pageError(w, r, err)
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err == nil {
		err = s.deps.Store.APITokenRevoke(r.Context(), p.OrgID, p.UserID, id, s.actor(r))
	} else {
		err = fault.New(fault.NotFound, "no such token")
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusOK, views.TokensPage{})
}
