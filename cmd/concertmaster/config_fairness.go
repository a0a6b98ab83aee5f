package main

import (
	"strconv"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/engine/queue"
)

// fairnessConfig holds the limits that keep one organization (or one bad execution) from starving the others
// (README, "Fairness between organizations").
type fairnessConfig struct {
	// MaxWorkerStops: an execution that stopped its worker this many times is failed at its next pickup.
	MaxWorkerStops int
	// OrgMaxRunning caps one organization's executions holding a worker at once, across every process.
	OrgMaxRunning int
	// OrgQueueShare is the executions a second an organization enqueues at its workflows' priority; the rest wait
	// in the overflow lane.
	OrgQueueShare int
	// OrgTriggerRateLimit is the executions a second an organization may start through triggers (429 past it).
	OrgTriggerRateLimit int
}

// loadFairnessConfig reads the fairness limits. The defaults are generous for a single-team install: they only
// bite when one organization floods an instance that others share.
func loadFairnessConfig(cfg *config, get func(name, def string) string, bad func(name, format string, args ...any)) {
	whole := func(name string, def, min, max int, want string) int {
		n, err := strconv.Atoi(get(name, strconv.Itoa(def)))
		if err != nil || n < min || n > max {
			bad(name, "want %s, a whole number from %d to %d", want, min, max)
			return def
		}
		return n
	}
	f := &cfg.Fairness
	f.MaxWorkerStops = whole("EXECUTION_MAX_WORKER_STOPS", queue.DefaultMaxWorkerStops, 1, 100, "a number of stops")
	f.OrgMaxRunning = whole("ORG_MAX_RUNNING_EXECUTIONS", queue.DefaultOrgMaxRunning, 1, 1_000_000,
		"a number of executions")
	f.OrgQueueShare = whole("ORG_QUEUE_SHARE", queue.DefaultOrgQueueShare, 1, 1_000_000, "executions per second")
	f.OrgTriggerRateLimit = whole("ORG_TRIGGER_RATE_LIMIT", app.DefaultOrgTriggerRateLimit, 1, 10_000_000,
		"executions per second")
}
