package bundle

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFreeName: a taken name gets " (imported)", a second clash a number, and a long name is cut on a character
// boundary so the result stays within the 200 bytes names may have.
func TestFreeName(t *testing.T) {
	taken := map[string]bool{"Orders": true}
	for _, want := range []string{"Orders (imported)", "Orders (imported 2)", "Orders (imported 3)"} {
		if got := freeName("Orders", taken); got != want {
			t.Errorf("freeName(Orders) = %q, want %q", got, want)
		}
	}
	if got := freeName("Fresh", taken); got != "Fresh" {
		t.Errorf("an unused name changed: %q", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	taken[long] = true
	got := freeName(long, taken)
	if len(got) > 200 || !utf8.ValidString(got) || !strings.HasSuffix(got, importedSuffix) {
		t.Errorf("long name: %d bytes, valid %v: %q", len(got), utf8.ValidString(got), got)
	}
}
