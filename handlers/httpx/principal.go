package httpx

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
	SessionOrgID   = "oid"
	sessionCredVer = "cv"
	// SessionPasswordAt is when the password was last re-entered (unix seconds), for RequireFreshPassword.
	SessionPasswordAt = "pwat"
)

// FreshPasswordWindow is how long a re-entered password lets a session make someone owner.
const FreshPasswordWindow = 5 * time.Minute

// Identity is the authenticated caller of a request: the authorization principal plus the names pages show.
type Identity struct {
	Principal authz.Principal
	User      store.User
	Org       store.Organization
}

// PrincipalFrom returns the request's principal; the zero Principal (not Authenticated) for an anonymous request.
func PrincipalFrom(ctx context.Context) authz.Principal {
	if id, ok := ctx.Value(principalKey).(*Identity); ok {
		return id.Principal
	}
	return authz.Principal{}
}

// IdentityFrom returns the request's identity, nil for an anonymous request.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(principalKey).(*Identity)
	return id
}

func withIdentity(r *http.Request, id *Identity) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey, id))
}

func identityOf(p store.Principal) *Identity {
	scopes := make([]authz.Scope, len(p.TokenScopes))
	for i, sc := range p.TokenScopes {
		scopes[i] = authz.Scope(sc)
	}
	return &Identity{
		Principal: authz.Principal{UserID: p.User.ID, OrgID: p.Organization.ID, Role: authz.Role(p.Role),
			InstanceAdmin: p.User.InstanceAdmin, TokenID: p.TokenID, Scopes: scopes},
		User: p.User, Org: p.Organization,
	}
}

// sessionIdentityOf is identityOf for a cookie session, which alone may hold a freshly re-entered password.
func (k *Kit) sessionIdentityOf(ctx context.Context, p store.Principal) *Identity {
	id := identityOf(p)
	id.Principal.Session = true
	if at := k.Sessions().GetInt64(ctx, SessionPasswordAt); at > 0 {
		age := k.cfg.Now().Sub(time.Unix(at, 0))
		id.Principal.FreshPassword = age >= 0 && age < FreshPasswordWindow
	}
	return id
}

// CookieAuth is the stack of every cookie-authenticated route: cross-origin protection (the CSRF defence, with
// SameSite=Lax behind it), the session, and the principal it names.
func (k *Kit) CookieAuth(next http.Handler) http.Handler {
	return k.csrf.Handler(k.Sessions().LoadAndSave(k.NoStore(k.loadSessionPrincipal(next))))
}

// loadSessionPrincipal resolves the session's user and organization to a principal, re-reading the role. A session
// whose user left the organization moves to another of the user's organizations, or ends when there is none; a
// session issued before a password change ends.
func (k *Kit) loadSessionPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		userID, err1 := uuid.Parse(k.Sessions().GetString(ctx, sessionUserID))
		orgID, err2 := uuid.Parse(k.Sessions().GetString(ctx, SessionOrgID))
		if err1 != nil || err2 != nil {
			next.ServeHTTP(w, r)
			return
		}
		p, err := k.cfg.Store.PrincipalGet(ctx, userID, orgID)
		if fault.CodeOf(err) == fault.NotFound {
			p, err = k.fallbackOrganization(ctx, userID)
		}
		switch {
		case fault.CodeOf(err) == fault.NotFound,
			err == nil && p.CredentialsVersion != k.Sessions().GetInt(ctx, sessionCredVer):
			if err := k.Sessions().Destroy(ctx); err != nil {
				k.PageError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		case err != nil:
			k.PageError(w, r, err)
		default:
			next.ServeHTTP(w, withIdentity(r, k.sessionIdentityOf(ctx, p)))
		}
	})
}

// fallbackOrganization moves a session to the user's first organization when they lost the one it named.
func (k *Kit) fallbackOrganization(ctx context.Context, userID uuid.UUID) (store.Principal, error) {
	orgs, err := k.cfg.Store.UserOrganizations(ctx, userID)
	if err != nil {
		return store.Principal{}, err
	}
	if len(orgs) == 0 {
		return store.Principal{}, fault.New(fault.NotFound, "no organization")
	}
	p, err := k.cfg.Store.PrincipalGet(ctx, userID, orgs[0].ID)
	if err != nil {
		return store.Principal{}, err
	}
	k.Sessions().Put(ctx, SessionOrgID, p.Organization.ID.String())
	if err := k.Sessions().RenewToken(ctx); err != nil {
		return store.Principal{}, err
	}
	return p, nil
}

// RequireUser sends anonymous visitors of a page to the sign-in page, remembering where they were going.
func (k *Kit) RequireUser(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !PrincipalFrom(r.Context()).Authenticated() {
			k.RedirectToLogin(w, r)
			return
		}
		next(w, r)
	})
}

// RedirectToLogin sends the browser to the sign-in page, with the page it wanted as next when it was a GET.
func (k *Kit) RedirectToLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	k.Redirect(w, r, target)
}

// SignIn starts a fresh session (a new token: no fixation) for a user in an organization.
func (k *Kit) SignIn(ctx context.Context, user store.User, orgID uuid.UUID) error {
	if err := k.Sessions().RenewToken(ctx); err != nil {
		return err
	}
	k.Sessions().Put(ctx, sessionUserID, user.ID.String())
	k.Sessions().Put(ctx, SessionOrgID, orgID.String())
	k.Sessions().Put(ctx, sessionCredVer, user.CredentialsVersion)
	return nil
}

// errBadBearer is every refusal of a Bearer token, alike, so a caller learns nothing from which check failed.
var errBadBearer = fault.New(fault.Unauthorized, "a valid Bearer token is required")

// BearerAuth authenticates an API request by its Authorization: Bearer token, either a personal API token
// (cm_pat_…) or a JWT access token, and applies the per-caller rate limit. Cookies are ignored: the API is never
// cookie-authenticated, which is why it needs no cross-origin protection.
func (k *Kit) BearerAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="concertmaster"`)
			k.Problem(w, r, errBadBearer)
			return
		}
		id, err := k.authenticateBearer(r.Context(), token)
		if err != nil {
			if fault.CodeOf(err) == fault.Unauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="concertmaster", error="invalid_token"`)
				err = errBadBearer
			}
			k.Problem(w, r, err)
			return
		}
		key := "api:user:" + id.Principal.UserID.String()
		if id.Principal.TokenID != nil {
			key = "api:token:" + id.Principal.TokenID.String()
		}
		if err := k.Allow(r, key, k.cfg.APIRateLimit, RateWindowMinute); err != nil {
			k.Problem(w, r, err)
			return
		}
		next.ServeHTTP(w, withIdentity(r, id))
	})
}

func (k *Kit) authenticateBearer(ctx context.Context, token string) (*Identity, error) {
	if strings.HasPrefix(token, auth.PersonalTokenPrefix) {
		p, err := k.cfg.Store.APITokenAuthenticate(ctx, auth.HashToken(token))
		if err != nil {
			return nil, err
		}
		return identityOf(p), nil
	}
	claims, err := k.AccessTokens().Verify(token)
	if err != nil {
		return nil, err
	}
	p, err := k.cfg.Store.PrincipalGet(ctx, claims.UserID, claims.OrgID)
	if fault.CodeOf(err) == fault.NotFound || (err == nil && p.CredentialsVersion != claims.CredentialsVersion) {
		return nil, errBadBearer
	}
	if err != nil {
		return nil, err
	}
	return identityOf(p), nil
}

// BearerToken is the request's Authorization: Bearer token, if it carries one.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// Actor is the audit log's view of who makes the request's change and from where.
func (k *Kit) Actor(r *http.Request) store.Actor {
	a := store.Actor{RemoteIP: k.ClientIP(r), RequestID: RequestID(r.Context())}
	if id := IdentityFrom(r.Context()); id != nil {
		userID := id.Principal.UserID
		a.UserID = &userID
		a.TokenID = id.Principal.TokenID
	}
	return a
}

// Caller is the request's caller as the use cases take it.
func (k *Kit) Caller(r *http.Request) app.Caller {
	c := app.Caller{Principal: PrincipalFrom(r.Context()), Actor: k.Actor(r)}
	if id := IdentityFrom(r.Context()); id != nil {
		c.UserName, c.OrgName = id.User.Name, id.Org.Name
	}
	return c
}

// Authorize is authz.Authorize for the request's principal.
func Authorize(r *http.Request, a authz.Action, res authz.Resource) error {
	return authz.Authorize(PrincipalFrom(r.Context()), a, res)
}

// PathWorkflow loads the workflow named by the {id} path segment, checking that the caller may do
// a to it, and answers the problem itself when not: the first step of every API route on one workflow.
func (k *Kit) PathWorkflow(w http.ResponseWriter, r *http.Request, a authz.Action) (store.Workflow, bool) {
	id, err := PathID(r, "id")
	if err == nil {
		var wf store.Workflow
		if wf, err = k.cfg.App.Workflows.Authorized(r.Context(), k.Caller(r), id, a); err == nil {
			return wf, true
		}
	}
	k.Problem(w, r, err)
	return store.Workflow{}, false
}
