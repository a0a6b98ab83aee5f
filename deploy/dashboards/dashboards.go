// Package dashboards defines ConcertMaster's Grafana dashboards in Go with the Grafana Foundation SDK. The JSON that
// Grafana provisions (deploy/compose/grafana/dashboards) is generated from it by `go run ./deploy/dashboards/gen`
// (make generate) and checked for drift by this package's test. Every query uses only the metrics the processes
// export; TestEveryPanelQueryReturnsSeries (cmd/concertmaster) runs each one against a real Prometheus.
package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dir is where the generated JSON lives, from the repository's root.
const Dir = "deploy/compose/grafana/dashboards"

// datasource is the Prometheus data source the compose set-up provisions (uid "prometheus").
func datasource() common.DataSourceRef {
	t, uid := "prometheus", "prometheus"
	return common.DataSourceRef{Type: &t, Uid: &uid}
}

// query is one PromQL query with its legend.
type query struct{ expr, legend string }

func q(expr, legend string) query { return query{expr, legend} }

// graph is a time series panel.
func graph(title, unit string, width uint32, qs ...query) *timeseries.PanelBuilder {
	b := timeseries.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(8).Span(width).Min(0)
	for i, x := range qs {
		b = b.WithTarget(prometheus.NewDataqueryBuilder().Expr(x.expr).LegendFormat(x.legend).RefId(string(rune('A' + i))))
	}
	return b
}

// single is a stat panel.
func single(title, unit string, width uint32, qs ...query) *stat.PanelBuilder {
	b := stat.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(4).Span(width)
	for i, x := range qs {
		b = b.WithTarget(prometheus.NewDataqueryBuilder().Expr(x.expr).LegendFormat(x.legend).RefId(string(rune('A' + i))))
	}
	return b
}

func base(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).Uid(uid).Description(description).Tags([]string{"concertmaster"}).
		Refresh("30s").Time("now-1h", "now").Timezone(common.TimeZoneBrowser).Readonly()
}

// rate is the rate window of every panel: Grafana's own, at least four scrapes.
const rate = "[$__rate_interval]"

// Overview is the instance at a glance: executions, latency, the queue, webhooks and the workers.
func Overview() *dashboard.DashboardBuilder {
	finished := "rate(concertmaster_executions_finished_total" + rate + ")"
	latency := "sum by (le) (rate(concertmaster_execution_latency_seconds_bucket" + rate + "))"
	hooks := `{route=~"(GET|POST) /hooks/\\{token\\}"}`
	return base("concertmaster-overview", "ConcertMaster · Overview",
		"Executions, latency, the queue, webhooks and worker capacity across every process.").
		WithRow(dashboard.NewRowBuilder("Executions")).
		WithPanel(graph("Executions finished per second, by status", "ops", 12,
			q("sum by (status) ("+finished+")", "{{status}}"))).
		WithPanel(graph("Success rate", "percentunit", 6,
			q(`sum(rate(concertmaster_executions_finished_total{status="succeeded"}`+rate+`)) / sum(rate(concertmaster_executions_finished_total{status=~"succeeded|failed"}`+rate+`))`, "succeeded / (succeeded + failed)")).Max(1)).
		WithPanel(graph("Trigger → finished latency", "s", 6,
			q("histogram_quantile(0.50, "+latency+")", "p50"),
			q("histogram_quantile(0.95, "+latency+")", "p95"),
			q("histogram_quantile(0.99, "+latency+")", "p99"))).
		WithPanel(graph("Executions per second, by organization (top 10)", "ops", 12,
			q("topk(10, sum by (organization) (rate(concertmaster_workflow_executions_finished_total"+rate+")))", "{{organization}}"))).
		WithPanel(graph("Node run time p95, by node type", "s", 12,
			q("histogram_quantile(0.95, sum by (le, type) (rate(concertmaster_node_duration_seconds_bucket"+rate+")))", "{{type}}"))).
		WithRow(dashboard.NewRowBuilder("Queue and workers")).
		WithPanel(graph("Queue depth", "short", 8,
			q("max(concertmaster_queue_available_jobs)", "ready"),
			q("max(concertmaster_queue_scheduled_jobs)", "scheduled"))).
		WithPanel(graph("Oldest ready job's wait", "s", 8,
			q("max(concertmaster_queue_oldest_job_age_seconds)", "oldest"))).
		WithPanel(graph("Workers busy", "percentunit", 8,
			q("sum(concertmaster_worker_busy_slots) / sum(concertmaster_worker_slots)", "busy / slots")).Max(1)).
		WithPanel(single("Worker slots", "short", 8, q("sum(concertmaster_worker_slots)", "slots"))).
		WithPanel(single("Worker processes", "short", 8, q("count(concertmaster_worker_slots)", "processes"))).
		WithPanel(single("Executions running", "short", 8, q("sum(concertmaster_worker_busy_slots)", "running"))).
		WithRow(dashboard.NewRowBuilder("Webhooks")).
		WithPanel(graph("Webhook calls per second, by status class", "reqps", 12,
			q(`sum by (class) (label_replace(rate(concertmaster_http_requests_total`+hooks+rate+`), "class", "${1}xx", "status", "(.).."))`, "{{class}}"))).
		WithPanel(graph("Webhook latency", "s", 12,
			q("histogram_quantile(0.50, sum by (le) (rate(concertmaster_http_request_duration_seconds_bucket"+hooks+rate+")))", "p50"),
			q("histogram_quantile(0.95, sum by (le) (rate(concertmaster_http_request_duration_seconds_bucket"+hooks+rate+")))", "p95")))
}

// Workflow drills into one workflow's executions. Its series exist per workflow only where METRICS_WORKFLOW_LABELS
// opts in (README, "Configuration"); otherwise the one value is "all".
func Workflow() *dashboard.DashboardBuilder {
	sel := `{workflow=~"$workflow"}`
	latency := "sum by (le) (rate(concertmaster_workflow_execution_latency_seconds_bucket" + sel + rate + "))"
	return base("concertmaster-workflow", "ConcertMaster · Workflow",
		"One workflow's executions (per-workflow labels need METRICS_WORKFLOW_LABELS > 0).").
		WithVariable(dashboard.NewQueryVariableBuilder("workflow").Label("Workflow").Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(concertmaster_workflow_executions_finished_total, workflow)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Multi(true).IncludeAll(true).AllValue(".+")).
		WithPanel(graph("Executions finished per second, by status", "ops", 12,
			q("sum by (status) (rate(concertmaster_workflow_executions_finished_total"+sel+rate+"))", "{{status}}"))).
		WithPanel(graph("Failure rate", "percentunit", 12,
			q(`sum(rate(concertmaster_workflow_executions_finished_total{workflow=~"$workflow", status="failed"}`+rate+`)) / sum(rate(concertmaster_workflow_executions_finished_total`+sel+rate+`))`, "failed / finished")).Max(1)).
		WithPanel(graph("Trigger → finished latency", "s", 12,
			q("histogram_quantile(0.50, "+latency+")", "p50"),
			q("histogram_quantile(0.95, "+latency+")", "p95"),
			q("histogram_quantile(0.99, "+latency+")", "p99"))).
		WithPanel(graph("Executions per second, by workflow", "ops", 12,
			q("sum by (workflow) (rate(concertmaster_workflow_executions_finished_total"+sel+rate+"))", "{{workflow}}")))
}

// Runtime is the database pool and the processes: connections, waits, memory, GC and CPU.
func Runtime() *dashboard.DashboardBuilder {
	return base("concertmaster-runtime", "ConcertMaster · Database and processes",
		"The PostgreSQL connection pool and each process's memory, garbage collection and CPU.").
		WithRow(dashboard.NewRowBuilder("Database pool")).
		WithPanel(graph("Pool use, by process", "percentunit", 12,
			q("concertmaster_db_pool_acquired_connections / concertmaster_db_pool_max_connections", "{{instance}}")).Max(1)).
		WithPanel(graph("Connections, all processes", "short", 12,
			q("sum(concertmaster_db_pool_acquired_connections)", "in use"),
			q("sum(concertmaster_db_pool_idle_connections)", "idle"),
			q("sum(concertmaster_db_pool_max_connections)", "limit"))).
		WithPanel(graph("Time waiting for a connection", "s", 12,
			q("sum by (instance) (rate(concertmaster_db_pool_acquire_wait_seconds_total"+rate+"))", "{{instance}}"))).
		WithPanel(graph("Acquires that waited for an empty pool", "ops", 12,
			q("sum by (instance) (rate(concertmaster_db_pool_empty_acquires_total"+rate+"))", "{{instance}}"))).
		WithRow(dashboard.NewRowBuilder("Processes")).
		WithPanel(graph("Resident memory", "bytes", 8, q("process_resident_memory_bytes{job=~\"concertmaster.*\"}", "{{instance}}"))).
		WithPanel(graph("Go heap in use", "bytes", 8, q("go_memstats_heap_inuse_bytes{job=~\"concertmaster.*\"}", "{{instance}}"))).
		WithPanel(graph("CPU", "percentunit", 8, q("rate(process_cpu_seconds_total{job=~\"concertmaster.*\"}"+rate+")", "{{instance}}"))).
		WithPanel(graph("GC pauses per second", "ops", 8, q("rate(go_gc_duration_seconds_count{job=~\"concertmaster.*\"}"+rate+")", "{{instance}}"))).
		WithPanel(graph("Longest GC pause", "s", 8, q("go_gc_duration_seconds{job=~\"concertmaster.*\", quantile=\"1\"}", "{{instance}}"))).
		WithPanel(graph("Goroutines", "short", 8, q("go_goroutines{job=~\"concertmaster.*\"}", "{{instance}}"))).
		WithPanel(graph("HTTP requests in flight", "short", 12, q("concertmaster_http_requests_in_flight", "{{instance}}"))).
		WithPanel(graph("Scrape health", "short", 12, q("up{job=~\"concertmaster.*\"}", "{{job}} {{instance}}")))
}

// All are the dashboards by file name.
func All() map[string]*dashboard.DashboardBuilder {
	return map[string]*dashboard.DashboardBuilder{"overview.json": Overview(), "workflow.json": Workflow(),
		"runtime.json": Runtime()}
}

// Render builds a dashboard into the JSON committed under Dir.
func Render(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
