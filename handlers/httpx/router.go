package httpx

import (
	"net/http"
	"strings"
)

// Router is the one route table of the server, filled by each surface's routes.go in a fixed order. Each
// registration picks how its route is protected:
//
//	Page        a page for signed-in users: session, cross-origin protection, anonymous → /login
//	PublicPage  a page anyone may open (sign-in, sign-up, invitations): session and cross-origin protection
//	API         an API route: Bearer token (JWT or personal token) required, per-caller rate limit, CORS, and
//	            Idempotency-Key on POST
//	PublicAPI   an API route without a caller (issuing tokens): CORS; the handler rate-limits itself
//	Handle      raw: probes, assets, and the public webhook and form routes, which carry no cookie
//
// Handlers then authorize with the principal from PrincipalFrom(r.Context()).
type Router struct {
	kit *Kit
	mux *http.ServeMux
	// patterns lists the registered routes in registration order.
	patterns []string
}

// NewRouter returns an empty route table over kit.
func NewRouter(kit *Kit) *Router {
	return &Router{kit: kit, mux: http.NewServeMux()}
}

// Handle registers a route and remembers its pattern for Routes.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.patterns = append(rt.patterns, pattern)
	rt.mux.Handle(pattern, h)
}

// Page registers a page for signed-in users.
func (rt *Router) Page(pattern string, h http.HandlerFunc) {
	rt.Handle(pattern, rt.kit.CookieAuth(rt.kit.RequireUser(rt.kit.freshReads(h))))
}

// PublicPage registers a page that anonymous visitors may open; a signed-in visitor's principal is still loaded.
func (rt *Router) PublicPage(pattern string, h http.HandlerFunc) {
	rt.Handle(pattern, rt.kit.CookieAuth(h))
}

// API registers an API route that needs a Bearer token.
func (rt *Router) API(pattern string, h http.HandlerFunc) {
	next := rt.kit.freshReads(h)
	if strings.HasPrefix(pattern, "POST ") {
		next = rt.kit.Idempotent(pattern, next)
	}
	rt.Handle(pattern, rt.kit.WithCORS(rt.kit.BearerAuth(next)))
}

// PublicAPI registers an API route that takes no Bearer token.
func (rt *Router) PublicAPI(pattern string, h http.HandlerFunc) {
	rt.Handle(pattern, rt.kit.WithCORS(rt.kit.NoStore(h)))
}

// Routes lists the pattern of every registered route, in registration order.
func (rt *Router) Routes() []string {
	return append([]string(nil), rt.patterns...)
}

// ServeHTTP dispatches to the registered routes.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }
