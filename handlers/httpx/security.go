package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
)

// ContentSecurityPolicy allows nothing inline and nothing from elsewhere: scripts (htmx) and styles are files under
// /static, and no page may be framed.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// withSecurityHeaders sets the headers every response carries, whatever answers it.
func (k *Kit) withSecurityHeaders(next http.Handler) http.Handler {
	hsts := k.cfg.BaseURL.Scheme == "https"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// NoStore keeps personal pages and API answers out of shared and browser caches.
func (k *Kit) NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// crossOriginRefused answers a state-changing request that a browser sent from another site.
func (k *Kit) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	logging.From(r.Context(), k.cfg.Logger).Warn("cross-origin request refused",
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	http.Error(w, "cross-origin request refused", http.StatusForbidden)
}

// CORS for /api: browsers on the allowed origins may call it with a Bearer token. Credentials (cookies) are never
// allowed cross-origin, so the API cannot be driven with a victim's session.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
	corsExposeHeaders = "Retry-After, X-Request-ID, Location"
)

// WithCORS lets the allowed origins read an API answer (never with credentials).
func (k *Kit) WithCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && k.cors[origin] {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// APIFallback answers /api requests no route took: CORS preflights (OPTIONS, for any API path) and, for anything
// else, a 404 problem.
func (k *Kit) APIFallback(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		k.corsPreflight(w, r)
		return
	}
	k.WithCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.Problem(w, r, fault.New(fault.NotFound, "no such API route"))
	})).ServeHTTP(w, r)
}

// corsPreflight answers the browser's OPTIONS question for any /api route.
func (k *Kit) corsPreflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !k.cors[origin] {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// ClientIP is the address rate limits, access logs and the audit log attribute a request to: the peer, or, when
// the peer is a trusted proxy (TRUSTED_PROXIES), the right-most address in X-Forwarded-For that is not itself a
// trusted proxy (the left-most entries are whatever the client claimed); a trusted proxy that sends no
// X-Forwarded-For may name the client in X-Real-IP instead. Neither header is believed from any other peer.
func (k *Kit) ClientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !k.trusted(peer) {
		return peer
	}
	forwarded := r.Header.Values("X-Forwarded-For")
	if len(forwarded) == 0 {
		if real := r.Header.Get("X-Real-IP"); real != "" {
			forwarded = []string{real}
		}
	}
	hops := strings.Split(strings.Join(forwarded, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !k.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (k *Kit) trusted(a netip.Addr) bool {
	for _, p := range k.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
