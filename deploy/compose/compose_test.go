// Package compose holds deploy/compose's tests: the compose file as the Compose specification's own loader reads it,
// checked against the README's table of services.
package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// readmeService is a row of the README's table of services (between <!-- compose:services --> markers).
type readmeService struct {
	names     []string
	profiles  []string
	dependsOn map[string]string // service → condition (healthy, completed, started)
	health    string            // what the health check probes, "—" for none
}

func readmeServices(t *testing.T) []readmeService {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "<!-- compose:services -->\n")
	if table, _, ok = strings.Cut(table, "<!-- /compose:services -->"); !ok {
		t.Fatal("README.md has no compose:services table")
	}
	var rows []readmeService
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("README services row %q: want 5 cells", line)
		}
		row := readmeService{names: codeWords(cells[0]), profiles: strings.Fields(strings.ReplaceAll(cells[1], "`", "")),
			dependsOn: map[string]string{}, health: strings.TrimSpace(cells[3])}
		for _, dep := range strings.Split(cells[2], ",") {
			if f := strings.Fields(strings.ReplaceAll(dep, "`", "")); len(f) == 2 {
				row.dependsOn[f[0]] = f[1]
			} else if len(f) != 0 {
				t.Fatalf("README services row %q: dependency %q is not `service` condition", line, dep)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// codeWords are the `quoted` words of a cell.
func codeWords(cell string) []string {
	var out []string
	parts := strings.Split(cell, "`")
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

func load(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."),
		cli.WithEnv([]string{"SECRET_KEY=" + strings.Repeat("k", 64)}), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go refuses compose.yaml: %v", err)
	}
	return p
}

var conditions = map[string]string{"healthy": types.ServiceConditionHealthy,
	"completed": types.ServiceConditionCompletedSuccessfully, "started": types.ServiceConditionStarted}

// TestComposeFileMatchesTheReadme loads compose.yaml with compose-go, with and without the dev profile, and
// checks its services, profiles, health checks and dependencies against the README's table, then what the
// README promises of them: one published HTTP entry, a scalable worker, every process scraped, files that exist.
func TestComposeFileMatchesTheReadme(t *testing.T) {
	t.Parallel()
	dev, prod := load(t, "dev"), load(t)
	rows := readmeServices(t)
	var documented []string
	for _, row := range rows {
		for _, name := range row.names {
			documented = append(documented, name)
			s, err := dev.GetService(name)
			if err != nil {
				t.Errorf("README lists %s, compose.yaml has no such service", name)
				continue
			}
			if got := slices.Clone(s.Profiles); !slices.Equal(sorted(got), sorted(row.profiles)) {
				t.Errorf("%s: profiles %v, README says %v", name, got, row.profiles)
			}
			deps := map[string]string{}
			for dep, d := range s.DependsOn {
				deps[dep] = d.Condition
			}
			want := map[string]string{}
			for dep, c := range row.dependsOn {
				want[dep] = conditions[c]
			}
			if !mapsEqual(deps, want) {
				t.Errorf("%s: depends on %v, README says %v", name, deps, want)
			}
			checkHealth(t, name, s, row.health)
		}
	}
	var inFile []string
	for name := range dev.Services {
		inFile = append(inFile, name)
	}
	if !slices.Equal(sorted(inFile), sorted(documented)) {
		t.Errorf("services in compose.yaml %v, in the README %v", sorted(inFile), sorted(documented))
	}
	if _, err := prod.GetService("mailpit"); err == nil {
		t.Error("mailpit runs without the dev profile")
	}
	if len(prod.Services) != len(dev.Services)-1 {
		t.Errorf("without the dev profile %d services, want %d", len(prod.Services), len(dev.Services)-1)
	}
	checkShape(t, dev)
}

func checkHealth(t *testing.T, name string, s types.ServiceConfig, want string) {
	t.Helper()
	if want == "—" {
		if s.HealthCheck != nil && !s.HealthCheck.Disable {
			t.Errorf("%s has a health check, the README says none", name)
		}
		return
	}
	if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
		t.Errorf("%s has no health check, the README says %s", name, want)
		return
	}
	test := strings.Join(s.HealthCheck.Test, " ")
	if probe := strings.Trim(want, "`"); !strings.Contains(test, probe) {
		t.Errorf("%s's health check %q does not probe %s as the README says", name, test, probe)
	}
	if s.HealthCheck.Interval == nil || s.HealthCheck.Retries == nil {
		t.Errorf("%s's health check has no interval or retries", name)
	}
}

// checkShape: the entry, the processes and the configuration files are where the README says.
func checkShape(t *testing.T, p *types.Project) {
	t.Helper()
	for name, s := range p.Services {
		for _, port := range s.Ports {
			public := port.HostIP == "" || port.HostIP == "0.0.0.0"
			if public && name != "nginx" {
				t.Errorf("%s publishes port %s on every interface; only nginx may", name, port.Published)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, v.Source, err)
				}
			}
		}
	}
	worker, _ := p.GetService("worker")
	if worker.ContainerName != "" || len(worker.Ports) > 0 {
		t.Error("worker has a container name or a published port: --scale worker=N would clash")
	}
	if got := strings.Join(worker.Command, " "); got != "worker" {
		t.Errorf("worker runs %q", got)
	}
	for _, web := range []string{"web-1", "web-2"} {
		s, _ := p.GetService(web)
		if got := strings.Join(s.Command, " "); got != "serve --no-workers" {
			t.Errorf("%s runs %q", web, got)
		}
		if s.Environment["TRUSTED_PROXIES"] == nil || !strings.HasPrefix(*s.Environment["TRUSTED_PROXIES"], "172.28.0.10") {
			t.Errorf("%s does not trust nginx's address", web)
		}
	}
	nginx, _ := p.GetService("nginx")
	if ip := nginx.Networks["backend"].Ipv4Address; ip != "172.28.0.10" {
		t.Errorf("nginx's address %q, TRUSTED_PROXIES names 172.28.0.10", ip)
	}
	// Grafana: the provisioned data source is the one every generated panel names, and the dashboards provider reads
	// the folder the generated JSON is mounted at.
	ds, _ := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "prometheus.yml"))
	provider, _ := os.ReadFile(filepath.Join("grafana", "provisioning", "dashboards", "concertmaster.yml"))
	overview, _ := os.ReadFile(filepath.Join("grafana", "dashboards", "overview.json"))
	if !strings.Contains(string(ds), "uid: prometheus") || !strings.Contains(string(overview), `"uid": "prometheus"`) {
		t.Error("the provisioned data source's uid is not the one the dashboards use (prometheus)")
	}
	grafana, _ := p.GetService("grafana")
	mounted := false
	for _, v := range grafana.Volumes {
		mounted = mounted || (strings.HasSuffix(v.Source, filepath.Join("grafana", "dashboards")) &&
			strings.Contains(string(provider), "path: "+v.Target))
	}
	if !mounted {
		t.Error("Grafana's dashboards provider does not read the folder the generated dashboards are mounted at")
	}
	prom, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{`"web-1:9090"`, `"web-2:9090"`, `names: ["worker"]`} {
		if !strings.Contains(string(prom), target) {
			t.Errorf("prometheus.yml does not scrape %s", target)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
