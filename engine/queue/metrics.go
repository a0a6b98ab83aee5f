package queue

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/engine"
)

// Metrics counts executions and times them and their nodes. A nil *Metrics records nothing, for tests.
type Metrics struct {
	startedTotal  prometheus.Counter
	finishedTotal *prometheus.CounterVec
	pass          *prometheus.HistogramVec
	latency       prometheus.Histogram
	node          *prometheus.HistogramVec
	busy          prometheus.Gauge
	express       *prometheus.CounterVec
	// byWorkflow and byWorkflowLatency carry the organization and (opt-in) workflow labels, each capped by labels.
	byWorkflow        *prometheus.CounterVec
	byWorkflowLatency *prometheus.HistogramVec
	orgs, workflows   *LabelCap
}

// MetricsOptions bound the labels of the per-organization and per-workflow series.
type MetricsOptions struct {
	// Slots is the process's worker concurrency, exported as concertmaster_worker_slots (0 exports nothing).
	Slots int
	// OrganizationLabels is how many organizations get a label value of their own; the others share "other".
	OrganizationLabels int
	// WorkflowLabels is how many workflows get a label value of their own; 0 (the default) gives every execution
	// the workflow label "all", so that there is no per-workflow series at all unless an operator opts in.
	WorkflowLabels int
}

// NewMetrics registers the execution metrics in reg.
func NewMetrics(reg prometheus.Registerer, opts MetricsOptions) *Metrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	m := &Metrics{
		startedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "concertmaster_executions_started_total",
			Help: "Worker passes started over executions (a resumed execution counts again).",
		}),
		finishedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "concertmaster_executions_finished_total",
			Help: "Worker passes finished, by the status they left the execution in.",
		}, []string{"status"}),
		pass: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "concertmaster_execution_duration_seconds", Help: "Time of one worker pass over an execution.",
			Buckets: buckets,
		}, []string{"status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "concertmaster_execution_latency_seconds",
			Help:    "Time from an execution's trigger to its end (finished executions only).",
			Buckets: buckets,
		}),
		node: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "concertmaster_node_duration_seconds", Help: "Time of node runs, by node type and status.",
			Buckets: buckets,
		}, []string{"type", "status"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "concertmaster_worker_busy_slots", Help: "Executions this process is running now.",
		}),
		express: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "concertmaster_express_executions_total",
			Help: "Executions offered to the express path, by outcome: ran (written finished at acceptance) or why they were queued.",
		}, []string{"outcome"}),
		byWorkflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "concertmaster_workflow_executions_finished_total",
			Help: "Worker passes finished, by organization and workflow (both capped; see METRICS_WORKFLOW_LABELS) and status.",
		}, []string{"organization", "workflow", "status"}),
		byWorkflowLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "concertmaster_workflow_execution_latency_seconds",
			Help:    "Time from an execution's trigger to its end, by organization and workflow (both capped).",
			Buckets: buckets,
		}, []string{"organization", "workflow"}),
		orgs:      NewLabelCap(opts.OrganizationLabels, "other"),
		workflows: NewLabelCap(opts.WorkflowLabels, "all"),
	}
	reg.MustRegister(m.startedTotal, m.finishedTotal, m.pass, m.latency, m.node, m.busy, m.express, m.byWorkflow, m.byWorkflowLatency)
	// Every status's series exists from the start at 0: a rate() over a series born at its first value misses that
	// first increase, so a burst of failures before the first scrape would never show in a failure rate.
	for _, s := range []engine.ExecutionStatus{engine.ExecutionSucceeded, engine.ExecutionFailed,
		engine.ExecutionWaiting, engine.ExecutionCanceled} {
		m.finishedTotal.WithLabelValues(string(s))
	}
	for _, o := range expressOutcomes {
		m.express.WithLabelValues(string(o))
	}
	if opts.Slots > 0 {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "concertmaster_worker_slots", Help: "Executions this process can run at once (WORKER_CONCURRENCY).",
		}, func() float64 { return float64(opts.Slots) }))
	}
	return m
}

// LabelCap hands out label values for at most a fixed number of distinct keys: the first ones seen keep their own
// value, every later one gets the overflow value. It keeps a label's cardinality bounded whatever the traffic.
type LabelCap struct {
	limit    int
	overflow string
	mu       sync.Mutex
	seen     map[string]struct{}
}

// NewLabelCap returns a cap of limit distinct values (0: every key gets overflow).
func NewLabelCap(limit int, overflow string) *LabelCap {
	return &LabelCap{limit: limit, overflow: overflow, seen: map[string]struct{}{}}
}

// Value is key's label value: key itself while the cap allows it, else the overflow value.
func (c *LabelCap) Value(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[key]; ok {
		return key
	}
	if len(c.seen) >= c.limit {
		return c.overflow
	}
	c.seen[key] = struct{}{}
	return key
}

// started counts a pass and marks a slot busy until the returned function is called.
func (m *Metrics) started() (done func()) {
	if m == nil {
		return func() {}
	}
	m.startedTotal.Inc()
	m.busy.Inc()
	return m.busy.Dec
}

// finished records a pass's outcome; the trigger-to-end latency only once the execution has ended.
func (m *Metrics) finished(exec Execution, status engine.ExecutionStatus, pass time.Duration) {
	if m == nil {
		return
	}
	m.pass.WithLabelValues(string(status)).Observe(pass.Seconds())
	m.ended(exec, status)
}

// GaveUp records the end of an execution failed because its job was given up: no pass finished it.
func (m *Metrics) GaveUp(exec Execution) {
	if m != nil {
		m.ended(exec, engine.ExecutionFailed)
	}
}

// ended counts an execution's new status and, unless it is waiting, its trigger-to-end latency.
func (m *Metrics) ended(exec Execution, status engine.ExecutionStatus) {
	m.finishedTotal.WithLabelValues(string(status)).Inc()
	org, wf := m.orgs.Value(exec.OrganizationID.String()), m.workflows.Value(exec.WorkflowID.String())
	m.byWorkflow.WithLabelValues(org, wf, string(status)).Inc()
	if status != engine.ExecutionWaiting {
		latency := time.Since(exec.CreatedAt).Seconds()
		m.latency.Observe(latency)
		m.byWorkflowLatency.WithLabelValues(org, wf).Observe(latency)
	}
}

// expressed counts an execution offered to the express path.
func (m *Metrics) expressed(o expressOutcome) {
	if m != nil {
		m.express.WithLabelValues(string(o)).Inc()
	}
}

// ObserveNode implements engine.Observer, timing every finished node run.
func (m *Metrics) ObserveNode(_ context.Context, ev engine.NodeEvent) {
	if m == nil || ev.Kind != engine.NodeEventFinished || ev.Run.StartedAt.IsZero() {
		return
	}
	m.node.WithLabelValues(ev.Run.Type, string(ev.Run.Status)).Observe(ev.Run.FinishedAt.Sub(ev.Run.StartedAt).Seconds())
}
