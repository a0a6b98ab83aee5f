// Command gen writes the Grafana dashboards of package dashboards as JSON under deploy/compose/grafana/dashboards
// (run from the repository's root: go run ./deploy/dashboards/gen; make generate does).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/concertmaster/concertmaster/deploy/dashboards"
)

func main() {
	for name, b := range dashboards.All() {
		out, err := dashboards.Render(b)
		if err == nil {
			err = os.WriteFile(filepath.Join(dashboards.Dir, name), out, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dashboards:", name+":", err)
			os.Exit(1)
		}
	}
}
