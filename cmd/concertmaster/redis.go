package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/platform/failover"
	"github.com/concertmaster/concertmaster/platform/service"
)

// redisConn is the process's one Redis client (REDIS_URL) and the watcher that says whether Redis answers, shared
// by the web parts (sessions, rate limits) and the workers (the HTTP response cache, integrations' rate limits).
type redisConn struct {
	client *redis.Client
	health *failover.Redis
}

// redisStartTimeout bounds the first ping.
const redisStartTimeout = 5 * time.Second

// connectRedis returns the connection REDIS_URL names, or nil when it names none. A Redis that does not answer at
// start is not fatal: Redis is optional (DESIGN.md), so the process starts on the fallbacks, says so in its log, and
// uses Redis once it answers. The watcher is a service for the caller to start.
func connectRedis(ctx context.Context, cfg *config, arch *service.Archetype) (*redisConn, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: not a valid Redis URL")
	}
	c := &redisConn{client: redis.NewClient(opts)}
	c.health = failover.NewRedis(c.client, arch, failover.DefaultProbeInterval)
	pingCtx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	if err := c.client.Ping(pingCtx).Err(); err != nil {
		c.health.Failed(fmt.Errorf("REDIS_URL: cannot reach Redis: %w", err))
	}
	return c, nil
}
