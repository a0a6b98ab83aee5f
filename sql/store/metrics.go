package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/concertmaster/concertmaster/engine/queue"
)

// PoolCollector exposes a pgx pool's statistics to Prometheus, read at scrape time.
type PoolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, total, max *prometheus.Desc
	acquireCount, acquireWait  *prometheus.Desc
	emptyAcquire               *prometheus.Desc
}

// NewPoolCollector returns a collector of pool's statistics.
func NewPoolCollector(pool *pgxpool.Pool) *PoolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("concertmaster_db_pool_"+name, help, nil, nil)
	}
	return &PoolCollector{
		pool:         pool,
		acquired:     desc("acquired_connections", "Connections currently in use."),
		idle:         desc("idle_connections", "Connections currently idle."),
		total:        desc("total_connections", "Connections currently open."),
		max:          desc("max_connections", "The pool's size limit."),
		acquireCount: desc("acquires_total", "Connections acquired from the pool."),
		acquireWait:  desc("acquire_wait_seconds_total", "Time spent waiting for a connection."),
		emptyAcquire: desc("empty_acquires_total", "Acquires that had to wait because the pool was empty."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.acquireCount, c.acquireWait, c.emptyAcquire} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquireCount, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.acquireWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(c.emptyAcquire, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
}

// QueueCollector reports the executions queue's depth and the age of its oldest available job, read from River's
// table at scrape time (one indexed query).
type QueueCollector struct {
	pool         *pgxpool.Pool
	depth, age   *prometheus.Desc
	waitingDepth *prometheus.Desc
}

// NewQueueCollector returns a collector of the executions queue.
func NewQueueCollector(pool *pgxpool.Pool) *QueueCollector {
	return &QueueCollector{
		pool: pool,
		depth: prometheus.NewDesc("concertmaster_queue_available_jobs",
			"Execution jobs ready to run and not yet taken by a worker.", nil, nil),
		age: prometheus.NewDesc("concertmaster_queue_oldest_job_age_seconds",
			"How long the oldest ready execution job has waited for a worker.", nil, nil),
		waitingDepth: prometheus.NewDesc("concertmaster_queue_scheduled_jobs",
			"Execution jobs scheduled for later (durable delays, retries).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.waitingDepth
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var available, scheduled int64
	var age float64
	err := c.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state = 'available'),
		       count(*) FILTER (WHERE state IN ('scheduled', 'retryable')),
		       coalesce(extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE state = 'available')), 0)
		FROM river_job WHERE queue = $1 AND state IN ('available', 'scheduled', 'retryable')`,
		queue.QueueExecutions).Scan(&available, &scheduled, &age)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(available))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.waitingDepth, prometheus.GaugeValue, float64(scheduled))
}
