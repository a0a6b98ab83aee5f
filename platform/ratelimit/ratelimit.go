// Package ratelimit is the one rate limiter: it counts attempts per key in fixed time windows, for sign-ins per
// address and per account, API calls per token, webhook calls, the executions an organization's triggers start, and
// integrations' requests. Implementations share one interface: Redis when REDIS_URL is set, so every instance
// shares the counts; an in-process one otherwise; and, for integrations without Redis, sql/store's PostgreSQL one,
// so that every worker still shares them.
//
// Counting only failures (sign-ins) is Allow before the attempt and Refund once it succeeded: the attempt holds its
// place in the count while it runs, so concurrent guesses cannot slip past the limit, and a success leaves no trace.
package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"
)

// Limiter allows at most limit events per key in each window.
type Limiter interface {
	// Allow counts one event for key. When the key is over its limit it returns ok=false and how long until the
	// window ends. An error means the count could not be kept; callers decide whether to fail open or closed.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Refund takes back one event counted by Allow in key's current window, for an attempt that turned out not to
	// count (a successful sign-in). A key whose window ended, or whose count is zero, is left alone.
	Refund(ctx context.Context, key string) error
}

// Memory is the in-process Limiter: fixed windows in a least-recently-used cache (golang-lru), bounded in size.
// When it is full, a new key first sweeps out the windows that have ended (at most once a second), then evicts the
// least recently used one, which can only make the limiter more lenient, never lock anyone out.
type Memory struct {
	mu      sync.Mutex
	windows *simplelru.LRU[string, *window]
	maxKeys int
	now     func() time.Time
	sweepAt time.Time
}

type window struct {
	count int
	ends  time.Time
}

// DefaultMaxKeys bounds Memory's size: at ~100 bytes a key, about 10 MB.
const DefaultMaxKeys = 100_000

// NewMemory returns an in-process limiter holding at most maxKeys windows (DefaultMaxKeys when maxKeys <= 0).
func NewMemory(maxKeys int) *Memory {
	return NewMemoryClock(maxKeys, time.Now)
}

// NewMemoryClock is NewMemory reading the time from now, so tests move windows along without sleeping.
func NewMemoryClock(maxKeys int, now func() time.Time) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	windows, _ := simplelru.NewLRU[string, *window](maxKeys, nil) // fails only for a size below 1
	return &Memory{windows: windows, maxKeys: maxKeys, now: now}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, limit int, win time.Duration) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	w, ok := m.windows.Get(key)
	if !ok || !now.Before(w.ends) {
		if !ok {
			m.sweep(now)
		}
		w = &window{ends: now.Add(win)}
		m.windows.Add(key, w)
	}
	w.count++
	if w.count > limit {
		return false, w.ends.Sub(now), nil
	}
	return true, 0, nil
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.windows.Peek(key); ok && m.now().Before(w.ends) && w.count > 0 {
		w.count--
	}
	return nil
}

// sweep drops the windows that have ended when the cache is full, at most once a second, so that a new key
// evicts a live window only when no ended one is left.
func (m *Memory) sweep(now time.Time) {
	if m.windows.Len() < m.maxKeys || !now.After(m.sweepAt) {
		return
	}
	for _, k := range m.windows.Keys() {
		if w, _ := m.windows.Peek(k); !now.Before(w.ends) {
			m.windows.Remove(k)
		}
	}
	m.sweepAt = now.Add(time.Second)
}

// Len is the number of windows held, for tests of the bound.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.windows.Len()
}

// Redis is the shared Limiter: one counter per key and window in Redis, incremented and given its expiry
// atomically by a Lua script, so instances behind a load balancer share the counts.
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis returns a limiter over client; keys are stored under "ratelimit:".
func NewRedis(client *redis.Client) *Redis {
	return &Redis{client: client, prefix: "concertmaster:ratelimit:"}
}

// allowScript increments the key, sets the window's expiry when the key is new (or lost its expiry), and returns
// the count and the milliseconds left in the window.
var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, limit int, win time.Duration) (bool, time.Duration, error) {
	res, err := allowScript.Run(ctx, r.client, []string{r.prefix + key}, win.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if res[0] > int64(limit) {
		return false, time.Duration(res[1]) * time.Millisecond, nil
	}
	return true, 0, nil
}

// refundScript decrements a live key, never below zero, and leaves its expiry as it is: a refund must not create a
// key nor stretch a window.
var refundScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
`)

// Refund implements Limiter.
func (r *Redis) Refund(ctx context.Context, key string) error {
	return refundScript.Run(ctx, r.client, []string{r.prefix + key}).Err()
}

// Health says whether a Fallback's Primary answers (failover.Redis watches Redis), and hears of its failures.
type Health interface {
	Up() bool
	Failed(err error)
}

// Fallback uses Primary and, when it fails (Redis unreachable), Secondary: limits keep holding per instance
// rather than failing open across the board, and no request fails because Redis is down. With Health set,
// Primary is not called at all while Health says it is down, so that requests do not wait for it to fail, and
// each failure of Primary is reported to Health, which logs the switch (once each way) and finds out when Primary
// is back.
type Fallback struct {
	Primary, Secondary Limiter
	Health             Health
}

// Allow implements Limiter.
func (f Fallback) Allow(ctx context.Context, key string, limit int, win time.Duration) (bool, time.Duration, error) {
	var err error
	if f.primaryUp() {
		var ok bool
		var wait time.Duration
		if ok, wait, err = f.Primary.Allow(ctx, key, limit, win); err == nil {
			return ok, wait, nil
		}
		f.failed(err)
	}
	ok, wait, err2 := f.Secondary.Allow(ctx, key, limit, win)
	if err2 != nil {
		return false, 0, errors.Join(err, err2)
	}
	return ok, wait, nil
}

// Refund implements Limiter: like Allow, it falls back to Secondary when Primary fails.
func (f Fallback) Refund(ctx context.Context, key string) error {
	var err error
	if f.primaryUp() {
		if err = f.Primary.Refund(ctx, key); err == nil {
			return nil
		}
		f.failed(err)
	}
	if err2 := f.Secondary.Refund(ctx, key); err2 != nil {
		return errors.Join(err, err2)
	}
	return nil
}

func (f Fallback) primaryUp() bool { return f.Health == nil || f.Health.Up() }

func (f Fallback) failed(err error) {
	if f.Health != nil {
		f.Health.Failed(err)
	}
}
