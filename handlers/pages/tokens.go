package pages

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/views"
)

func (s *Handlers) tokensView(r *http.Request, page views.TokensPage) (views.TokensPage, error) {
	tokens, err := s.deps.App.Tokens.List(r.Context(), s.Caller(r))
	if err != nil {
		return page, err
	}
	page.OrgName = httpx.IdentityFrom(r.Context()).Org.Name
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

func (s *Handlers) renderTokens(w http.ResponseWriter, r *http.Request, status int, page views.TokensPage) {
	page, err := s.tokensView(r, page)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Render(w, r, status, "API tokens", views.Tokens(page))
}

func (s *Handlers) tokensPage(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.TokensManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusOK, views.TokensPage{})
}

// createToken makes a personal API token for the user in the current organization (app.Tokens.Create). The secret
// is shown in this answer only.
func (s *Handlers) createToken(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.TokensManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err)
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	days := r.PostFormValue("expires_in_days")
	in := app.NewToken{Name: r.PostFormValue("name"), ExpiresInDays: -1, Scopes: r.PostForm["scopes"]}
	if n, err := strconv.Atoi(days); err == nil && strconv.Itoa(n) == days {
		in.ExpiresInDays = n // anything else is refused by the choices it must be one of
	}
	created, err := s.deps.App.Tokens.Create(r.Context(), s.Caller(r), in)
	if fault.CodeOf(err) == fault.Invalid {
		s.renderTokens(w, r, s.FormStatus(w, r, err), views.TokensPage{Form: httpx.FormState(map[string]string{
			"name": strings.TrimSpace(in.Name), "expires_in_days": days, "scopes": r.PostFormValue("scopes")}, err)})
		return
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusCreated, views.TokensPage{NewToken: created.Secret})
}

// revokeToken revokes one of the user's own tokens; anyone else's is NotFound.
func (s *Handlers) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err == nil {
		err = s.deps.App.Tokens.Revoke(r.Context(), s.Caller(r), id)
	} else if err = httpx.Authorize(r, authz.TokensManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err == nil {
		err = fault.New(fault.NotFound, "no such token")
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderTokens(w, r, http.StatusOK, views.TokensPage{})
}
