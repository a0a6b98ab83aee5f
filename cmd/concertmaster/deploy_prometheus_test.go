package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rulesFile is the shipped alert rules.
const rulesFile = "../../deploy/compose/prometheus/rules/concertmaster.yml"

// TestAlertRules: promtool accepts the shipped rule file and Prometheus configuration, amtool the Alertmanager
// configuration, and every alert has a runbook line in the README.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := opsTool(t, "TEST_PROMTOOL", "promtool")
	for _, check := range [][]string{
		{promtool, "check", "rules", rulesFile},
		{promtool, "check", "config", "../../deploy/compose/prometheus/prometheus.yml"},
		{opsTool(t, "TEST_AMTOOL", "amtool"), "check-config", "../../deploy/compose/alertmanager/alertmanager.yml"},
	} {
		if out, err := exec.Command(check[0], check[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(check, " "), err, out)
		}
	}
	rules, _ := os.ReadFile(rulesFile)
	readme, _ := os.ReadFile("../../README.md")
	_, runbook, _ := strings.Cut(string(readme), "<!-- alerts:runbook -->")
	runbook, _, _ = strings.Cut(runbook, "<!-- /alerts:runbook -->")
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\S+)$`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) != 6 {
		t.Errorf("%d alerts in the rule file, want 6", len(alerts))
	}
	for _, a := range alerts {
		if !strings.Contains(runbook, "| `"+a[1]+"` |") {
			t.Errorf("README, Operations, has no runbook line for %s", a[1])
		}
	}
}

// promServer is a Prometheus the test runs (Debian's package).
type promServer struct{ base string }

// startPrometheus runs Prometheus scraping targets by job every second, with rules (a file's content).
func startPrometheus(t *testing.T, targets map[string][]string, rules string) *promServer {
	t.Helper()
	bin := opsTool(t, "TEST_PROMETHEUS", "prometheus")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yml"), rules)
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\nscrape_configs:\n"
	for job, ts := range targets {
		quoted, _ := json.Marshal(ts)
		cfg += fmt.Sprintf("  - job_name: %s\n    static_configs: [{targets: %s}]\n", job, quoted)
	}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	addr := "127.0.0.1:" + freePort(t)
	startProcess(t, "prometheus", bin, nil, "Server is ready to receive web requests",
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	return &promServer{base: "http://" + addr}
}

// query runs an instant query and returns the number of series of its answer.
func (p *promServer) query(t *testing.T, expr string) (int, error) {
	t.Helper()
	var out struct {
		Status string
		Error  string
		Data   struct{ Result []json.RawMessage }
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(expr), &out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("%s", out.Error)
	}
	return len(out.Data.Result), nil
}

func (p *promServer) get(path string, v any) error {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w: %s", path, err, b)
	}
	return nil
}

// panelQueries are the PromQL of every panel of the committed dashboards, with Grafana's variables set as a
// viewer's defaults would: the rate window, and every workflow.
func panelQueries(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob("../../deploy/compose/grafana/dashboards/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards under deploy/compose/grafana/dashboards")
	}
	// A wide window: the burst stays in it however long the machine takes to reach the check.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$workflow", ".+")
	out := map[string]string{}
	for _, f := range files {
		var d struct {
			Panels []struct {
				Type, Title string
				Targets     []struct{ Expr string }
			}
		}
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &d)
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for i, target := range p.Targets {
				out[fmt.Sprintf("%s / %s #%d", filepath.Base(f), p.Title, i+1)] = vars.Replace(target.Expr)
			}
		}
	}
	return out
}

// TestPrometheusScrapesEveryPanelAndAlerts runs a real Prometheus against 1 web and 2 worker processes, sends a
// burst of succeeding and failing executions and webhook calls, then requires every dashboard panel's query to
// return at least one series, and the failure-rate alert (the shipped rule, its windows shortened) to fire.
func TestPrometheusScrapesEveryPanelAndAlerts(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := migratedDatabase(t)
	env := func(listen, metrics string) map[string]string {
		return map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": testSecretKey, "LISTEN_ADDR": listen,
			"METRICS_ADDR": metrics, "METRICS_WORKFLOW_LABELS": "10", "WORKER_CONCURRENCY": "8",
			"DATABASE_MAX_CONNS": "8", "LOG_LEVEL": "info", "DATA_DIR": t.TempDir()}
	}
	webAddr, webMetrics := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	startProcess(t, "web", bin, env(webAddr, webMetrics), `"msg":"serving"`, "serve", "--no-workers")
	var workers []string
	for i := range 2 {
		m := "127.0.0.1:" + freePort(t)
		workers = append(workers, m)
		startProcess(t, fmt.Sprintf("worker %d", i+1), bin, env("127.0.0.1:"+freePort(t), m), `"msg":"serving metrics"`, "worker")
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// Production windows and delays, shortened to the test's seconds.
	short := regexp.MustCompile(`\[(5|10)m\]`).ReplaceAllString(string(rules), "[2m]")
	short = regexp.MustCompile(`for: \d+m`).ReplaceAllString(short, "for: 2s")
	prom := startPrometheus(t, map[string][]string{"concertmaster-web": {webMetrics}, "concertmaster-worker": workers}, short)
	waitFor(t, "Prometheus scrapes all three processes", time.Minute, func() (bool, string) {
		n, err := prom.query(t, `count(up{job=~"concertmaster.*"} == 1)`)
		return err == nil && n == 1, fmt.Sprint(err)
	})

	for _, w := range workers {
		if status, _, _ := get(t, "http://"+w+"/healthz"); status != http.StatusOK {
			t.Errorf("worker %s /healthz = %d", w, status)
		}
	}
	base := "http://" + webAddr
	createUser(t, map[string]string{"DATABASE_URL": dbURL}, "ops@example.com")
	api := signInAPI(t, base, "ops@example.com")
	ok := api.activeWorkflow(t, "Succeeds", hookDefinition(`{ok: true}`))
	bad := api.activeWorkflow(t, "Fails", hookDefinition(`error("boom")`))
	for range 15 {
		api.runWorkflow(t, ok)
		api.runWorkflow(t, bad)
	}
	for i := range 5 {
		// Each body differs: a repeated signature is a replay (409).
		if status := api.callWebhook(t, ok, fmt.Sprintf(`{"n": %d}`, i)); status != http.StatusAccepted {
			t.Fatalf("signed webhook call = %d", status)
		}
	}
	if status, _, _ := postJSON(t, base+"/hooks/not-a-token", `{}`); status/100 != 4 {
		t.Fatalf("webhook call with an unknown token = %d", status)
	}

	var groups struct {
		Data struct {
			Groups []struct{ Rules []json.RawMessage }
		}
	}
	if err := prom.get("/api/v1/rules", &groups); err != nil || len(groups.Data.Groups) != 1 || len(groups.Data.Groups[0].Rules) != 6 {
		t.Fatalf("Prometheus did not load the 6 rules: %v %+v", err, groups)
	}
	waitFor(t, "the failure-rate alert fires", 90*time.Second, func() (bool, string) {
		var out struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string
					State  string
				}
			}
		}
		if err := prom.get("/api/v1/alerts", &out); err != nil {
			return false, err.Error()
		}
		for _, a := range out.Data.Alerts {
			if a.Labels["alertname"] == "ConcertMasterFailureRateHigh" && a.State == "firing" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", out.Data.Alerts)
	})

	queries := panelQueries(t)
	waitFor(t, "every dashboard panel query returns a series", 90*time.Second, func() (bool, string) {
		var empty []string
		for name, expr := range queries {
			n, err := prom.query(t, expr)
			if err != nil {
				t.Fatalf("Prometheus refuses the query of %s (%s): %v", name, expr, err)
			}
			if n == 0 {
				empty = append(empty, fmt.Sprintf("%s (%s)", name, expr))
			}
		}
		return len(empty) == 0, strings.Join(empty, "\n")
	})
	t.Logf("%d panel queries, each with series", len(queries))

}

// postJSON posts body and returns the status and answer.
func postJSON(t *testing.T, u, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
