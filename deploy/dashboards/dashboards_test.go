package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestCommittedDashboardsAreGenerated fails when the JSON under Dir differs from what the Go definitions render:
// run `go run ./deploy/dashboards/gen` (make generate) and commit the result.
func TestCommittedDashboardsAreGenerated(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", Dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var committed, defined []string
	for _, e := range entries {
		committed = append(committed, e.Name())
	}
	for name, b := range All() {
		defined = append(defined, name)
		want, err := Render(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run go run ./deploy/dashboards/gen and commit it", name)
		}
	}
	sort.Strings(committed)
	sort.Strings(defined)
	if len(committed) != len(defined) {
		t.Errorf("%s holds %v; the definitions are %v", Dir, committed, defined)
	}
}
