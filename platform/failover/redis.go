// Package failover keeps the parts that use Redis working while Redis is down. Redis only ever holds what can be
// lost (DESIGN.md), so each of its uses has a fallback: rate limits count in process (ratelimit.Fallback), sessions
// go to PostgreSQL (Sessions), and the HTTP node's response cache is skipped. A Redis watcher tells them which to
// use: it pings Redis periodically and hears of every failed call, so that while Redis is down no request waits for
// it to fail, and logs each switch once, down and up.
package failover

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/platform/service"
)

// DefaultProbeInterval is how often the watcher pings Redis: how long a Redis that came back waits to be used
// again, at most.
const DefaultProbeInterval = time.Second

// probeTimeout bounds one ping: a Redis that takes longer counts as down.
const probeTimeout = time.Second

// Redis watches whether a Redis server answers. Until the first answer it counts as up, so that a process started
// with Redis reachable uses it from its first request. It is a service.Service: Start begins the pings.
type Redis struct {
	*service.Loop
	client redis.UniversalClient
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	down      bool
	downSince time.Time
	lastErr   error
}

// NewRedis returns a watcher of client that pings it every interval of arch's clock (DefaultProbeInterval when
// interval <= 0) once started.
func NewRedis(client redis.UniversalClient, arch *service.Archetype, interval time.Duration) *Redis {
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	r := &Redis{client: client, logger: arch.Logger, now: arch.Clock.Now}
	r.Loop = service.NewPeriodic(arch.Clock, interval, r.probe)
	return r
}

// probe pings Redis and records what it answered.
func (r *Redis) probe(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := r.client.Ping(pingCtx).Err()
	if ctx.Err() != nil {
		return // stopping: the ping's failure says nothing about Redis
	}
	if err != nil {
		r.Failed(err)
		return
	}
	r.mu.Lock()
	wasDown, since := r.down, r.downSince
	r.down, r.lastErr = false, nil
	r.mu.Unlock()
	if wasDown {
		r.logger.Info("Redis answers again: rate limits, sessions and the HTTP response cache use it again",
			"down_for", r.now().Sub(since).Round(time.Millisecond).String())
	}
}

// Up reports whether Redis is taken to answer: the parts that use it call it only then, and their fallbacks
// otherwise.
func (r *Redis) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.down
}

// Failed hears of a call to Redis that failed: unless the failure is not Redis's (a miss, a canceled request),
// Redis counts as down until a ping answers.
func (r *Redis) Failed(err error) {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return
	}
	r.mu.Lock()
	wasDown := r.down
	if !wasDown {
		r.down, r.downSince = true, r.now()
	}
	r.lastErr = err
	r.mu.Unlock()
	if !wasDown {
		r.logger.Warn("Redis does not answer: rate limits count in this process, new sessions are kept in PostgreSQL and the HTTP response cache is off until it does",
			"error", err)
	}
}

// State describes Redis for a readiness probe's detail: "up", or "down since <time>: <error>".
func (r *Redis) State() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down {
		return "up"
	}
	return "down since " + r.downSince.UTC().Format(time.RFC3339) + ": " + r.lastErr.Error()
}
