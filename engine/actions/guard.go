package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// BlockedAddressError is the refusal of a connection to an address on a private network. It is permanent: the
// same name resolves to the same kind of address next time.
type BlockedAddressError struct {
	Host string
	Addr netip.Addr
}

// Error says what was refused and how to allow it, since the person reading it is usually the admin who can.
func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("%s resolves to %s, a loopback, private, link-local or otherwise internal address; "+
		"an administrator can allow it with OUTBOUND_ALLOWED_HOSTS", e.Host, e.Addr)
}

// blockedPrefixes are ranges refused besides those netip.Addr classifies (loopback, private, link-local,
// multicast, unspecified): networks that are internal, reserved or used by cloud metadata services.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT, and Alibaba's metadata 100.100.100.200
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),           // discard-only
	netip.MustParsePrefix("fec0::/10"),          // site-local (deprecated, still routed internally by some)
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6 (inside fc00::/7 too; named for clarity)
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
	netip.MustParsePrefix("ff00::/8"),           // multicast
	netip.MustParsePrefix("::ffff:0:0:0/96"),    // IPv4-translated
	netip.MustParsePrefix("2001::/32"),          // Teredo: tunnels to arbitrary IPv4 addresses
	netip.MustParsePrefix("2001:10::/28"),       // ORCHID
	netip.MustParsePrefix("::/128"),             // unspecified
	netip.MustParsePrefix("::1/128"),            // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, where 169.254.169.254 answers for most clouds
	netip.MustParsePrefix("fe80::/10"),          // link-local
	netip.MustParsePrefix("fc00::/7"),           // unique local
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

// IsInternalAddress reports whether a connection to addr would reach a loopback, private (RFC 1918, unique
// local), link-local, multicast, unspecified, carrier-grade NAT, reserved or cloud-metadata address. IPv4 embedded
// in IPv6 (mapped, NAT64, 6to4) is judged by the IPv4 address it carries.
func IsInternalAddress(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return true
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	if addr.Is6() {
		b := addr.As16()
		if nat64.Contains(addr) {
			return IsInternalAddress(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
		if sixTo.Contains(addr) {
			return IsInternalAddress(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}

// Guard decides which hosts outbound connections (HTTP requests, SMTP servers, PostgreSQL databases) may reach.
// By default only public addresses: the check is made on the address actually dialed, after DNS resolution, so a
// public name resolving to an internal address (or re-resolving to one: DNS rebinding) is refused, and so is every
// redirect to one. An administrator can allow hosts on private networks by name, address or prefix.
type Guard struct {
	names    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
	prefixes []netip.Prefix
	dialer   net.Dialer
}

// NewGuard returns a guard allowing the given hosts even when they are internal. Each entry is a host name
// ("smtp.internal"), a wildcard ("*.corp.example"), an address ("10.0.0.5", "::1") or a prefix ("10.0.0.0/8").
func NewGuard(allowedHosts []string) (*Guard, error) {
	g := &Guard{names: map[string]bool{}}
	for _, raw := range allowedHosts {
		h := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case h == "":
			continue
		case strings.Contains(h, "/"):
			p, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("allowed host %q: not a valid address prefix", raw)
			}
			g.prefixes = append(g.prefixes, p.Masked())
		case strings.HasPrefix(h, "*."):
			g.suffixes = append(g.suffixes, h[1:])
		default:
			h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
			if a, err := netip.ParseAddr(h); err == nil {
				g.prefixes = append(g.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(h, " :*/@") {
				return nil, fmt.Errorf("allowed host %q: want a host name, *.domain, an address or a prefix", raw)
			}
			g.names[h] = true
		}
	}
	g.dialer = net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return g, nil
}

// hostAllowed reports whether an admin allowed this host name.
func (g *Guard) hostAllowed(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if g.names[host] {
		return true
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// addrAllowed reports whether an internal address was allowed by address or prefix.
func (g *Guard) addrAllowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Check reports whether a connection to host at addr is allowed: nil, or a *BlockedAddressError.
func (g *Guard) Check(host string, addr netip.Addr) error {
	if !IsInternalAddress(addr) || g.hostAllowed(host) || g.addrAllowed(addr) {
		return nil
	}
	return &BlockedAddressError{Host: host, Addr: addr.Unmap()}
}

// DialContext dials addr ("host:port") over TCP, checking every address the host resolves to just before
// connecting to it (the dialer's ControlContext), so no resolution can slip between check and use.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("outbound connections over %q are not allowed", network)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := g.dialer
	d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("outbound connection to %q: %w", address, err)
		}
		return g.Check(host, ap.Addr())
	}
	return d.DialContext(ctx, network, addr)
}

// Resolve returns an address of host that the guard allows, for clients that cannot take a dial function (the
// SMTP sender): the caller connects to that very address, so the check cannot be bypassed by a second lookup.
func (g *Guard) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return a.Unmap(), g.Check(host, a)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	var firstErr error
	for _, a := range addrs {
		if err := g.Check(host, a); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		return a.Unmap(), nil
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s has no address", host)
	}
	return netip.Addr{}, firstErr
}

// IsBlocked reports whether err is (or wraps) a guard's refusal.
func IsBlocked(err error) bool {
	var b *BlockedAddressError
	return errors.As(err, &b)
}

// GuardOptions configures NewGuardedHTTPClient.
type GuardOptions struct {
	// AllowedHosts are hosts that may be reached although internal; see NewGuard.
	AllowedHosts []string
	// Timeout bounds a whole request when its context has no earlier deadline; 0 leaves it to the context.
	Timeout time.Duration
	// MaxRedirects bounds how many redirects are followed (default 5).
	MaxRedirects int
}

// NewGuardedHTTPClient returns the HTTP client of the HTTP node and of HTTP integrations' connection tests: every
// connection, redirects included, goes through a Guard; no proxy from the environment is used (a proxy would
// reach internal hosts on the client's behalf).
func NewGuardedHTTPClient(opts GuardOptions) (*http.Client, error) {
	g, err := NewGuard(opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	return newGuardedHTTPClient(g, opts), nil
}

func newGuardedHTTPClient(g *Guard, opts GuardOptions) *http.Client {
	maxRedirects := opts.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = 5
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return checkRedirect(req, via, maxRedirects)
		},
	}
}
