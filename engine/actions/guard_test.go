package actions_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/engine/actions"
)

func TestInternalAddresses(t *testing.T) {
	t.Parallel()
	internal := []string{"127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "fd00:ec2::254", "100.64.0.1", "100.100.100.200", "0.0.0.0", "::", "224.0.0.1",
		"ff02::1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
		"198.18.0.1", "240.0.0.1"}
	public := []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"}
	for _, s := range internal {
		if !actions.IsInternalAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s is internal", s)
		}
	}
	for _, s := range public {
		if actions.IsInternalAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s is public", s)
		}
	}
}

func TestGuardAllowList(t *testing.T) {
	t.Parallel()
	g, err := actions.NewGuard([]string{"db.internal", "*.corp.example", "10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, addr string
		allowed    bool
	}{
		{"db.internal", "192.168.0.5", true},
		{"DB.Internal.", "192.168.0.5", true},
		{"x.corp.example", "172.16.0.1", true},
		{"corp.example", "172.16.0.1", false},
		{"api.example.com", "10.9.9.9", true},
		{"api.example.com", "192.168.0.1", false},
		{"localhost", "::1", true},
		{"localhost", "127.0.0.1", false},
		{"example.com", "93.184.216.34", true},
	} {
		err := g.Check(tc.host, netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.allowed {
			t.Errorf("%s at %s: %v", tc.host, tc.addr, err)
		}
	}
	for _, bad := range []string{"10.0.0.0/99", "http://x", "a b"} {
		if _, err := actions.NewGuard([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Resolve hands out only allowed addresses of a name.
	if _, err := g.Resolve(context.Background(), "localhost"); err != nil && !strings.Contains(err.Error(), "OUTBOUND_ALLOWED_HOSTS") {
		t.Errorf("resolve localhost: %v", err)
	}
	strict, _ := actions.NewGuard(nil)
	if _, err := strict.Resolve(context.Background(), "localhost"); !actions.IsBlocked(err) {
		t.Errorf("strict resolve of localhost: %v", err)
	}
}
