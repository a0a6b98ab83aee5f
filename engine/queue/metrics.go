package queue

import (
	"context"
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
}

// NewMetrics registers the execution metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
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
	}
	reg.MustRegister(m.startedTotal, m.finishedTotal, m.pass, m.latency, m.node)
	return m
}

func (m *Metrics) started() {
	if m != nil {
		m.startedTotal.Inc()
	}
}

func (m *Metrics) finished(status engine.ExecutionStatus, pass time.Duration, createdAt time.Time) {
	if m == nil {
		return
	}
	m.finishedTotal.WithLabelValues(string(status)).Inc()
	m.pass.WithLabelValues(string(status)).Observe(pass.Seconds())
	if status != engine.ExecutionWaiting {
		m.latency.Observe(time.Since(createdAt).Seconds())
	}
}

// ObserveNode implements engine.Observer, timing every finished node run.
func (m *Metrics) ObserveNode(_ context.Context, ev engine.NodeEvent) {
	if m == nil || ev.Kind != engine.NodeEventFinished || ev.Run.StartedAt.IsZero() {
		return
	}
	m.node.WithLabelValues(ev.Run.Type, string(ev.Run.Status)).Observe(ev.Run.FinishedAt.Sub(ev.Run.StartedAt).Seconds())
}
