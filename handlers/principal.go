package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

const principalKey contextKey = 100

// Session keys. The session holds only ids and the credentials version: everything else (the role above all) is
// read from the database on every request.
const (
	sessionUserID  = "uid"
	sessionOrgID   = "oid"
	sessionCredVer = "cv"
	// sessionPasswordAt is when the password was last re-entered (unix seconds), for RequireFreshPassword.
	sessionPasswordAt = "pwat"
)

// freshPasswordWindow is how long a re-entered password lets a session make someone owner.
const freshPasswordWindow = 5 * time.Minute

// identity is the authenticated caller of a request: the authorization principal plus the names pages show.
type identity struct {
	principal authz.Principal
	user      store.User
	org       store.Organization
}

// principalFrom returns the request's principal; the zero Principal (not Authenticated) for an anonymous request.
func principalFrom(ctx context.Context) authz.Principal {
	if id, ok := ctx.Value(principalKey).(*identity); ok {
		return id.principal
	}
	return authz.Principal{}
}

// identityFrom returns the request's identity, nil for an anonymous request.
func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(principalKey).(*identity)
	return id
}

func withIdentity(r *http.Request, id *identity) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey, id))
}

func identityOf(p store.Principal) *identity {
	scopes := make([]authz.Scope, len(p.TokenScopes))
	for i, sc := range p.TokenScopes {
		scopes[i] = authz.Scope(sc)
	}
	return &identity{
		principal: authz.Principal{UserID: p.User.ID, OrgID: p.Organization.ID, Role: authz.Role(p.Role),
			InstanceAdmin: p.User.InstanceAdmin, TokenID: p.TokenID, Scopes: scopes},
		user: p.User, org: p.Organization,
	}
}

// sessionIdentityOf is identityOf for a cookie session, which alone may hold a freshly re-entered password.
func (s *Server) sessionIdentityOf(ctx context.Context, p store.Principal) *identity {
	id := identityOf(p)
	id.principal.Session = true
	if at := s.sessions.GetInt64(ctx, sessionPasswordAt); at > 0 {
		age := s.deps.Now().Sub(time.Unix(at, 0))
		id.principal.FreshPassword = age >= 0 && age < freshPasswordWindow
	}
	return id
}

// cookieAuth is the stack of every cookie-authenticated route: cross-origin protection (the CSRF defence, with
// SameSite=Lax behind it), the session, and the principal it names.
func (s *Server) cookieAuth(next http.Handler) http.Handler {
	return s.csrf.Handler(s.sessions.LoadAndSave(s.noStore(s.loadSessionPrincipal(next))))
}

// loadSessionPrincipal resolves the session's user and organization to a principal, re-reading the role. A session
// whose user left the organization moves to another of the user's organizations, or ends when there is none; a
// session issued before a password change ends.
func (s *Server) loadSessionPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		userID, err1 := uuid.Parse(s.sessions.GetString(ctx, sessionUserID))
		orgID, err2 := uuid.Parse(s.sessions.GetString(ctx, sessionOrgID))
		if err1 != nil || err2 != nil {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.deps.Store.PrincipalGet(ctx, userID, orgID)
		if fault.CodeOf(err) == fault.NotFound {
			p, err = s.fallbackOrganization(ctx, userID)
		}
		switch {
		case fault.CodeOf(err) == fault.NotFound,
			err == nil && p.CredentialsVersion != s.sessions.GetInt(ctx, sessionCredVer):
			if err := s.sessions.Destroy(ctx); err != nil {
				s.pageError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		case err != nil:
			s.pageError(w, r, err)
		default:
			next.ServeHTTP(w, withIdentity(r, s.sessionIdentityOf(ctx, p)))
		}
	})
}

// fallbackOrganization moves a session to the user's first organization when they lost the one it named.
func (s *Server) fallbackOrganization(ctx context.Context, userID uuid.UUID) (store.Principal, error) {
	orgs, err := s.deps.Store.UserOrganizations(ctx, userID)
	if err != nil {
		return store.Principal{}, err
	}
	if len(orgs) == 0 {
		return store.Principal{}, fault.New(fault.NotFound, "no organization")
	}
	p, err := s.deps.Store.PrincipalGet(ctx, userID, orgs[0].ID)
	if err != nil {
		return store.Principal{}, err
	}
	s.sessions.Put(ctx, sessionOrgID, p.Organization.ID.String())
	if err := s.sessions.RenewToken(ctx); err != nil {
		return store.Principal{}, err
	}
	return p, nil
}

// requireUser sends anonymous visitors of a page to the sign-in page, remembering where they were going.
func (s *Server) requireUser(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principalFrom(r.Context()).Authenticated() {
			s.redirectToLogin(w, r)
			return
		}
		next(w, r)
	})
}

func (s *Server) redirectToLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	s.redirect(w, r, target)
}

// signIn starts a fresh session (a new token: no fixation) for a user in an organization.
func (s *Server) signIn(ctx context.Context, user store.User, orgID uuid.UUID) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessionUserID, user.ID.String())
	s.sessions.Put(ctx, sessionOrgID, orgID.String())
	s.sessions.Put(ctx, sessionCredVer, user.CredentialsVersion)
	return nil
}

// errBadBearer is every refusal of a Bearer token, alike, so a caller learns nothing from which check failed.
var errBadBearer = fault.New(fault.Unauthorized, "a valid Bearer token is required")

// bearerAuth authenticates an API request by its Authorization: Bearer token, either a personal API token
// (cm_pat_…) or a JWT access token, and applies the per-caller rate limit. Cookies are ignored: the API is never
// cookie-authenticated, which is why it needs no cross-origin protection.
func (s *Server) bearerAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="concertmaster"`)
			s.problem(w, r, errBadBearer)
			return
		}
		id, err := s.authenticateBearer(r.Context(), token)
		if err != nil {
			if fault.CodeOf(err) == fault.Unauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="concertmaster", error="invalid_token"`)
				err = errBadBearer
			}
			s.problem(w, r, err)
			return
		}
		key := "api:user:" + id.principal.UserID.String()
		if id.principal.TokenID != nil {
			key = "api:token:" + id.principal.TokenID.String()
		}
		if err := s.allow(r, key, s.deps.APIRateLimit, rateWindowMinute); err != nil {
			s.problem(w, r, err)
			return
		}
		next.ServeHTTP(w, withIdentity(r, id))
	})
}

func (s *Server) authenticateBearer(ctx context.Context, token string) (*identity, error) {
	if strings.HasPrefix(token, auth.PersonalTokenPrefix) {
		p, err := s.deps.Store.APITokenAuthenticate(ctx, auth.HashToken(token))
		if err != nil {
			return nil, err
		}
		return identityOf(p), nil
	}
	claims, err := s.access.Verify(token)
	if err != nil {
		return nil, err
	}
	p, err := s.deps.Store.PrincipalGet(ctx, claims.UserID, claims.OrgID)
	if fault.CodeOf(err) == fault.NotFound || (err == nil && p.CredentialsVersion != claims.CredentialsVersion) {
		return nil, errBadBearer
	}
	if err != nil {
		return nil, err
	}
	return identityOf(p), nil
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// actor is the audit log's view of who makes the request's change and from where.
func (s *Server) actor(r *http.Request) store.Actor {
	a := store.Actor{RemoteIP: s.clientIP(r), RequestID: RequestID(r.Context())}
	if id := identityFrom(r.Context()); id != nil {
		userID := id.principal.UserID
		a.UserID = &userID
		a.TokenID = id.principal.TokenID
	}
	return a
}

// caller is the request's caller as the use cases take it.
func (s *Server) caller(r *http.Request) app.Caller {
	c := app.Caller{Principal: principalFrom(r.Context()), Actor: s.actor(r)}
	if id := identityFrom(r.Context()); id != nil {
		c.UserName, c.OrgName = id.user.Name, id.org.Name
	}
	return c
}

// authorize is authz.Authorize for the request's principal.
func authorize(r *http.Request, a authz.Action, res authz.Resource) error {
	return authz.Authorize(principalFrom(r.Context()), a, res)
}
