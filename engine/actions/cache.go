package actions

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/concertmaster/concertmaster/engine"
)

// RedisHealth says whether Redis answers, and hears of its failures: failover.Redis.
type RedisHealth interface {
	Up() bool
	Failed(err error)
}

// RedisResponseCache is the engine.ResponseCache used when REDIS_URL is set, shared by every worker. Redis errors
// read as misses: a cache that is down costs requests, not failures. With a health watcher, the cache is not
// asked at all while Redis is down: no cache, rather than every call waiting for Redis to fail.
type RedisResponseCache struct {
	client redis.UniversalClient
	prefix string
	health RedisHealth
}

const redisCachePrefix = "concertmaster:http-cache:"

// NewRedisResponseCache returns a cache keeping entries under "concertmaster:http-cache:".
func NewRedisResponseCache(client redis.UniversalClient) *RedisResponseCache {
	return &RedisResponseCache{client: client, prefix: redisCachePrefix}
}

// Get implements engine.ResponseCache.
func (c *RedisResponseCache) Get(ctx context.Context, key string) ([]byte, bool) {
	if c.health != nil && !c.health.Up() {
		return nil, false
	}
	b, err := c.client.Get(ctx, c.prefix+key).Bytes()
	if err != nil {
		c.failed(err)
		return nil, false
	}
	return b, true
}

// Set implements engine.ResponseCache.
func (c *RedisResponseCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	if c.health != nil && !c.health.Up() {
		return
	}
	c.failed(c.client.Set(ctx, c.prefix+key, value, ttl).Err())
}

// failed tells the health watcher of a failure (a miss is none: the watcher knows).
func (c *RedisResponseCache) failed(err error) {
	if c.health != nil && err != nil {
		c.health.Failed(err)
	}
}

// MemoryResponseCache is the in-process engine.ResponseCache: least recently used entries go first once it holds
// maxBytes, so a burst of large responses cannot grow the worker's memory. Each entry keeps its own expiry (a
// node's cache_ttl), read against the cache's clock; an expired entry is dropped when it is next read, or evicted
// in its turn. golang-lru's expirable cache does not fit: it has one TTL for every entry, reads the real clock, and
// runs a goroutine per cache that never stops.
type MemoryResponseCache struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, cacheEntry]
	bytes    int
	maxBytes int
	clock    clockwork.Clock
}

type cacheEntry struct {
	value   []byte
	expires time.Time
}

// DefaultMemoryCacheBytes bounds the in-process response cache.
const DefaultMemoryCacheBytes = 32 << 20

// NewMemoryResponseCache returns a cache holding at most maxBytes of responses (DefaultMemoryCacheBytes when
// maxBytes <= 0).
func NewMemoryResponseCache(maxBytes int) *MemoryResponseCache {
	return NewMemoryResponseCacheClock(maxBytes, nil)
}

// NewMemoryResponseCacheClock is NewMemoryResponseCache reading expiries against clock (the real one when nil), so
// tests move past a TTL without sleeping.
func NewMemoryResponseCacheClock(maxBytes int, clock clockwork.Clock) *MemoryResponseCache {
	if maxBytes <= 0 {
		maxBytes = DefaultMemoryCacheBytes
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	c := &MemoryResponseCache{maxBytes: maxBytes, clock: clock}
	// The bound is in bytes, kept by Set; the LRU's own bound (a count) is never the one reached.
	c.lru, _ = simplelru.NewLRU(math.MaxInt, func(key string, e cacheEntry) { c.bytes -= entrySize(key, e.value) })
	return c
}

func entrySize(key string, value []byte) int { return len(key) + len(value) }

// Get implements engine.ResponseCache.
func (c *MemoryResponseCache) Get(_ context.Context, key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	if !c.clock.Now().Before(e.expires) {
		c.lru.Remove(key)
		return nil, false
	}
	return e.value, true
}

// Set implements engine.ResponseCache. A value larger than a quarter of the cache is not kept: it would evict too
// much.
func (c *MemoryResponseCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) {
	size := entrySize(key, value)
	if ttl <= 0 || size > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key) // a replaced entry gives its bytes back through the eviction callback
	for c.bytes+size > c.maxBytes {
		c.lru.RemoveOldest()
	}
	c.lru.Add(key, cacheEntry{value: value, expires: c.clock.Now().Add(ttl)})
	c.bytes += size
}

// Len is the number of entries held, for tests of the bound.
func (c *MemoryResponseCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// orgCache is a response cache seen by one organization: its keys are prefixed with the organization's id, so
// tenants never share entries whatever key a node chooses.
type orgCache struct {
	cache engine.ResponseCache
	org   string
}

func (c orgCache) Get(ctx context.Context, key string) ([]byte, bool) {
	return c.cache.Get(ctx, c.org+"/"+key)
}

func (c orgCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	c.cache.Set(ctx, c.org+"/"+key, value, ttl)
}
