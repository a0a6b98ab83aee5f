package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientIP: X-Forwarded-For and X-Real-IP are believed only from TRUSTED_PROXIES, right-most untrusted hop first.
func TestClientIP(t *testing.T) {
	t.Parallel()
	k := &Kit{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	for _, tc := range []struct {
		name, peer string
		header     http.Header
		want       string
	}{
		{"untrusted peer's XFF is ignored", "203.0.113.9:4000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"},
		{"untrusted peer's X-Real-IP is ignored", "203.0.113.9:4000", http.Header{"X-Real-Ip": {"198.51.100.1"}}, "203.0.113.9"},
		{"trusted peer, one hop", "10.1.2.3:4000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"trusted peer, spoofed left-most hop", "10.1.2.3:4000", http.Header{"X-Forwarded-For": {"1.2.3.4, 198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"trusted peer, X-Real-IP without XFF", "[::1]:4000", http.Header{"X-Real-Ip": {"198.51.100.7"}}, "198.51.100.7"},
		{"XFF wins over X-Real-IP", "10.1.2.3:4000", http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Real-Ip": {"192.0.2.1"}}, "198.51.100.1"},
		{"trusted peer, no header", "10.1.2.3:4000", http.Header{}, "10.1.2.3"},
		{"trusted peer, garbage header", "10.1.2.3:4000", http.Header{"X-Forwarded-For": {"not-an-ip"}}, "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr, r.Header = tc.peer, tc.header
			if got := k.ClientIP(r).String(); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}
